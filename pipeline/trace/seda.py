"""`mailroom archive export`: a SEDA 2.2 ArchiveTransfer package for the Archives départementales.

The zip holds ``manifest.xml`` (one ArchiveUnit per letter under one unit for the transfer, with
its metadata, its events — reception, publication, fingerprints, timestamps — and one data object
group holding the published PDF/A file with its SHA-256) and the files under ``content/``.
"""
from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import date, datetime
from pathlib import Path

import pikepdf
from lxml import etree

from .. import __version__
from ..config import Config
from ..errors import ExportError
from ..files import write_atomically
from ..records import PUBLISHED, Document
from ..store import Store, now_iso
from .proof import registration_of
from .stamp import published_file
from .verify import latest_fingerprint

SEDA_NS = "fr:gouv:culture:archivesdefrance:seda:v2.2"
SHA256 = "SHA-256"
PDFA_2B = ("fmt/476", "Acrobat PDF/A - Portable Document Format 2b")
PDF_17 = ("fmt/276", "Acrobat PDF 1.7 - Portable Document Format")


def _el(parent, name: str, text: str | None = None, **attributes) -> etree._Element:
    element = etree.SubElement(parent, f"{{{SEDA_NS}}}{name}", **attributes)
    if text is not None:
        element.text = str(text)
    return element


def _letters(config: Config, store: Store, start: date, end: date, category: str | None) -> list[Document]:
    if category and category not in config.categories:
        raise ExportError(f"unknown category: {category} (known: {', '.join(sorted(config.categories))})")
    chosen = []
    for doc in store.documents(PUBLISHED):
        received = datetime.fromisoformat(doc.received_at).date()
        if start <= received <= end and (category is None or doc.category == category):
            chosen.append(doc)
    return sorted(chosen, key=lambda d: (d.received_at, d.id))


def manifest(config: Config, store: Store, letters: list[tuple[Document, str, bytes]], start: date, end: date,
             identifier: str) -> bytes:
    trace = config.trace
    root = etree.Element(f"{{{SEDA_NS}}}ArchiveTransfer", nsmap={None: SEDA_NS})
    _el(root, "Comment", f"Courrier entrant numérisé par mailroom {__version__}, reçu du {start:%d/%m/%Y} au "
                         f"{end:%d/%m/%Y} ({len(letters)} courrier{'s' if len(letters) != 1 else ''})")
    _el(root, "Date", datetime.now().astimezone().replace(microsecond=0).isoformat())
    _el(root, "MessageIdentifier", identifier)
    if trace.archival_agreement:
        _el(root, "ArchivalAgreement", trace.archival_agreement)
    codes = _el(root, "CodeListVersions")
    _el(codes, "ReplyCodeListVersion", "ReplyCodeListVersion0")
    _el(codes, "MessageDigestAlgorithmCodeListVersion", "MessageDigestAlgorithmCodeListVersion0")
    _el(codes, "MimeTypeCodeListVersion", "MimeTypeCodeListVersion0")
    _el(codes, "FileFormatCodeListVersion", "PRONOM")
    package = _el(root, "DataObjectPackage")
    for number, (doc, name, data) in enumerate(letters, start=1):
        group = _el(package, "DataObjectGroup", id=f"GOT{number}")
        binary = _el(group, "BinaryDataObject", id=f"BDO{number}")
        _el(binary, "DataObjectVersion", "BinaryMaster_1")
        _el(binary, "Uri", name)
        _el(binary, "MessageDigest", hashlib.sha256(data).hexdigest(), algorithm=SHA256)
        _el(binary, "Size", len(data))
        pdfa = _declares_pdfa(data)
        fmt = _el(binary, "FormatIdentification")
        _el(fmt, "FormatLitteral", (PDFA_2B if pdfa else PDF_17)[1])
        _el(fmt, "MimeType", "application/pdf")
        _el(fmt, "FormatId", (PDFA_2B if pdfa else PDF_17)[0])
        info = _el(binary, "FileInfo")
        _el(info, "Filename", Path(name).name)
        _el(info, "CreatingApplicationName", "mailroom")
        _el(info, "CreatingApplicationVersion", __version__)
    descriptive = _el(package, "DescriptiveMetadata")
    transfer = _el(descriptive, "ArchiveUnit", id="AU0")
    content = _el(transfer, "Content")
    _el(content, "DescriptionLevel", "RecordGrp")
    _el(content, "Title", f"Courrier entrant du {start:%d/%m/%Y} au {end:%d/%m/%Y}")
    _el(content, "StartDate", start.isoformat())
    _el(content, "EndDate", end.isoformat())
    for number, (doc, _, _) in enumerate(letters, start=1):
        _letter_unit(config, store, transfer, doc, number)
    management = _el(package, "ManagementMetadata")
    _el(management, "OriginatingAgencyIdentifier", trace.originating_agency or trace.transferring_agency)
    _el(management, "SubmissionAgencyIdentifier", trace.transferring_agency)
    _el(_el(root, "ArchivalAgency"), "Identifier", trace.archival_agency)
    _el(_el(root, "TransferringAgency"), "Identifier", trace.transferring_agency)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _letter_unit(config: Config, store: Store, parent, doc: Document, number: int) -> None:
    category = config.categories.get(doc.category or "")
    unit = _el(parent, "ArchiveUnit", id=f"AU{number}")
    content = _el(unit, "Content")
    _el(content, "DescriptionLevel", "Item")
    sender = (doc.fields.get("sender") or "").strip()
    label = category.label if category else doc.category
    _el(content, "Title", f"{label} — {sender or 'expéditeur inconnu'} — reçu le "
                          f"{datetime.fromisoformat(doc.received_at):%d/%m/%Y}")
    _el(content, "FilePlanPosition", doc.category)
    _el(content, "OriginatingSystemId", doc.id)
    _el(content, "OriginatingSystemId", doc.uid)  # the global identity, also in the PDF's XMP
    if registration_of(doc):
        _el(content, "OriginatingAgencyArchiveUnitIdentifier", registration_of(doc))
    references = doc.fields.get("references") or []
    description = f"Courrier {doc.id} (lot {doc.batch}, fichier {doc.source}, pages {doc.pages})"
    if references:
        description += " ; références : " + ", ".join(str(r.get("value", r) if isinstance(r, dict) else r)
                                                       for r in references)
    _el(content, "Description", description)
    _el(content, "DocumentType", "Courrier entrant")
    _el(content, "Language", "fr")
    _el(content, "DescriptionLanguage", "fr")
    if sender:
        _el(_el(content, "Sender"), "FullName", sender)
    if doc.fields.get("letter_date"):
        _el(content, "CreatedDate", str(doc.fields["letter_date"]))
    _el(content, "ReceivedDate", doc.received_at)
    for event in store.events(document_id=doc.id):
        if event.kind not in ("published", "fingerprinted", "fingerprint-changed", "timestamped", "reviewed"):
            continue
        item = _el(content, "Event")
        _el(item, "EventIdentifier", f"{doc.id}-{event.id}")
        _el(item, "EventType", event.kind)
        _el(item, "EventDateTime", event.at)
        _el(item, "EventDetail", _event_detail(event.kind, event.details, event.actor))
        _el(item, "Outcome", "OK")
    reference = _el(unit, "DataObjectReference")
    _el(reference, "DataObjectGroupReferenceId", f"GOT{number}")


def _declares_pdfa(data: bytes) -> bool:
    with pikepdf.open(io.BytesIO(data)) as pdf:
        meta = pdf.open_metadata()
        return meta.get("pdfaid:part") == "2" and str(meta.get("pdfaid:conformance", "")).upper() == "B"


def _event_detail(kind: str, details: dict, actor: str) -> str:
    if kind == "timestamped":
        return (f"horodatage RFC 3161 n° {details.get('serial')} du {details.get('time')} sur l'empreinte SHA-256 "
                f"{details.get('pdf_sha256')}")
    if kind == "fingerprinted":
        return (f"empreinte SHA-256 du PDF publié {details.get('pdf_sha256')} ; du fichier original "
                f"{details.get('source_sha256')} ; {details.get('software')}, configuration "
                f"{details.get('config_sha256')}")
    if kind == "fingerprint-changed":
        return f"migration de format ({details.get('reason')}) : {details.get('before')} → {details.get('after')}"
    if kind == "reviewed":
        return f"classement vérifié par {actor}"
    return f"publié : {details.get('destination')}"


def export_sip(config: Config, store: Store, start: date, end: date, category: str | None, out: Path) -> int:
    trace = config.trace
    for key in ("archival_agency", "transferring_agency"):
        if not getattr(trace, key):
            raise ExportError(f"set [trace] {key} in the configuration (the identifier the Archives "
                              "départementales gave you)")
    if end < start:
        raise ExportError("--to is before --from")
    letters = []
    for doc in _letters(config, store, start, end, category):
        path = published_file(config, doc)
        if path is None and config.publish.backend == "sharepoint" and doc.destination:
            from ..publish import make_publisher
            data = make_publisher(config).fetch_content(doc.destination)
        elif path is not None:
            data = path.read_bytes()
        else:
            raise ExportError(f"{doc.id}: the published PDF is not available")
        expected = latest_fingerprint(store, doc.id)
        if expected and hashlib.sha256(data).hexdigest() != expected:
            raise ExportError(f"{doc.id}: the published PDF changed since its fingerprint; run mailroom verify")
        letters.append((doc, f"content/{doc.id}.pdf", data))
    if not letters:
        raise ExportError(f"no published letter received between {start} and {end}"
                          + (f" in category {category}" if category else ""))
    identifier = f"mailroom-{start:%Y%m%d}-{end:%Y%m%d}-{datetime.now():%Y%m%dT%H%M%S}"
    xml = manifest(config, store, letters, start, end, identifier)
    out = Path(out)
    partial = out.with_name(out.name + ".partial")
    partial.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.xml", xml)
        for _, name, data in letters:
            archive.writestr(name, data)
    write_atomically(out, partial.read_bytes())
    partial.unlink()
    store.journal("archive-exported", actor="cli", file=str(out), message=identifier, letters=len(letters),
                  documents=[doc.id for doc, _, _ in letters], at=now_iso())
    return len(letters)
