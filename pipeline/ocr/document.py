"""One searchable PDF per document: the page PDFs merged in order, with metadata, optionally PDF/A-2b."""
from __future__ import annotations

import contextlib
import re
from datetime import datetime
from pathlib import Path

import pikepdf
from pikepdf.models.metadata import encode_pdf_date
from PIL import ImageCms

from ..config import Config
from ..messages import reason
from ..records import Document
from .page import PageOcr

PRODUCER = "mailroom"


def _date(received_at: str) -> datetime:
    try:
        moment = datetime.fromisoformat(received_at.replace("Z", "+00:00"))
    except ValueError:
        moment = datetime.now().astimezone()
    return moment if moment.tzinfo else moment.astimezone()


def _field_text(value) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, (list, tuple, set)):
        return [text for v in value for text in _field_text(v)]
    if isinstance(value, dict):  # a reference from the extractor: {"kind": "siret", "value": "…"}
        return [" ".join(str(value[key]) for key in ("kind", "value") if value.get(key))]
    return [str(value)] if str(value).strip() else []


def metadata(doc: Document, config: Config) -> dict[str, str | list[str]]:
    """What a records manager sees in the file's properties: title, subject (category), keywords, dates."""
    received = _date(doc.received_at)
    category = config.categories.get(doc.category or "")
    sender = next(iter(_field_text(doc.fields.get("sender"))), "")
    day = received.strftime("%d/%m/%Y")
    title = f"Courrier de {sender} reçu le {day}" if sender else f"Courrier reçu le {day} ({doc.source})"
    keywords = [category.label] if category else []
    keywords += [f"Lot {doc.batch}"] if doc.batch else []
    keywords += _field_text(doc.fields.get("references")) + ([sender] if sender else [])
    return {"title": title, "subject": category.label if category else "", "keywords": keywords,
            "created": received.isoformat(timespec="seconds")}


def write_metadata(pdf: pikepdf.Pdf, doc: Document, config: Config, pdfa: bool) -> None:
    """Info dictionary and XMP, kept consistent (PDF/A requires it)."""
    info = metadata(doc, config)
    with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=True) as xmp:
        xmp["dc:title"] = info["title"]
        if info["subject"]:
            xmp["dc:description"] = info["subject"]
        if info["keywords"]:
            xmp["pdf:Keywords"] = ", ".join(info["keywords"])
            xmp["dc:subject"] = set(info["keywords"])
        xmp["pdf:Producer"] = PRODUCER
        xmp["xmp:CreatorTool"] = PRODUCER
        xmp["xmp:CreateDate"] = info["created"]
        xmp["xmp:ModifyDate"] = info["created"]
        xmp["xmp:MetadataDate"] = info["created"]
        if pdfa:
            xmp["pdfaid:part"] = "2"
            xmp["pdfaid:conformance"] = "B"
    # Info dictionary (update_docinfo mirrors most keys; make the ones PDF readers show explicit).
    pdf.docinfo[pikepdf.Name.Title] = info["title"]
    if info["subject"]:
        pdf.docinfo[pikepdf.Name.Subject] = info["subject"]
    if info["keywords"]:
        pdf.docinfo[pikepdf.Name.Keywords] = ", ".join(info["keywords"])
    pdf.docinfo[pikepdf.Name.Producer] = PRODUCER
    pdf.docinfo[pikepdf.Name.Creator] = PRODUCER
    stamp = encode_pdf_date(_date(doc.received_at))
    if re.search(r"[+-]\d\d'\d\d$", stamp):
        stamp += "'"  # PDF 1.7 §7.9.4: +HH'mm' (strict PDF/A validators want the closing quote)
    pdf.docinfo[pikepdf.Name.CreationDate] = stamp
    pdf.docinfo[pikepdf.Name.ModDate] = stamp


def _srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def add_output_intent(pdf: pikepdf.Pdf) -> None:
    """PDF/A: device colours are interpreted through an embedded sRGB profile."""
    profile = pikepdf.Stream(pdf, _srgb_profile())
    profile.N = 3
    intent = pikepdf.Dictionary(Type=pikepdf.Name.OutputIntent, S=pikepdf.Name.GTS_PDFA1,
                                OutputConditionIdentifier=pikepdf.String("sRGB"),
                                Info=pikepdf.String("sRGB IEC61966-2.1"), DestOutputProfile=profile)
    pdf.Root.OutputIntents = pikepdf.Array([intent])


def save(pdf: pikepdf.Pdf, output: Path, pdfa: bool) -> None:
    output.parent.mkdir(parents=True, exist_ok=True)
    temporary = output.with_name(output.name + ".part")
    # A deterministic /ID: the same document processed twice gives the same bytes.
    pdf.save(temporary, compress_streams=True, deterministic_id=True, min_version="1.7" if pdfa else "",
             object_stream_mode=pikepdf.ObjectStreamMode.generate)
    temporary.replace(output)


def _reasons(doc: Document, pages: list[PageOcr], floor: float) -> list[dict]:
    reasons = [reason("ocr-page-failed", page=position, error=page.error)
               for position, page in enumerate(pages, start=1) if page.error]
    # A handwritten page explains its low confidence: route.py says « Courrier manuscrit » instead.
    if not doc.handwritten and doc.ocr_confidence is not None and doc.ocr_confidence < floor:
        reasons.append(reason("ocr-low-confidence", confidence=doc.ocr_confidence))
    return reasons


def document_confidence(pages: list[PageOcr]) -> float | None:
    """Mean word confidence over the OCRed pages (each word counts once); None if every page was born-digital."""
    ocred = [p for p in pages if not p.result.born_digital and not p.error]
    if not ocred:
        return None
    words = sum(p.result.words for p in ocred)
    if not words:
        return 0.0  # scanned pages where nothing could be read
    return round(sum((p.result.confidence or 0.0) * p.result.words for p in ocred) / words, 2)


def assemble(doc: Document, pages: list[PageOcr], config: Config, output: Path) -> Document:
    """Merge the page PDFs in order into ``output`` and fill the document's OCR fields and review reasons.
    No metadata is written here: the category, sender and identity are known only after routing, when
    ``finish_pdf`` writes them, once (with the registration stamp), into the file that is published."""
    output = Path(output)
    order = {number: index for index, number in enumerate(doc.source_pages)}
    pages = sorted(pages, key=lambda p: order.get(p.page, len(order) + p.page))
    with contextlib.ExitStack() as stack:
        merged = stack.enter_context(pikepdf.new())
        for page in pages:
            part = stack.enter_context(pikepdf.open(page.pdf))
            merged.pages.extend(part.pages)
        if config.ocr.pdfa:
            add_output_intent(merged)
        save(merged, output, config.ocr.pdfa)
    doc.pdf = str(output)
    doc.text = "\f".join(page.text for page in pages)
    doc.page_results = [page.result for page in pages]
    doc.ocr_confidence = document_confidence(pages)
    found = _reasons(doc, pages, config.ocr.confidence_floor)
    if config.ocr.pdfa:
        from .pdfa import content_problems
        found += [reason("pdfa-problem", problem=problem) for problem in content_problems(output)[:3]]
    doc.review_reasons += [r for r in found if r not in doc.review_reasons]
    return doc
