"""Sending what mailroom writes to people, once: acknowledgements, transmission slips, notices to senders.

Each outgoing letter lives in a dict of the document (``doc.acknowledgement``,
``doc.transmission["slip"]``, ``doc.transmission["notice"]``), changed only through
``Store.update_delivery`` (a compare-and-set on that dict alone, with its journal event).
States: pending → sending → sent (e-mail) | batched (paper); failed (retried with
back-off), cancelled, unconfirmed. ``sending`` is committed before the SMTP
transaction: if the process dies after the server accepted the message but before
``sent`` is committed, the letter is found in ``sending`` and marked ``unconfirmed``
instead of being sent a second time (shown by ``status`` and the dashboard). The
Message-ID is made from the document's uid, so a copy sent by hand is recognisably
the same message. A letter refused by the server, or still failing after
``max_attempts``, goes to the day's print batch instead. Nothing here raises into the
filing of a letter: every failure is recorded.
"""
from __future__ import annotations

import io
import logging
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from email.message import EmailMessage
from pathlib import Path
from typing import Callable

import pikepdf

from ..config import Config
from ..files import write_atomically
from ..records import Document
from ..store import Store
from . import mailer

log = logging.getLogger("mailroom")
OPEN_STATES = ("pending", "failed")
WAITING_STATES = ("pending", "failed", "unconfirmed")  # shown in status and on the dashboard


def _now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class Outgoing:
    """One kind of letter mailroom sends: where its state lives and how it is made."""

    path: tuple[str, ...]                            # ("acknowledgement",) or ("transmission", "slip")
    event: str                                       # journal: <event>-sent, -failed, -unconfirmed, -resumed
    batch_dir: Path                                  # paper: batch_dir/YYYY-MM-DD.pdf, to print and post
    render: Callable[[Document], Path]               # its PDF (written again identically if needed)
    message: Callable[[Document, Path], EmailMessage]

    def of(self, doc: Document) -> dict:
        current = getattr(doc, self.path[0])
        for key in self.path[1:]:
            current = current.get(key) or {}
        return current


class Courier:
    def __init__(self, config: Config, store: Store, kinds: list[Outgoing]):
        self.config, self.store, self.kinds = config, store, kinds
        self.paths = [kind.path for kind in kinds]

    def update(self, kind: Outgoing, doc_id: str, expected: tuple, changes: dict, event: str | None = None,
               actor: str = "mailroom", **details) -> Document | None:
        return self.store.update_delivery(doc_id, kind.path, expected, changes, event, actor, **details)

    def send_due(self) -> int:
        """Deliver every due letter of a filed document; settle those a crash left in ``sending``."""
        now, done = _now(), 0
        for doc in self.store.open_deliveries(self.paths, (*OPEN_STATES, "sending")):
            for kind in self.kinds:
                item = kind.of(doc)
                if item.get("state") == "sending":
                    self._recover(kind, doc)
                elif item.get("state") in OPEN_STATES:
                    when = item.get("retry_after") if item["state"] == "failed" else item.get("due_at")
                    if when and datetime.fromisoformat(when) > now:
                        continue
                    self.deliver(kind, doc.id)
                    done += 1
        return done

    def _recover(self, kind: Outgoing, doc: Document) -> None:
        item = kind.of(doc)
        started = datetime.fromisoformat(item.get("started_at") or _now().isoformat())
        if _now() - started < timedelta(seconds=3 * self.config.acknowledgement.smtp_timeout_seconds + 30):
            return  # another worker may be sending it right now
        if item.get("channel") == "paper":  # writing the batch again is harmless
            self.update(kind, doc.id, ("sending",), {"state": "pending"}, f"{kind.event}-resumed")
        else:
            self.update(kind, doc.id, ("sending",), {"state": "unconfirmed"}, f"{kind.event}-unconfirmed",
                        note="interrompu pendant l'envoi : le message est peut-être parti ; vérifier avant de forcer")

    def deliver(self, kind: Outgoing, document_id: str, actor: str = "mailroom") -> Document | None:
        doc = self.update(kind, document_id, OPEN_STATES, {"state": "sending", "started_at": _now().isoformat()})
        if doc is None:
            return None  # someone else has it, or it was cancelled meanwhile
        item = kind.of(doc)
        try:
            pdf = kind.render(doc)
        except Exception as error:  # never let one letter stop the others
            log.exception("%s of %s cannot be written", kind.event, doc.id)
            return self._failed(kind, doc, f"{error.__class__.__name__}: {error}", transient=False)
        if item["channel"] == "email":
            try:
                mailer.send(self.config.acknowledgement, kind.message(doc, pdf))
            except mailer.SendError as error:
                return self._failed(kind, doc, str(error), error.transient, pdf)
            return self.update(kind, doc.id, ("sending",), {"state": "sent", "sent_at": _now().isoformat(),
                                                            "file": str(pdf), "error": None},
                               f"{kind.event}-sent", actor, channel="email", to=item["to"], file=str(pdf))
        batch = self.add_to_batch(kind, pdf)
        return self.update(kind, doc.id, ("sending",), {"state": "batched", "sent_at": _now().isoformat(),
                                                        "file": str(pdf), "batch": str(batch), "error": None},
                           f"{kind.event}-sent", actor, channel="paper", file=str(pdf), batch=str(batch))

    def _failed(self, kind: Outgoing, doc: Document, error: str, transient: bool,
                pdf: Path | None = None) -> Document | None:
        item = kind.of(doc)
        attempts = int(item.get("attempts") or 0) + 1
        if item["channel"] == "email" and pdf is not None and (
                not transient or attempts >= self.config.acknowledgement.max_attempts):
            # The address is refused or the server stays away: the letter goes by post instead.
            batch = self.add_to_batch(kind, pdf)
            return self.update(kind, doc.id, ("sending",), {
                "state": "batched", "channel": "paper", "sent_at": _now().isoformat(), "file": str(pdf),
                "batch": str(batch), "attempts": attempts, "error": error}, f"{kind.event}-sent",
                channel="paper", file=str(pdf), batch=str(batch), after_error=error)
        delay = min(60 * 2 ** (attempts - 1), 3600)
        retry = (_now() + timedelta(seconds=delay)).isoformat()
        log.warning("%s of %s failed (attempt %d, next after %s): %s", kind.event, doc.id, attempts, retry, error)
        return self.update(kind, doc.id, ("sending",), {"state": "failed", "attempts": attempts,
                                                        "retry_after": retry, "error": error},
                           f"{kind.event}-failed", error=error, attempt=attempts)

    def add_to_batch(self, kind: Outgoing, pdf: Path) -> Path:
        """Rebuild the day's print batch from the letters already in it and this one, in number order."""
        batch = kind.batch_dir / f"{pdf.parent.name}.pdf"
        paths = [other.path for other in self.kinds if other.batch_dir == kind.batch_dir]
        members = sorted({Path(f) for f in self.store.batch_members(paths, str(batch))} | {pdf})
        with ExitStack() as stack, pikepdf.new() as merged:
            for member in members:
                if member.exists():
                    merged.pages.extend(stack.enter_context(pikepdf.open(member)).pages)
            buffer = io.BytesIO()
            merged.save(buffer, deterministic_id=True)
        write_atomically(batch, buffer.getvalue())
        return batch


def day_folder(base: Path, item: dict) -> Path:
    """Where a letter's PDF goes: base/YYYY-MM-DD/ of the day it was first written."""
    return base / (item.get("day") or date.today().isoformat())
