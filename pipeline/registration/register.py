"""The arrival register: one line per registered letter, in number order, as CSV or A4 landscape PDF.

CSV is UTF-8 with a BOM and ``;`` separators, so that a French spreadsheet opens it
as it is. The PDF is the printable register archivists keep as evidence.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, TableStyle

from ..config import Config
from ..files import write_atomically
from ..store import Store
from ..sheets import _fonts as fonts
from .acknowledgement import letter_object
from .deadlines import arrival_date

STATUS = {"published": "classé", "review": "en vérification", "rejected": "rejeté (pas du courrier)",
          "quarantined": "en quarantaine", "publish-failed": "classement en échec", "duplicate": "doublon"}
ACK = {"sent": "envoyé par courriel", "batched": "à poster (lot papier)", "pending": "prévu", "failed": "en échec",
       "cancelled": "annulé", "unconfirmed": "envoi à vérifier", "sending": "en cours", "none": "sans objet",
       "transmitted": "transmis (L114-2)"}
HEADERS = ["N° d'enregistrement", "Reçu le", "Heure", "Expéditeur", "Objet", "Catégorie", "Pages", "Statut",
           "Date limite", "Accusé de réception"]


@dataclass
class RegisterLine:
    number: str
    received: str
    time: str
    sender: str
    object: str
    category: str
    pages: int
    status: str
    deadline: str
    acknowledgement: str

    def cells(self) -> list[str]:
        return [self.number, self.received, self.time, self.sender, self.object, self.category, str(self.pages),
                self.status, self.deadline, self.acknowledgement]


def register_lines(config: Config, store: Store, start: date | None = None, end: date | None = None,
                   category: str | None = None) -> list[RegisterLine]:
    documents = {d.id: d for d in store.documents()}
    numbers = {}  # input id → the numbers of its letters
    for entry in store.registrations():
        if entry["document_id"] in documents:
            numbers.setdefault(entry["input_id"], []).append(entry["number"])
    lines = []
    for entry in store.registrations():
        doc = documents.get(entry["document_id"])
        arrived = arrival_date(entry["received_at"])
        if (start and arrived < start) or (end and arrived > end):
            continue
        if category and (doc is None or doc.category != category):
            continue
        moment = datetime.fromisoformat(entry["received_at"])
        if doc is None:  # a scan quarantined before it could be split into letters: the scan has the number
            lines.append(RegisterLine(entry["number"], f"{arrived:%d/%m/%Y}", f"{moment:%H:%M}", "", "", "", 0,
                                      _scan_status(store, entry, numbers), "", ""))
            continue
        label = config.categories[doc.category].label if doc.category in config.categories else (doc.category or "")
        ack = doc.acknowledgement or {}
        ack_text = ACK.get(ack.get("state") or "none", ack.get("state") or "")
        if ack.get("state") == "transmitted":
            ack_text += f" à {ack.get('to')}"
            parts = [(name, doc.transmission.get(part) or {}) for name, part in (("bordereau", "slip"),
                                                                                 ("avis à l'expéditeur", "notice"))]
            ack_text += "".join(f" ; {name} {ACK.get(item.get('state'), item.get('state'))}"
                                for name, item in parts if item)
        if ack.get("sent_at") and ack.get("state") in ("sent", "batched"):
            ack_text += f" le {datetime.fromisoformat(ack['sent_at']).astimezone():%d/%m/%Y}"
        deadline = f"{date.fromisoformat(doc.deadline):%d/%m/%Y}" if doc.deadline else ""
        lines.append(RegisterLine(entry["number"], f"{arrived:%d/%m/%Y}", f"{moment:%H:%M}",
                                  doc.fields.get("sender") or "", letter_object(doc) if doc.text else "", label,
                                  doc.pages, STATUS.get(doc.state, "en traitement"), deadline, ack_text))
    return lines


def _scan_status(store: Store, entry: dict, numbers: dict[str, list[str]]) -> str:
    row = store.get_input(entry["input_id"])
    if row is None or entry["document_id"] != entry["input_id"]:
        return f"annulé (lot {entry['input_id']} redécoupé)"
    if numbers.get(row.id):  # retried since, and split into letters with numbers of their own
        return f"lot {row.id} ({row.original_name}) relancé : courriers N° {', '.join(numbers[row.id])}"
    if row.state == "quarantined":
        return f"en quarantaine, lot {row.id} ({row.original_name}) : {row.reason or ''}".rstrip(" :")
    return f"lot {row.id} ({row.original_name}) relancé, en traitement"


def write_csv(lines: list[RegisterLine], target: Path) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADERS)
    for line in lines:
        writer.writerow(line.cells())
    write_atomically(target, buffer.getvalue().encode("utf-8-sig"))


def write_pdf(lines: list[RegisterLine], target: Path, title: str) -> None:
    regular, bold = fonts()
    cell = ParagraphStyle("cell", fontName=regular, fontSize=7.5, leading=9)
    head = ParagraphStyle("head", fontName=bold, fontSize=7.5, leading=9)
    rows = [[Paragraph(escape(h), head) for h in HEADERS]]
    rows += [[Paragraph(escape(value), cell) for value in line.cells()] for line in lines]
    widths = [30, 18, 11, 38, 70, 35, 10, 25, 18, 22]  # mm, 277 in all
    table = LongTable(rows, colWidths=[w * mm for w in widths], repeatRows=1)
    table.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.grey),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
    buffer = io.BytesIO()
    title_style = ParagraphStyle("title", fontName=bold, fontSize=12, spaceAfter=4 * mm)

    def footer(canvas, document):
        canvas.setFont(regular, 7)
        canvas.drawRightString(landscape(A4)[0] - 10 * mm, 6 * mm, f"{title} — page {document.page}")

    document = SimpleDocTemplate(buffer, pagesize=landscape(A4), leftMargin=10 * mm, rightMargin=10 * mm,
                                 topMargin=10 * mm, bottomMargin=12 * mm, title=title, invariant=1)
    empty = [Paragraph("Aucun courrier enregistré sur cette période.", cell)] if not lines else []
    document.build([Paragraph(escape(title), title_style), table, *empty], onFirstPage=footer, onLaterPages=footer)
    write_atomically(target, buffer.getvalue())


def write_register(config: Config, store: Store, target: Path, start: date | None = None, end: date | None = None,
                   category: str | None = None) -> int:
    """CSV or PDF by the file's extension; returns the number of lines."""
    lines = register_lines(config, store, start, end, category)
    if target.suffix.lower() == ".csv":
        write_csv(lines, target)
    elif target.suffix.lower() == ".pdf":
        span = (f" du {start:%d/%m/%Y}" if start else "") + (f" au {end:%d/%m/%Y}" if end else "")
        write_pdf(lines, target, f"Registre du courrier arrivé — {config.registration.organisation}{span}")
    else:
        raise ValueError(f"{target.name}: the register is written as .csv or .pdf")
    return len(lines)


def write_daily_register(config: Config, store: Store, day: date) -> Path:
    """The register of one day, written by `serve` after midnight into home/registers/."""
    target = config.home / "registers" / f"registre-{day.isoformat()}.pdf"
    write_register(config, store, target, day, day)
    return target
