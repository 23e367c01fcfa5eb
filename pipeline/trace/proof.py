"""`mailroom proof ID --out FILE.zip`: everything needed to show that one letter's copy is reliable,
checkable with standard tools (sha256sum, openssl ts -verify), with a README in French."""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pikepdf

from .. import __version__
from ..config import Config
from ..files import write_atomically
from ..records import PUBLISHED, Document
from ..store import Store
from .chain import canonical
from .stamp import published_file
from ..errors import CannotCheck
from .verify import latest_fingerprint


def registration_of(doc: Document) -> str | None:
    """The registration number (« numéro d'enregistrement ») when the registration step gave one."""
    return getattr(doc, "registration", None) or doc.fields.get("registration_number")


def decided_by(store: Store, doc: Document) -> dict:
    reviewed = store.events(document_id=doc.id, kind="reviewed")
    if reviewed:
        return {"who": reviewed[-1].actor, "how": "superviseur", "at": reviewed[-1].at}
    how = {"cover-sheet": "feuille de routage", "model": "classement automatique"}.get(doc.route_source or "", "")
    return {"who": "mailroom", "how": how or doc.route_source, "at": None}


def image_context(pdf_path: Path) -> list[dict]:
    """Per page: resolution, colour mode and compression of the scanned image, read from the PDF."""
    pages = []
    with pikepdf.open(pdf_path) as pdf:
        for number, page in enumerate(pdf.pages, start=1):
            width_in = float(page.mediabox[2] - page.mediabox[0]) / 72
            entry = {"page": number}
            images = list(page.get_images().values())
            if images:
                image = max(images, key=lambda i: int(i.get("/Width", 0)) * int(i.get("/Height", 0)))
                pim = pikepdf.PdfImage(image)
                filters = image.get("/Filter")
                filters = [str(f) for f in filters] if isinstance(filters, pikepdf.Array) else [str(filters)]
                entry.update(width_px=pim.width, height_px=pim.height, dpi=round(pim.width / width_in) if width_in else None,
                             colour=_colour(pim), bits_per_component=pim.bits_per_component,
                             compression="+".join(f.lstrip("/") for f in filters if f != "None"))
            pages.append(entry)
    return pages


def _colour(pim) -> str:
    if pim.bits_per_component == 1:
        return "noir et blanc (1 bit)"
    space = str(pim.colorspace or "")
    return {"/DeviceGray": "niveaux de gris", "/DeviceRGB": "couleur (RVB)", "/DeviceCMYK": "couleur (CMJN)"}.get(
        space, space.lstrip("/") or "inconnu")


def build_proof(config: Config, store: Store, document_id: str, out: Path) -> list[str]:
    """Write the proof zip; returns the names of its members."""
    doc = store.get_document(document_id)
    if doc is None:
        raise CannotCheck(f"unknown document id: {document_id}")
    if doc.state != PUBLISHED:
        raise CannotCheck(f"{document_id} is {doc.state}: only published documents have a proof file")
    row = store.get_input(doc.input_id)
    members: dict[str, bytes] = {}
    pdf = published_file(config, doc)
    if pdf is None and config.publish.backend == "sharepoint" and doc.destination:
        from ..publish import make_publisher
        members["document.pdf"] = make_publisher(config).fetch_content(doc.destination)
    elif pdf is not None:
        members["document.pdf"] = pdf.read_bytes()
    original = Path(row.spool_path) if row else None
    if original and original.is_file():
        members["original/" + original.name] = original.read_bytes()

    events = [e for e in store.raw_events() if e["document_id"] == doc.id
              or (e["input_id"] == doc.input_id and e["document_id"] is None)]
    fingerprinted = [json.loads(e["details"]) for e in events if e["kind"] in ("fingerprinted", "fingerprint-changed")]
    members["metadonnees.json"] = _json({
        "document": doc.id, "identifiant_global": doc.uid, "lot": doc.batch,
        "numero_enregistrement": registration_of(doc),
        "date_arrivee": doc.received_at, "expediteur": doc.fields.get("sender"),
        "date_du_courrier": doc.fields.get("letter_date"), "references": doc.fields.get("references"),
        "categorie": doc.category, "libelle_categorie": config.categories[doc.category].label
        if doc.category in config.categories else None, "confiance": doc.confidence,
        "decision": decided_by(store, doc), "destination": doc.destination,
        "empreinte_pdf_sha256": latest_fingerprint(store, doc.id), "empreinte_original_sha256": doc.source_sha256,
        "fichier_original": doc.source, "horodatage": doc.timestamp})
    context = fingerprinted[-1] if fingerprinted else {}
    members["contexte-numerisation.json"] = _json({
        "pages": doc.pages, "pages_source": doc.source_pages, "pages_blanches_ou_separateurs_retirees": doc.dropped_pages,
        "images": image_context(pdf) if pdf is not None else [],
        "ocr": {"langues": config.ocr.languages, "confiance_moyenne": doc.ocr_confidence,
                "pages": [p.__dict__ for p in doc.page_results]},
        "mode_couleur_configure": config.ocr.output, "qualite_jpeg": config.ocr.jpeg_quality,
        "pdfa_2b": context.get("pdfa", config.ocr.pdfa),
        "logiciel": context.get("software", f"mailroom {__version__}"),
        "empreinte_configuration_sha256": context.get("config_sha256")})
    members["journal.jsonl"] = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events).encode()
    members["journal-canonique.txt"] = b"".join(canonical(e) + b"\n" for e in events)
    for event in events:
        details = json.loads(event["details"])
        if event["kind"] == "timestamped":
            token = config.home / details["token"]
            if token.is_file():
                members["horodatages/" + token.name] = token.read_bytes()
    if config.trace.tsa_ca_file:
        members["horodatages/autorite-ca.pem"] = Path(config.trace.tsa_ca_file).expanduser().read_bytes()
    members["LISEZMOI.txt"] = readme(doc, members, events).encode("utf-8")
    members["SHA256SUMS"] = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n"
                                    for name, data in sorted(members.items()) if name != "LISEZMOI.txt").encode()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    write_atomically(out, partial.read_bytes())
    partial.unlink()
    return list(members)


def _json(data) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2, default=str).encode("utf-8")


def readme(doc: Document, members: dict[str, bytes], events: list[dict]) -> str:
    tokens = [n for n in members if n.startswith("horodatages/") and n.endswith(".tsr")]
    original = next((n for n in members if n.startswith("original/")), None)
    lines = [
        f"Dossier de preuve du document {doc.id}",
        "=" * 40,
        "",
        "Ce dossier accompagne la copie numérique d'un courrier reçu par le Département. Il permet",
        "de vérifier, avec des outils standard, que la copie n'a pas été modifiée depuis sa",
        "numérisation (décret n° 2016-1673, article 1379 du Code civil).",
        "",
        "Contenu",
        "-------",
        "- document.pdf : la copie publiée (PDF/A-2b si l'archivage est activé) ;",
        f"- {original or 'original/ (absent : copie locale purgée après la durée de conservation)'} : "
        "le fichier tel que le scanner l'a produit ;",
        "- metadonnees.json : date d'arrivée, expéditeur, catégorie, qui a décidé du classement ;",
        "- contexte-numerisation.json : résolution, mode couleur, compression, pages, pages blanches",
        "  retirées, version du logiciel et empreinte de sa configuration ;",
        "- journal.jsonl : les événements du document, chacun avec son empreinte (hash) et celle de",
        "  l'événement précédent (prev_hash pour l'installation, prev_doc_hash pour ce document) ;",
        "- journal-canonique.txt : la forme exacte de chaque événement sur laquelle l'empreinte est calculée ;",
        "- horodatages/ : les jetons d'horodatage RFC 3161 et le certificat de l'autorité ;",
        "- SHA256SUMS : l'empreinte SHA-256 de chaque fichier.",
        "",
        "1. Vérifier les fichiers",
        "------------------------",
        "    sha256sum -c SHA256SUMS",
        "Chaque ligne doit finir par « OK ». L'empreinte de document.pdf doit être celle de",
        "metadonnees.json (empreinte_pdf_sha256) ; celle du fichier original, empreinte_original_sha256.",
        "",
        "2. Vérifier l'horodatage",
        "------------------------",
    ]
    if tokens:
        for token in tokens:
            lines.append(f"    openssl ts -verify -in {token} -data document.pdf -CAfile horodatages/autorite-ca.pem")
        lines += ["La réponse doit être « Verification: OK ». Pour lire la date et le numéro de série :",
                  f"    openssl ts -reply -in {tokens[-1]} -text",
                  "Un jeton plus ancien porte sur une version antérieure du PDF (migration de format",
                  "tracée dans le journal : événement fingerprint-changed) ; il se vérifie avec l'empreinte",
                  "de cette version : openssl ts -verify -in JETON -digest EMPREINTE -CAfile ..."]
    else:
        lines.append("Aucun jeton d'horodatage : aucune autorité d'horodatage n'était configurée, ou elle")
        lines.append("n'a pas encore répondu ([trace] tsa_url).")
    lines += [
        "",
        "3. Vérifier le journal",
        "----------------------",
        "La ligne N de journal-canonique.txt est la forme canonique de l'événement N de journal.jsonl.",
        "Son empreinte doit être le champ « hash » de cet événement :",
        "    sed -n 1p journal-canonique.txt | tr -d '\\n' | sha256sum",
        "Chaque événement contient dans « prev_doc_hash » l'empreinte de l'événement précédent du même",
        "document : une modification ou une suppression casse la chaîne. Sur l'installation,",
        "« mailroom verify " + doc.id + " » refait tous ces calculs, y compris la chaîne complète et",
        "les scellements quotidiens horodatés (proofs/seals/).",
        "",
        f"Événements : {len(events)}. Document publié : {doc.destination}.",
    ]
    return "\n".join(lines) + "\n"
