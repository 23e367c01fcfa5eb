"""The registration stamp: number and arrival date added to the published PDF as a text layer.

The scanned image is never touched: the stamp is a Form XObject drawn over the
first page's top margin (text only, no box over the scan), made by reportlab with
an embedded font so that PDF/A files stay conformant. The stamped copy is written
beside the work PDF, deterministically, so that a publication retried after a
crash carries the same bytes and is recognised by its checksum.
"""
from __future__ import annotations

import io
from datetime import datetime
from pathlib import Path

import pikepdf
from reportlab.pdfgen import canvas

from ..config import Config
from ..records import Document
from ..sheets import _fonts as fonts

STAMP_SIZE = 8  # points


def stamp_text(doc: Document, config: Config) -> str:
    received = datetime.fromisoformat(doc.received_at)
    return config.registration.stamp_text.format(date=f"{received:%d/%m/%Y}", time=f"{received:%H:%M}",
                                                 number=doc.registration, organisation=config.registration.organisation)


def _overlay(width: float, height: float, text: str) -> pikepdf.Pdf:
    font, _ = fonts()
    buffer = io.BytesIO()
    page = canvas.Canvas(buffer, pagesize=(width, height), invariant=1, pageCompression=1)
    page.setFont(font, STAMP_SIZE)
    page.setFillColorRGB(0.6, 0.0, 0.0)
    margin = 0.4 * 72 / 2.54  # 4 mm from the top and right edges
    page.drawRightString(width - margin, height - margin - STAMP_SIZE, text)
    page.showPage()
    page.save()
    return pikepdf.open(io.BytesIO(buffer.getvalue()))


def stamped_path(doc: Document) -> Path:
    source = Path(doc.pdf)
    return source.with_name(f"{source.stem}-enregistre.pdf")


def stamp(doc: Document, config: Config) -> Path:
    """Write the stamped copy of ``doc.pdf`` and return its path (the work PDF itself is left as it is)."""
    from ..ocr.document import save

    target = stamped_path(doc)
    with pikepdf.open(doc.pdf) as pdf:
        first = pdf.pages[0]
        box = first.mediabox
        width, height = float(box[2]) - float(box[0]), float(box[3]) - float(box[1])
        with _overlay(width, height, stamp_text(doc, config)) as overlay:
            first.add_overlay(overlay.pages[0], pikepdf.Rectangle(*[float(v) for v in box]))
        save(pdf, target, config.ocr.pdfa)
    return target
