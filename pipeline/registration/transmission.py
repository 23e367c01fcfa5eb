"""Mail for another administration (CRPA L114-2): passed on to the competent body, and the sender is told.

The supervisor files the letter in a category with ``transmit = true`` and picks one
of ``[transmission.bodies]`` (kept in the document's fields as ``transmitted_to``).
mailroom then writes, in ``home/transmissions/YYYY-MM-DD/``, the transmission slip
followed by the letter itself (to post or send to the body) and the notice to the
sender, and journals both. No acknowledgement of our own: the competent body
acknowledges. Written again identically if the process restarts in between.
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
from .acknowledgement import letter_object, postal_addressee
from .deadlines import arrival_date
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


def transmit(config: Config, store: Store, doc: Document, letter_pdf: Path, actor: str = "mailroom") -> Document:
    """Write the slip (+ the letter) and the notice, journal them; idempotent for one document."""
    if doc.acknowledgement.get("state") == "transmitted":
        return doc
    body = body_for(config, doc)
    today = date.today()
    folder = config.home / "transmissions" / today.isoformat()
    number = doc.registration or doc.id
    slip, notice = folder / f"{number}-bordereau.pdf", folder / f"{number}-avis-expediteur.pdf"
    with ExitStack() as stack, pikepdf.new() as merged:
        for part in (io.BytesIO(_slip(config, doc, body, today)), letter_pdf):
            merged.pages.extend(stack.enter_context(pikepdf.open(part)).pages)
        buffer = io.BytesIO()
        merged.save(buffer, deterministic_id=True)
    write_atomically(slip, buffer.getvalue())
    write_atomically(notice, _notice(config, doc, body, today))
    doc.acknowledgement = {"channel": "none", "state": "transmitted", "to": body.name, "file": str(notice),
                           "slip": str(slip), "body": body.id, "sent_at": None}
    store.save_document(doc, "transmitted", actor, body=body.id, body_name=body.name, slip=str(slip),
                        notice=str(notice))
    return doc
