"""The registration stamp: number and arrival date added to the published PDF as a text layer.

The scanned image is never touched: the stamp is a Form XObject drawn over the
first page's top margin (text only, no box over the scan), made by reportlab with
an embedded font so that PDF/A files stay conformant. It is added to the work PDF
in the one write after routing (``stages.finish_pdf``), before the final checksum is taken
(what is journaled, timestamped and published), once: the number is kept in the Info
dictionary and a stamped file is not stamped again.
"""
from __future__ import annotations

import io
from datetime import datetime

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


MARK = pikepdf.Name("/MailroomRegistration")


def add_stamp(pdf: pikepdf.Pdf, doc: Document, config: Config) -> bool:
    """Draw the stamp over the first page of the open ``pdf``, once: a file already stamped with this number
    is left as it is (a publication retried after a crash stamps nothing twice). The caller saves the file."""
    if str(pdf.docinfo.get(MARK, "")) == doc.registration:
        return False
    first = pdf.pages[0]
    box = [float(v) for v in first.mediabox]
    with _overlay(box[2] - box[0], box[3] - box[1], stamp_text(doc, config)) as overlay:
        first.add_overlay(overlay.pages[0], pikepdf.Rectangle(*box))
    pdf.docinfo[MARK] = doc.registration
    return True
