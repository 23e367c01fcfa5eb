"""The PDF/A-2b rules mailroom can break, checked on the file it wrote.

This is not a full validator (veraPDF is one); it checks what our own output
could get wrong: identification, output intent, metadata, encryption, fonts of
copied born-digital pages, forbidden filters and actions.
"""
from __future__ import annotations

from pathlib import Path

import pikepdf

FORBIDDEN_FILTERS = {"/LZWDecode"}
ALLOWED_IMAGE_SPACES = {"/DeviceGray", "/DeviceRGB", "/ICCBased", "/Indexed", "/CalRGB", "/CalGray", "/Lab"}


def _filters(obj: pikepdf.Object) -> set[str]:
    value = obj.get("/Filter")
    if value is None:
        return set()
    return {str(v) for v in value} if isinstance(value, pikepdf.Array) else {str(value)}


def _space_name(space) -> str:
    if isinstance(space, pikepdf.Array) and len(space):
        return str(space[0])
    return str(space)


def check_pdfa(path: Path) -> list[str]:
    """Problems found in a finished file, in French (empty list: the checked rules hold)."""
    return _problems(path, identification=True)


def content_problems(path: Path) -> list[str]:
    """The problems of the pages themselves (fonts, filters, annotations…), for a PDF whose metadata and
    PDF/A identification are not written yet (they are, once, after routing)."""
    return _problems(path, identification=False)


def _problems(path: Path, identification: bool) -> list[str]:
    problems: list[str] = []
    try:
        pdf = pikepdf.open(path)
    except pikepdf.PasswordError:
        return ["le fichier est chiffré"]
    with pdf:
        if pdf.is_encrypted:
            problems.append("le fichier est chiffré")
        meta = pdf.open_metadata()
        if identification and (meta.get("pdfaid:part") != "2"
                               or str(meta.get("pdfaid:conformance", "")).upper() != "B"):
            problems.append("identification PDF/A-2b absente des métadonnées XMP")
        intents = pdf.Root.get("/OutputIntents")
        if not intents or not any(str(i.get("/S")) == "/GTS_PDFA1" and "/DestOutputProfile" in i for i in intents):
            problems.append("profil de couleur (OutputIntent) absent")
        if "/ID" not in pdf.trailer:
            problems.append("identifiant de fichier (/ID) absent")
        if "/JavaScript" in pdf.Root.get("/Names", {}) or "/OpenAction" in pdf.Root:
            problems.append("action ou JavaScript à l'ouverture")
        if "/AcroForm" in pdf.Root and pdf.Root.AcroForm.get("/NeedAppearances", False):
            problems.append("formulaire sans apparence figée")
        for number, page in enumerate(pdf.pages, start=1):
            for annotation in page.obj.get("/Annots", []):
                if str(annotation.get("/Subtype")) in ("/Movie", "/Sound", "/FileAttachment"):
                    problems.append(f"annotation multimédia page {number}")
                elif str(annotation.get("/Subtype")) != "/Popup" and not int(annotation.get("/F", 0)) & 4:
                    problems.append(f"annotation non imprimable page {number}")
        for obj in pdf.objects:
            if not isinstance(obj, (pikepdf.Dictionary, pikepdf.Stream)):
                continue
            if isinstance(obj, pikepdf.Stream) and _filters(obj) & FORBIDDEN_FILTERS:
                problems.append("compression LZW interdite")
            kind = str(obj.get("/Type", ""))
            if kind == "/FontDescriptor" and not any(k in obj for k in ("/FontFile", "/FontFile2", "/FontFile3")):
                problems.append(f"police non incorporée : {str(obj.get('/FontName', '?')).lstrip('/')}")
            if isinstance(obj, pikepdf.Stream) and str(obj.get("/Subtype", "")) == "/Image":
                space = _space_name(obj.get("/ColorSpace", "/DeviceGray"))
                if space not in ALLOWED_IMAGE_SPACES and not obj.get("/ImageMask", False):
                    problems.append(f"espace de couleur {space.lstrip('/')} sans profil")
    seen, unique = set(), []
    for problem in problems:
        if problem not in seen:
            seen.add(problem)
            unique.append(problem)
    return unique
