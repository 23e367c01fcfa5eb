"""`mailroom purge`: local copies are removed only when nothing can be lost.

An original scan in ``archive/`` goes once it is older than its categories' ``retention_years``
and every letter cut from it is published, timestamped and was found intact by the last
``mailroom verify``. The ``work/`` intermediates of a finished letter go after
``[trace] work_retention_hours``. Each removal is journaled first; the journal and the proofs stay.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ..config import Config
from ..files import sha256_file
from ..records import FINAL_STATES, PUBLISHED, Document
from ..store import InputRow, Store


@dataclass
class Removal:
    what: str            # "original" | "work"
    subject: str         # input id (original) or document id (work)
    path: Path
    size: int
    reason: str

    def line(self) -> str:
        return f"{self.subject}: {self.what} {self.path} ({self.size / 1e6:.1f} MB): {self.reason}"


def _years_after(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February
        return moment.replace(year=moment.year + years, day=28)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def why_kept(config: Config, documents: list[Document], checks: dict, received: datetime, now: datetime) -> str | None:
    """None when an original may go, else the reason it stays."""
    if not documents:
        return "no letter was made from it"
    for doc in documents:
        if doc.state != PUBLISHED:
            return f"{doc.id} is {doc.state}, not published"
        if not doc.timestamp:
            return f"{doc.id} has no timestamp"
        check = checks.get(doc.id)
        if not check or not check["ok"]:
            return f"{doc.id} was not found intact by mailroom verify" + ("" if check else " (never checked)")
    years = max(config.retention_years_for(doc.category) for doc in documents)
    if now < _years_after(received, years):
        return f"kept {years} years, until {_years_after(received, years):%Y-%m-%d}"
    return None


def plan(config: Config, store: Store, now: datetime | None = None, work_only: bool = False) -> list[Removal]:
    now = (now or datetime.now()).astimezone()
    checks = store.checks()
    purged = {e.input_id for e in store.events(kind="purged") if e.details.get("what") == "original"}
    removals = []
    archive = config.archive_dir.resolve()
    for row in [] if work_only else store.inputs("done", "duplicate"):
        path = Path(row.spool_path)
        if not path.is_file() or not path.resolve().is_relative_to(archive):
            continue
        if row.id in purged:  # journaled by an interrupted purge: finish it
            removals.append(Removal("original", row.id, path, _size(path), "removal already journaled"))
            continue
        documents = _letters_of(store, row)
        if why_kept(config, documents, checks, datetime.fromisoformat(row.received_at).astimezone(), now) is None:
            years = max(config.retention_years_for(d.category) for d in documents)
            removals.append(Removal("original", row.id, path, _size(path),
                                    f"published, timestamped, verified; retention {years} years passed"))
    delay = timedelta(hours=config.trace.work_retention_hours)
    for doc in store.documents(*FINAL_STATES):
        folder = config.work_dir / doc.id
        if not folder.is_dir():
            continue
        if (doc.state == PUBLISHED and config.trace.timestamps and not doc.timestamp
                and config.publish.backend != "local"):
            continue  # the pending timestamp is asked over this copy
        events = store.events(document_id=doc.id)
        finished = datetime.fromisoformat(events[-1].at).astimezone() if events else now
        if now - finished >= delay:
            removals.append(Removal("work", doc.id, folder, _size(folder),
                                    f"{doc.state} for more than {config.trace.work_retention_hours:g} h"))
    return removals


def _letters_of(store: Store, row: InputRow) -> list[Document]:
    """The letters an input holds; for a duplicate, those of the input it repeats."""
    if row.state == "duplicate" and row.duplicate_of:
        return store.documents(input_id=row.duplicate_of)
    return store.documents(input_id=row.id)


def purge(config: Config, store: Store, dry_run: bool = False, now: datetime | None = None,
          work_only: bool = False) -> list[Removal]:
    removals = plan(config, store, now, work_only)
    if dry_run:
        return removals
    for removal in removals:
        if removal.reason != "removal already journaled":
            details = {"what": removal.what, "path": str(removal.path), "bytes": removal.size,
                       "reason": removal.reason}
            if removal.what == "original":
                details["sha256"] = sha256_file(removal.path)
                store.journal("purged", removal.subject, actor="purge", **details)
            else:
                store.journal("purged", store.get_document(removal.subject).input_id, removal.subject,
                              actor="purge", **details)
        if removal.path.is_dir():
            shutil.rmtree(removal.path, ignore_errors=True)
        else:
            removal.path.unlink(missing_ok=True)
    return removals
