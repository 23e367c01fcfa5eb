"""Acknowledgements of receipt: which letters get one, through which channel, and sending them once.

A letter routed to a category whose ``acknowledge`` is not "none" gets an
acknowledgement planned (``pending``) when it is filed: due after
``acknowledgement.delay_minutes`` when the machine routed it, at once after a
supervisor's decision. Until it goes, a supervisor may cancel it or force it.
It goes by e-mail when the sender's own address was read in the letter's header
or signature (never the département's, never one only quoted in the body), else
into the day's print batch ``home/acknowledgements/YYYY-MM-DD.pdf``.

Sending it, once, with its states (pending → sending → sent | batched…): ``delivery.py``.
Nothing here can stop a letter from being filed: every failure is recorded.
"""
from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

from ..config import Config
from ..files import write_atomically
from ..records import PUBLISHED, Document
from ..store import Store
from . import mailer
from .delivery import OPEN_STATES, Courier, Outgoing, _now, day_folder
from .deadlines import arrival_date, implicit_decision_date
from .letter import LetterFacts, render_letter

POSTCODE_TOWN = re.compile(r"\b\d{5}\s+[A-ZÉÈa-zéèêàç'\- ]{2,}$")
OBJECT_LINE = re.compile(r"^\s*(?:objet|obj\.)\s*:\s*(.+)$", re.I | re.M)
HEADER_LINES, SIGNATURE_LINES = 15, 10


def letter_object(doc: Document) -> str:
    """The letter's « Objet : » line, else its first line of text."""
    match = OBJECT_LINE.search(doc.text or "")
    if match:
        return " ".join(match.group(1).split())[:200]
    first = next((line.strip() for line in (doc.text or "").splitlines() if len(line.strip()) > 3), "")
    return first[:200] or "votre courrier"


def sender_email(doc: Document, config: Config) -> str | None:
    """The sender's own address: read in the header or the signature, not the département's own."""
    own = {d.lower().lstrip("@") for d in config.acknowledgement.own_domains}
    own |= {c.service_email.rpartition("@")[2].lower() for c in config.categories.values() if c.service_email}
    if config.acknowledgement.sender:
        own.add(config.acknowledgement.sender.rpartition("@")[2].lower())
    lines = (doc.text or "").splitlines()
    edges = "\n".join(lines[:HEADER_LINES] + lines[-SIGNATURE_LINES:]).lower()
    for address in doc.fields.get("emails") or []:
        if address.rpartition("@")[2] in own or address not in edges:
            continue
        return address
    return None


def postal_addressee(doc: Document) -> list[str]:
    """Sender then the address lines of the letterhead (up to the « 12345 Ville » line), when they can be found."""
    sender = (doc.fields.get("sender") or "").strip()
    head = [line.strip() for line in (doc.text or "").splitlines()[:HEADER_LINES] if line.strip()]
    for index, line in enumerate(head):
        if POSTCODE_TOWN.search(line):
            start = max(0, index - 2)
            lines = head[start:index + 1]
            if sender and sender in lines[0] and len(lines) > 1:
                lines = lines[1:]
            return [sender or lines[0], *[x for x in lines if x != sender]]
    return [sender or "Expéditeur", "(adresse à compléter à la main)"]


class Acknowledger:
    def __init__(self, config: Config, store: Store):
        self.config = config
        self.store = store
        self.directory = config.home / "acknowledgements"
        self.kind = Outgoing(("acknowledgement",), "acknowledgement", self.directory, self.render, self._message)
        self.courier = Courier(config, store, [self.kind])

    # -- planning ------------------------------------------------------------------------------
    def plan(self, doc: Document, reviewed: bool, actor: str = "mailroom") -> Document:
        """Called once the letter is filed: what its category says, unless a supervisor cancelled or forced it."""
        doc.acknowledgement = (self.store.get_document(doc.id) or doc).acknowledgement  # a cancel may have come
        state = doc.acknowledgement.get("state")
        forced = state == "pending" and doc.acknowledgement.get("forced") and not doc.acknowledgement.get("kind")
        if state not in (None, "none") and not forced:
            return doc
        category = self.config.categories.get(doc.category or "")
        kind = category.acknowledge if category else "none"
        if forced and kind == "none":
            kind = "simple"
        if kind == "none" or category is None or not category.service_address.strip():
            changes, event = {"channel": "none", "state": "none"}, "acknowledgement-none" if forced else None
            details = {"note": "la catégorie n'a pas d'adresse de service (R112-5)"} if forced else {}
        else:
            delay = 0 if reviewed or forced else self.config.acknowledgement.delay_minutes
            due = _now() + timedelta(minutes=delay)
            email = sender_email(doc, self.config) if self.config.acknowledgement.smtp_host else None
            changes = {"kind": kind, "channel": "email" if email else "paper", "to": email, "state": "pending",
                       "due_at": due.isoformat(), "attempts": 0, "file": None, "sent_at": None,
                       "forced": bool(forced)}
            event, details = "acknowledgement-planned", {"acknowledge": kind, "channel": changes["channel"],
                                                         "to": email, "due_at": due.isoformat()}
        planned = self.store.update_acknowledgement(doc.id, (state,), changes, event, actor, **details)
        planned = planned or self.store.get_document(doc.id)  # lost to a supervisor's cancel: theirs stands
        doc.acknowledgement = planned.acknowledgement if planned else doc.acknowledgement
        return doc

    def cancel(self, document_id: str, actor: str, reason: str = "") -> Document | None:
        """Before it goes: a letter waiting for review, or a filed one whose acknowledgement is not sent yet."""
        return self.store.update_acknowledgement(
            document_id, ("pending", "failed", None, "none"), {"state": "cancelled", "channel": "none"},
            "acknowledgement-cancelled", actor, reason=reason)

    def force(self, document_id: str, actor: str) -> Document | None:
        """Send it now (a filed letter) or as soon as the supervisor decides (a letter in review), even for a
        category that does not acknowledge (then a plain one)."""
        doc = self.store.get_document(document_id)
        if doc is None:
            return None
        state = doc.acknowledgement.get("state")
        if state in (None, "none", "cancelled"):
            changes = {"state": "pending", "forced": True, "kind": None, "due_at": _now().isoformat()}
        elif state in (*OPEN_STATES, "unconfirmed"):  # unconfirmed: someone checked that it did not go
            changes = {"state": "pending", "forced": True, "due_at": _now().isoformat(), "retry_after": None}
        else:
            return None
        doc = self.store.update_acknowledgement(document_id, (state,), changes, "acknowledgement-forced", actor)
        if doc is not None and doc.state == PUBLISHED:
            doc = self.plan(doc, reviewed=True, actor=actor)
            if doc.acknowledgement.get("state") == "pending":
                self.deliver(doc.id, actor)
        return self.store.get_document(document_id)

    # -- delivery (delivery.py) ------------------------------------------------------------------
    def send_due(self) -> int:
        return self.courier.send_due()

    def deliver(self, document_id: str, actor: str = "mailroom") -> Document | None:
        return self.courier.deliver(self.kind, document_id, actor)

    # -- the files ---------------------------------------------------------------------------------
    def facts(self, doc: Document) -> LetterFacts:
        category = self.config.categories[doc.category]
        return LetterFacts(
            kind=doc.acknowledgement.get("kind") or category.acknowledge, organisation=self.config.registration.organisation,
            category=category, number=doc.registration or doc.id, received=arrival_date(doc.received_at),
            implicit_decision=implicit_decision_date(doc.received_at, category),
            deadline=date.fromisoformat(doc.deadline) if doc.deadline else None, object=letter_object(doc),
            letter_date=_french(doc.fields.get("letter_date")), addressee=postal_addressee(doc),
            written=date.today())

    def render(self, doc: Document) -> Path:
        """The acknowledgement's PDF in ``acknowledgements/YYYY-MM-DD/``; written again identically if needed."""
        target = day_folder(self.directory, doc.acknowledgement) / f"{doc.registration or doc.id}.pdf"
        if not target.exists():
            write_atomically(target, render_letter(self.facts(doc)))
        return target

    def _message(self, doc: Document, pdf: Path):
        facts = self.facts(doc)
        body = (f"Madame, Monsieur,\n\nVeuillez trouver ci-joint l'accusé de réception de votre courrier reçu le "
                f"{facts.received:%d/%m/%Y}, enregistré sous le numéro {facts.number}.\n\n"
                f"Service chargé de votre dossier : {facts.category.service_name}\n"
                f"{facts.category.service_address}\n{facts.category.service_phone}\n{facts.category.service_email}\n\n"
                f"{self.config.registration.organisation}\n")
        return mailer.build_message(self.config.acknowledgement, f"accuse-reception.{doc.uid}",
                                    doc.acknowledgement["to"], f"Accusé de réception — {facts.number}", body,
                                    pdf.read_bytes(), pdf.name)


def _french(iso: str | None) -> str | None:
    try:
        return f"{date.fromisoformat(iso):%d/%m/%Y}" if iso else None
    except ValueError:
        return iso
