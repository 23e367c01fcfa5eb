"""The registration steps as the runner calls them: small, one line each at their place in the chain.

- after a split or a quarantine (and each minute in `serve`): ``register`` (numbers in claim order, for every letter whose turn
  has come: a letter whose scan was claimed after one still waiting to be split waits for it);
- before publication: ``numbered`` (a letter is never filed without its number: it waits in ``routed``);
- when the category is settled (routing, a supervisor's decision): ``set_deadline``;
- at publication, in the one write of the PDF before its checksum: ``stamp_registration``;
- once filed: ``after_filing`` (transmission to another administration, or the acknowledgement planned
  and sent when due; failures are recorded, never raised).
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path

from ..config import Config
from ..records import ROUTE_SUPERVISOR, Document
from ..store import Store
from .acknowledgement import Acknowledger
from .deadlines import calendar_for, processing_deadline
from .numbers import register_pending
from .stamp import add_stamp
from .transmission import transmit

log = logging.getLogger("mailroom")


def register(config: Config, store: Store) -> None:
    register_pending(config, store)


def numbered(config: Config, store: Store, doc: Document) -> bool:
    """Whether the letter has its number (given now if its turn has come); without one it is not filed yet."""
    if doc.registration is None:
        register_pending(config, store)
        doc.registration = (store.get_document(doc.id) or doc).registration
    return doc.registration is not None


def set_deadline(config: Config, doc: Document) -> Document:
    category = config.categories.get(doc.category or "")
    if category is not None:
        urgent = bool(doc.fields.get("urgent"))
        doc.deadline = processing_deadline(doc.received_at, category, urgent, calendar_for(config)).isoformat()
    return doc


def stamp_registration(config: Config, store: Store, doc: Document, pdf) -> None:
    """Add the registration stamp to the open PDF that will be published (in the one write after routing);
    when stamping fails the letter is filed all the same, without it."""
    if config.registration.stamp and doc.registration:
        try:
            add_stamp(pdf, doc, config)
        except Exception as error:
            log.exception("%s cannot be stamped", doc.id)
            store.journal("stamp-failed", doc.input_id, doc.id, error=f"{error.__class__.__name__}: {error}")


def after_filing(config: Config, store: Store, doc: Document, filed_pdf: Path, actor: str = "mailroom") -> None:
    """Mail for another administration is passed on (L114-2); the rest is acknowledged as its category says."""
    category = config.categories.get(doc.category or "")
    if category is not None and category.transmit:
        try:
            transmit(config, store, doc, filed_pdf, actor)
        except Exception as error:  # filed all the same; shown in the journal and the register
            log.exception("%s could not be transmitted", doc.id)
            store.journal("transmission-failed", doc.input_id, doc.id, actor, error=str(error))
        return
    try:
        acknowledger = Acknowledger(config, store)
        doc = acknowledger.plan(doc, reviewed=doc.route_source == ROUTE_SUPERVISOR, actor=actor)
        ack = doc.acknowledgement
        if ack.get("state") == "pending" and datetime.fromisoformat(ack["due_at"]) <= datetime.now(timezone.utc):
            acknowledger.deliver(doc.id, actor)
    except Exception:  # filing is done; the acknowledgement is retried by `serve`
        log.exception("acknowledgement of %s could not be prepared", doc.id)
