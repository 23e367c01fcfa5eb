"""The acknowledgement of receipt (CRPA L112-3, R112-5) as an A4 PDF, in French.

The addressee block sits where a DL window envelope shows it (window 100 × 45 mm,
20 mm from the right edge, 50 mm from the top of the folded A4). Every mention of
R112-5 is written: date of receipt; for "sva"/"svr" the date on which, without an
express decision, the request is deemed accepted/rejected, with the attestation of
L232-3 (sva) or the appeal deadlines and routes (svr); the service in charge with
its postal address, e-mail and telephone; the missing-documents rule (L114-5); the
registration number and the object of the letter.
"""
from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date

from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import Frame, Paragraph
from reportlab.pdfgen.canvas import Canvas
from xml.sax.saxutils import escape

from ..config import Category
from ..sheets import _fonts as fonts

MONTHS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre"]


def french_date(day: date) -> str:
    return f"{'1er' if day.day == 1 else day.day} {MONTHS[day.month - 1]} {day.year}"


@dataclass
class LetterFacts:
    """What one acknowledgement says; built from the document, its category and the calendar."""

    kind: str                     # sva | svr | simple
    organisation: str
    category: Category
    number: str
    received: date
    implicit_decision: date       # used by sva / svr
    deadline: date | None
    object: str
    letter_date: str | None
    addressee: list[str]          # name then postal address lines
    written: date


def _paragraphs(facts: LetterFacts) -> list[str]:
    c = facts.category
    service = escape(c.service_name)
    address = escape(", ".join(line.strip() for line in c.service_address.splitlines() if line.strip()))
    contact = [f"adresse postale : {address}"]
    if c.service_email:
        contact.append(f"courriel : {escape(c.service_email)}")
    if c.service_phone:
        contact.append(f"téléphone : {escape(c.service_phone)}")
    dated = f" du {escape(facts.letter_date)}" if facts.letter_date else ""
    text = [
        "Madame, Monsieur,",
        f"Nous accusons réception de votre courrier{dated}, reçu le <b>{french_date(facts.received)}</b> et "
        f"enregistré sous le numéro <b>{escape(facts.number)}</b>, qui a pour objet : « {escape(facts.object)} ».",
        f"Le service chargé de votre dossier est : <b>{service}</b> — {' ; '.join(contact)}. "
        f"Merci de rappeler le numéro {escape(facts.number)} dans toute correspondance.",
    ]
    decided = french_date(facts.implicit_decision)
    if facts.kind == "sva":
        text.append(
            "Votre demande est susceptible de donner lieu à une décision implicite d'acceptation. À défaut de "
            f"décision expresse, elle sera réputée acceptée le <b>{decided}</b>. Vous pourrez alors obtenir, sur "
            "simple demande auprès du service ci-dessus, l'attestation de décision implicite d'acceptation prévue "
            "à l'article L232-3 du code des relations entre le public et l'administration.")
    elif facts.kind == "svr":
        text.append(
            "Votre demande est susceptible de donner lieu à une décision implicite de rejet. À défaut de "
            f"décision expresse, elle sera réputée rejetée le <b>{decided}</b>. Vous pourrez contester cette "
            "décision dans un délai de deux mois à compter de cette date : par un recours gracieux adressé au "
            "service ci-dessus, par un recours hiérarchique adressé au Président du Conseil départemental, ou "
            "par un recours contentieux devant le tribunal administratif territorialement compétent, y compris "
            "par l'application Télérecours citoyens (www.telerecours.fr). Le recours gracieux ou hiérarchique "
            "prolonge le délai du recours contentieux.")
    else:
        due = f" au plus tard le <b>{french_date(facts.deadline)}</b>" if facts.deadline else ""
        text.append(f"Votre courrier sera traité par ce service{due}.")
    text.append(
        "Si des pièces nécessaires à l'instruction manquent à votre dossier, le service vous les indiquera ainsi "
        "que le délai pour les produire ; le délai au terme duquel une décision implicite peut naître ne court "
        "alors qu'à compter de leur réception (article L114-5 du même code).")
    text.append("Nous vous prions d'agréer, Madame, Monsieur, l'expression de nos salutations distinguées.")
    return text


def render_letter(facts: LetterFacts) -> bytes:
    c = facts.category
    header = [c.service_name, *c.service_address.splitlines()]
    header += [f"Tél. {c.service_phone}"] if c.service_phone else []
    header += [c.service_email] if c.service_email else []
    return render_page(facts.organisation, header, facts.addressee, facts.written,
                       f"Objet : accusé de réception — N° d'enregistrement {facts.number}", _paragraphs(facts),
                       "Accusé de réception délivré en application des articles L112-3 et R112-5 du code des "
                       "relations entre le public et l'administration.", f"Accusé de réception {facts.number}")


def render_page(organisation: str, header: list[str], addressee: list[str], written: date, subject: str,
                paragraphs: list[str], footer: str, title: str) -> bytes:
    """One A4 letter: sender's block top left, addressee in the DL window, subject, body (escaped already)."""
    regular, bold = fonts()
    width, height = A4
    buffer = io.BytesIO()
    page = Canvas(buffer, pagesize=A4, invariant=1, pageCompression=1)
    page.setTitle(title)
    page.setAuthor(organisation)
    small = ParagraphStyle("small", fontName=regular, fontSize=9, leading=11.5)
    body = ParagraphStyle("body", fontName=regular, fontSize=10, leading=13.5, spaceAfter=7)
    lines = [f"<b>{escape(organisation)}</b>", *[escape(line.strip()) for line in header if line.strip()]]
    Frame(20 * mm, height - 48 * mm, 85 * mm, 36 * mm, showBoundary=0, leftPadding=0, topPadding=0).addFromList(
        [Paragraph("<br/>".join(lines), small)], page)
    # The addressee, in the DL window: 100 × 45 mm, 100 mm from the left, 50 mm from the top.
    window = ParagraphStyle("window", fontName=regular, fontSize=10.5, leading=13)
    Frame(105 * mm, height - 95 * mm, 90 * mm, 45 * mm, showBoundary=0, leftPadding=0, topPadding=4 * mm).addFromList(
        [Paragraph("<br/>".join(escape(line) for line in addressee), window)], page)
    page.setFont(regular, 10)
    page.drawString(105 * mm, height - 104 * mm, f"Le {french_date(written)}")
    flow = [Paragraph(f"<b>{escape(subject)}</b>", body)] + [Paragraph(text, body) for text in paragraphs]
    flow.append(Paragraph(f"Le service du courrier<br/>{escape(organisation)}", body))
    Frame(20 * mm, 15 * mm, width - 40 * mm, height - 130 * mm, showBoundary=0).addFromList(flow, page)
    page.setFont(regular, 7)
    page.drawString(20 * mm, 10 * mm, footer)
    page.showPage()
    page.save()
    return buffer.getvalue()
