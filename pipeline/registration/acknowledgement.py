"""Acknowledgements of receipt: which letters get one, through which channel, and sending them once.

A letter routed to a category whose ``acknowledge`` is not "none" gets an
acknowledgement planned (``pending``) when it is filed: due after
``acknowledgement.delay_minutes`` when the machine routed it, at once after a
supervisor's decision. Until it goes, a supervisor may cancel it or force it.
It goes by e-mail when the sender's own address was read in the letter's header
or signature (never the département's, never one only quoted in the body), else
into the day's print batch ``home/acknowledgements/YYYY-MM-DD.pdf``.

States: pending → sending → sent (e-mail) | batched (paper); failed (retried with
back-off), cancelled, unconfirmed. ``sending`` is committed before the SMTP
transaction: if the process dies after the server accepted the message but
before ``sent`` is committed, the letter is found in ``sending`` on restart and
marked ``unconfirmed`` instead of being sent a second time (shown by ``status``).
Nothing here can stop a letter from being filed: every failure is recorded.
"""
from __future__ import annotations

import io
import logging
import re
from contextlib import ExitStack
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pikepdf

from ..config import Config
from ..files import write_atomically
from ..records import PUBLISHED, Document
from ..store import Store
from . import mailer
from .deadlines import arrival_date, implicit_decision_date
from .letter import LetterFacts, render_letter

log = logging.getLogger("mailroom")
OPEN_STATES = ("pending", "failed")
POSTCODE_TOWN = re.compile(r"\b\d{5}\s+[A-ZÉÈa-zéèêàç'\- ]{2,}$")
OBJECT_LINE = re.compile(r"^\s*(?:objet|obj\.)\s*:\s*(.+)$", re.I | re.M)
HEADER_LINES, SIGNATURE_LINES = 15, 10


def _now() -> datetime:
    return datetime.now(timezone.utc)


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

    # -- planning ------------------------------------------------------------------------------
    def plan(self, doc: Document, reviewed: bool, actor: str = "mailroom") -> Document:
        """Called once the letter is filed: what its category says, unless a supervisor cancelled or forced it."""
        state = doc.acknowledgement.get("state")
        forced = state == "pending" and doc.acknowledgement.get("forced") and not doc.acknowledgement.get("kind")
        if state not in (None, "none") and not forced:
            return doc
        category = self.config.categories.get(doc.category or "")
        kind = category.acknowledge if category else "none"
        if forced and kind == "none":
            kind = "simple"
        if kind == "none" or category is None or not category.service_address.strip():
            doc.acknowledgement = {"channel": "none", "state": "none"}
            self.store.save_document(doc, "acknowledgement-none" if forced else None, actor,
                                     note="la catégorie n'a pas d'adresse de service (R112-5)" if forced else None)
            return doc
        delay = 0 if reviewed or forced else self.config.acknowledgement.delay_minutes
        due = _now() + timedelta(minutes=delay)
        email = sender_email(doc, self.config) if self.config.acknowledgement.smtp_host else None
        doc.acknowledgement = {"kind": kind, "channel": "email" if email else "paper", "to": email,
                               "state": "pending", "due_at": due.isoformat(), "attempts": 0, "file": None,
                               "sent_at": None, "forced": bool(forced)}
        self.store.save_document(doc, "acknowledgement-planned", actor, acknowledge=kind,
                                 channel=doc.acknowledgement["channel"], to=email, due_at=due.isoformat())
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

    # -- delivery --------------------------------------------------------------------------------
    def send_due(self) -> int:
        """Deliver every due acknowledgement of a filed letter; settle those a crash left in ``sending``."""
        now, done = _now(), 0
        for doc in self.store.documents(PUBLISHED):
            ack = doc.acknowledgement
            if ack.get("state") == "sending":
                self._recover(doc)
            elif ack.get("state") in OPEN_STATES:
                when = ack.get("retry_after") if ack["state"] == "failed" else ack.get("due_at")
                if when and datetime.fromisoformat(when) > now:
                    continue
                self.deliver(doc.id)
                done += 1
        return done

    def _recover(self, doc: Document) -> None:
        started = datetime.fromisoformat(doc.acknowledgement.get("started_at") or _now().isoformat())
        if _now() - started < timedelta(seconds=3 * self.config.acknowledgement.smtp_timeout_seconds + 30):
            return  # another worker may be sending it right now
        if doc.acknowledgement.get("channel") == "paper":  # writing the batch again is harmless
            self.store.update_acknowledgement(doc.id, ("sending",), {"state": "pending"}, "acknowledgement-resumed")
        else:
            self.store.update_acknowledgement(
                doc.id, ("sending",), {"state": "unconfirmed"}, "acknowledgement-unconfirmed",
                note="interrompu pendant l'envoi : le message est peut-être parti ; vérifier avant de forcer")

    def deliver(self, document_id: str, actor: str = "mailroom") -> Document | None:
        doc = self.store.update_acknowledgement(document_id, OPEN_STATES,
                                                {"state": "sending", "started_at": _now().isoformat()})
        if doc is None:
            return None  # someone else has it, or it was cancelled meanwhile
        ack = doc.acknowledgement
        try:
            pdf = self.render(doc)
        except Exception as error:  # never let one letter stop the others
            log.exception("acknowledgement of %s cannot be written", doc.id)
            return self._failed(doc, f"{error.__class__.__name__}: {error}", transient=False)
        if ack["channel"] == "email":
            try:
                mailer.send(self.config.acknowledgement, self._message(doc, pdf))
            except mailer.SendError as error:
                return self._failed(doc, str(error), error.transient, pdf)
            return self.store.update_acknowledgement(
                doc.id, ("sending",), {"state": "sent", "sent_at": _now().isoformat(), "file": str(pdf),
                                       "error": None}, "acknowledgement-sent", actor, channel="email",
                to=ack["to"], file=str(pdf))
        batch = self.add_to_batch(pdf)
        return self.store.update_acknowledgement(
            doc.id, ("sending",), {"state": "batched", "sent_at": _now().isoformat(), "file": str(pdf),
                                   "batch": str(batch), "error": None}, "acknowledgement-sent", actor,
            channel="paper", file=str(pdf), batch=str(batch))

    def _failed(self, doc: Document, error: str, transient: bool, pdf: Path | None = None) -> Document | None:
        attempts = int(doc.acknowledgement.get("attempts") or 0) + 1
        if doc.acknowledgement["channel"] == "email" and pdf is not None and (
                not transient or attempts >= self.config.acknowledgement.max_attempts):
            # The address is refused or the server stays away: the letter goes by post instead.
            batch = self.add_to_batch(pdf)
            return self.store.update_acknowledgement(
                doc.id, ("sending",), {"state": "batched", "channel": "paper", "sent_at": _now().isoformat(),
                                       "file": str(pdf), "batch": str(batch), "attempts": attempts,
                                       "error": error}, "acknowledgement-sent", channel="paper",
                file=str(pdf), batch=str(batch), after_error=error)
        delay = min(60 * 2 ** (attempts - 1), 3600)
        retry = (_now() + timedelta(seconds=delay)).isoformat()
        log.warning("acknowledgement of %s failed (attempt %d, next after %s): %s", doc.id, attempts, retry, error)
        return self.store.update_acknowledgement(
            doc.id, ("sending",), {"state": "failed", "attempts": attempts, "retry_after": retry, "error": error},
            "acknowledgement-failed", error=error, attempt=attempts)

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
        day = doc.acknowledgement.get("day") or date.today().isoformat()
        target = self.directory / day / f"{doc.registration or doc.id}.pdf"
        if not target.exists():
            write_atomically(target, render_letter(self.facts(doc)))
        return target

    def add_to_batch(self, pdf: Path) -> Path:
        """Rebuild the day's print batch from that day's paper acknowledgements, in number order."""
        day_dir = pdf.parent
        batch = self.directory / f"{day_dir.name}.pdf"
        paper = {Path(d.acknowledgement["file"]) for d in self.store.documents()
                 if d.acknowledgement.get("channel") == "paper" and d.acknowledgement.get("file")}
        members = sorted({p for p in paper if p.parent == day_dir and p.exists()} | {pdf})
        with ExitStack() as stack, pikepdf.new() as merged:
            for member in members:
                merged.pages.extend(stack.enter_context(pikepdf.open(member)).pages)
            buffer = io.BytesIO()
            merged.save(buffer, deterministic_id=True)
        write_atomically(batch, buffer.getvalue())
        return batch

    def _message(self, doc: Document, pdf: Path):
        facts = self.facts(doc)
        body = (f"Madame, Monsieur,\n\nVeuillez trouver ci-joint l'accusé de réception de votre courrier reçu le "
                f"{facts.received:%d/%m/%Y}, enregistré sous le numéro {facts.number}.\n\n"
                f"Service chargé de votre dossier : {facts.category.service_name}\n"
                f"{facts.category.service_address}\n{facts.category.service_phone}\n{facts.category.service_email}\n\n"
                f"{self.config.registration.organisation}\n")
        key = getattr(doc, "uid", None) or doc.id
        return mailer.build_message(self.config.acknowledgement, key, doc.acknowledgement["to"],
                                    f"Accusé de réception — {facts.number}", body, pdf.read_bytes(), pdf.name)


def _french(iso: str | None) -> str | None:
    try:
        return f"{date.fromisoformat(iso):%d/%m/%Y}" if iso else None
    except ValueError:
        return iso
