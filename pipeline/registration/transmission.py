"""Mail for another administration (CRPA L114-2): passed on to the competent body, and the sender is told.

The supervisor files the letter in a category with ``transmit = true`` and picks one
of ``[transmission.bodies]`` (kept in the document's fields as ``transmitted_to``).
mailroom then writes, in ``home/transmissions/YYYY-MM-DD/``, the transmission slip
followed by the letter itself and the notice to the sender, journals both
(``transmitted``), and sends them like acknowledgements (``delivery.py``: once,
two-phase, keyed by the uid): the slip by e-mail to the body when it has an address,
the notice by e-mail when the sender's own address was read in the letter; the
others go into the day's print batch ``home/transmissions/YYYY-MM-DD.pdf``. No
acknowledgement of our own: the competent body acknowledges.
"""
from __future__ import annotations

import io
from contextlib import ExitStack
from datetime import date
from pathlib import Path
from xml.sax.saxutils import escape

import pikepdf

from ..config import Config, TransmissionBody
from ..files import write_atomically
from ..records import Document
from ..store import Store
from . import mailer
from .acknowledgement import letter_object, postal_addressee, sender_email
from .deadlines import arrival_date
from .delivery import Courier, Outgoing, _now
from .letter import french_date, render_page

FIELD = "transmitted_to"


class TransmissionError(ValueError):
    """The letter cannot be passed on as asked; the message is for the supervisor (French)."""


def body_for(config: Config, doc: Document) -> TransmissionBody:
    body_id = doc.fields.get(FIELD)
    if body_id not in config.transmission_bodies:
        known = ", ".join(config.transmission_bodies) or "aucun : ajoutez [transmission.bodies] à la configuration"
        raise TransmissionError(f"organisme compétent inconnu « {body_id or ''} » (organismes : {known})")
    return config.transmission_bodies[body_id]


def _slip(config: Config, doc: Document, body: TransmissionBody, today: date) -> bytes:
    number, received = doc.registration or doc.id, french_date(arrival_date(doc.received_at))
    sender = doc.fields.get("sender") or "expéditeur non identifié"
    paragraphs = [
        "Madame, Monsieur,",
        f"En application de l'article L114-2 du code des relations entre le public et l'administration, nous vous "
        f"transmettons le courrier ci-joint de <b>{escape(sender)}</b>, reçu par nos services le <b>{received}</b> "
        f"et enregistré sous le numéro <b>{escape(number)}</b>, qui a pour objet : « {escape(letter_object(doc))} ». "
        "Il nous paraît relever de votre compétence.",
        "Nous en avons informé l'expéditeur. Il vous appartient de lui en accuser réception ; les délais courent "
        "à compter de la réception de ce courrier par vos services.",
        f"Pièce jointe : le courrier ({doc.pages} page{'s' if doc.pages != 1 else ''}).",
    ]
    return render_page(config.registration.organisation, ["Service du courrier"], [body.name, *body.address.splitlines()],
                       today, f"Bordereau de transmission — N° {number}", paragraphs,
                       "Transmission en application de l'article L114-2 du code des relations entre le public et "
                       "l'administration.", f"Bordereau de transmission {number}")


def _notice(config: Config, doc: Document, body: TransmissionBody, today: date) -> bytes:
    number, received = doc.registration or doc.id, french_date(arrival_date(doc.received_at))
    address = escape(", ".join(line.strip() for line in body.address.splitlines() if line.strip()))
    contact = f" (courriel : {escape(body.email)})" if body.email else ""
    paragraphs = [
        "Madame, Monsieur,",
        f"Votre courrier reçu le <b>{received}</b>, enregistré sous le numéro <b>{escape(number)}</b>, qui a pour "
        f"objet : « {escape(letter_object(doc))} », ne relève pas de la compétence du Département.",
        f"Conformément à l'article L114-2 du code des relations entre le public et l'administration, nous l'avons "
        f"transmis le {french_date(today)} à l'autorité compétente : <b>{escape(body.name)}</b>, {address}{contact}. "
        "C'est cet organisme qui vous en accusera réception et traitera votre demande ; pour toute suite, "
        "adressez-vous directement à lui.",
        "Nous vous prions d'agréer, Madame, Monsieur, l'expression de nos salutations distinguées.",
    ]
    return render_page(config.registration.organisation, ["Service du courrier"], postal_addressee(doc), today,
                       f"Objet : transmission de votre courrier — N° {number}", paragraphs,
                       "Information délivrée en application de l'article L114-2 du code des relations entre le public "
                       "et l'administration.", f"Transmission de votre courrier {number}")


class Transmitter:
    """The slip (to the competent body) and the notice (to the sender) of each transmitted letter."""

    def __init__(self, config: Config, store: Store):
        self.config, self.store = config, store
        self.directory = config.home / "transmissions"
        self.slip = Outgoing(("transmission", "slip"), "transmission-slip", self.directory,
                             lambda doc: _written(doc, "slip"), self._slip_message)
        self.notice = Outgoing(("transmission", "notice"), "transmission-notice", self.directory,
                               lambda doc: _written(doc, "notice"), self._notice_message)
        self.kinds = [self.slip, self.notice]
        self.courier = Courier(config, store, self.kinds)

    def transmit(self, doc: Document, letter_pdf: Path, actor: str = "mailroom") -> Document:
        """Write the slip (+ the letter) and the notice, journal them, send them; idempotent for one document."""
        doc = self.store.get_document(doc.id) or doc
        if doc.transmission.get("state") != "transmitted":
            doc = self._write(doc, letter_pdf, actor)
        for kind in self.kinds:
            if kind.of(doc).get("state") == "pending":
                self.courier.deliver(kind, doc.id, actor)
        return self.store.get_document(doc.id) or doc

    def _write(self, doc: Document, letter_pdf: Path, actor: str) -> Document:
        body = body_for(self.config, doc)
        today = date.today()
        folder = self.directory / today.isoformat()
        number = doc.registration or doc.id
        slip, notice = folder / f"{number}-bordereau.pdf", folder / f"{number}-avis-expediteur.pdf"
        with ExitStack() as stack, pikepdf.new() as merged:
            for part in (io.BytesIO(_slip(self.config, doc, body, today)), letter_pdf):
                merged.pages.extend(stack.enter_context(pikepdf.open(part)).pages)
            buffer = io.BytesIO()
            merged.save(buffer, deterministic_id=True)
        write_atomically(slip, buffer.getvalue())
        write_atomically(notice, _notice(self.config, doc, body, today))
        smtp = bool(self.config.acknowledgement.smtp_host)
        sender = sender_email(doc, self.config) if smtp else None
        due = _now().isoformat()

        def delivery(path: Path, to: str | None) -> dict:
            return {"channel": "email" if to else "paper", "to": to, "state": "pending", "file": str(path),
                    "due_at": due, "attempts": 0, "sent_at": None}

        transmission = {"state": "transmitted", "body": body.id, "body_name": body.name,
                        "slip": delivery(slip, body.email if smtp and body.email else None),
                        "notice": delivery(notice, sender)}
        done = self.store.update_delivery(
            doc.id, ("transmission",), (None,), transmission, "transmitted", actor, body=body.id,
            body_name=body.name, slip=str(slip), notice=str(notice), slip_channel=transmission["slip"]["channel"],
            notice_channel=transmission["notice"]["channel"])
        self.store.update_acknowledgement(doc.id, (None, "none"), {
            "channel": "none", "state": "transmitted", "to": body.name, "body": body.id, "file": str(notice),
            "slip": str(slip), "sent_at": None})
        return done or self.store.get_document(doc.id) or doc

    def _slip_message(self, doc: Document, pdf: Path):
        number, body = doc.registration or doc.id, body_for(self.config, doc)
        text = (f"Madame, Monsieur,\n\nEn application de l'article L114-2 du code des relations entre le public et "
                f"l'administration, nous vous transmettons ci-joint le courrier enregistré sous le numéro {number}, "
                f"reçu le {arrival_date(doc.received_at):%d/%m/%Y}, qui nous paraît relever de votre compétence "
                f"({body.name}). Son expéditeur en est informé ; il vous appartient de lui en accuser réception.\n\n"
                f"{self.config.registration.organisation} — service du courrier\n")
        return mailer.build_message(self.config.acknowledgement, f"transmission.{doc.uid}", body.email,
                                    f"Transmission d'un courrier (article L114-2 du CRPA) — N° {number}", text,
                                    pdf.read_bytes(), pdf.name)

    def _notice_message(self, doc: Document, pdf: Path):
        number = doc.registration or doc.id
        text = (f"Madame, Monsieur,\n\nVotre courrier reçu le {arrival_date(doc.received_at):%d/%m/%Y}, enregistré "
                f"sous le numéro {number}, a été transmis à l'autorité compétente : "
                f"{doc.transmission.get('body_name')}. Vous trouverez ci-joint le courrier d'information.\n\n"
                f"{self.config.registration.organisation}\n")
        return mailer.build_message(self.config.acknowledgement, f"avis-transmission.{doc.uid}",
                                    doc.transmission["notice"]["to"], f"Transmission de votre courrier — N° {number}",
                                    text, pdf.read_bytes(), pdf.name)


def _written(doc: Document, part: str) -> Path:
    path = Path(doc.transmission[part]["file"])
    if not path.is_file():
        raise FileNotFoundError(f"{path} a disparu depuis la transmission")
    return path


def transmit(config: Config, store: Store, doc: Document, letter_pdf: Path, actor: str = "mailroom") -> Document:
    return Transmitter(config, store).transmit(doc, letter_pdf, actor)
