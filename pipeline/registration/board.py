"""What the review app shows about registration: deadlines close or passed, acknowledgements not sent yet."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from ..config import Config
from ..records import Document
from ..store import Store
from .deadlines import calendar_for
from .delivery import WAITING_STATES

SOON_WORKING_DAYS = 5
ACK_LABELS = {"pending": "prévu", "failed": "en échec, nouvel essai prévu", "unconfirmed": "envoi interrompu, à vérifier",
              "cancelled": "annulé", "sent": "envoyé par courriel", "batched": "dans le lot papier du jour",
              "sending": "en cours d'envoi", "none": "aucun",
              "transmitted": "sans objet : transmis à l'autorité compétente"}


@dataclass
class RegistrationBoard:
    overdue: list[Document] = field(default_factory=list)
    due_soon: list[Document] = field(default_factory=list)       # within SOON_WORKING_DAYS working days
    acknowledgements: list[Document] = field(default_factory=list)  # filed, acknowledgement not gone yet
    transmissions: list[tuple[Document, str, dict]] = field(default_factory=list)  # (doc, slip|notice, state)


def registration_board(config: Config, store: Store, today: date | None = None, limit: int = 100) -> RegistrationBoard:
    """mailroom does not know when a service has answered (that happens in the agents' tools), so every letter
    with a deadline counts, rejected ones and duplicates excepted; the page says so. Each list is one indexed
    query: the dashboard does not read every letter ever registered."""
    today = today or date.today()
    soon = calendar_for(config).add_working_days(today, SOON_WORKING_DAYS + 1) - timedelta(days=1)
    board = RegistrationBoard(
        overdue=store.documents_by_deadline(None, (today - timedelta(days=1)).isoformat(), limit),
        due_soon=store.documents_by_deadline(today.isoformat(), soon.isoformat(), limit),
        acknowledgements=store.open_deliveries([("acknowledgement",)], WAITING_STATES))
    board.due_soon.sort(key=lambda d: (not d.fields.get("urgent"), d.deadline))
    parts = [("transmission", part) for part in TRANSMISSION_PARTS]
    for doc in store.open_deliveries(parts, (*WAITING_STATES, "sending", "sent", "batched")):
        for part in TRANSMISSION_PARTS:
            item = doc.transmission.get(part) or {}
            if item.get("state") in (*WAITING_STATES, "sending") or (item.get("sent_at") or "")[:10] == str(today):
                board.transmissions.append((doc, part, item))
    return board


def acknowledgement_label(doc: Document) -> str:
    ack = doc.acknowledgement or {}
    state = ack.get("state") or "none"
    text = ACK_LABELS.get(state, state)
    if state in ("pending", "failed") and ack.get("channel") in ("email", "paper"):
        text += " — " + (f"courriel à {ack.get('to')}" if ack["channel"] == "email" else "courrier papier")
    return text


TRANSMISSION_PARTS = {"slip": "Bordereau à l'organisme compétent", "notice": "Avis à l'expéditeur"}


def delivery_label(item: dict) -> str:
    """One sent letter's state, in French: « envoyé par courriel à … le … », « dans le lot papier du jour »…"""
    state = item.get("state") or "none"
    text = ACK_LABELS.get(state, state)
    if item.get("channel") == "email" and item.get("to"):
        text += f" — courriel à {item['to']}"
    elif item.get("channel") == "paper":
        text += " — courrier papier"
    return text
