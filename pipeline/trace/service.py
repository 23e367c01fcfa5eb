"""What `serve` does for the reliable copy, between two looks at the inboxes: timestamps that
are due again, the daily seal, the nightly verify of the day's documents, old work/ files."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from ..config import Config
from ..store import Store
from .retention import purge
from .stamp import retry_due_timestamps, retry_seal_timestamps, seal_due, seal_journal
from .verify import verify

log = logging.getLogger("mailroom")
TICK_SECONDS = 60.0


def day_documents(store: Store, now: datetime) -> list[str]:
    """Documents published (or re-fingerprinted) in the 24 hours before ``now``."""
    since = now - timedelta(days=1)
    ids = []
    for kind in ("published", "fingerprint-changed"):
        for event in store.events(kind=kind):
            if event.document_id and datetime.fromisoformat(event.at).astimezone() >= since \
                    and event.document_id not in ids:
                ids.append(event.document_id)
    return ids


def nightly_verify_due(config: Config, store: Store, now: datetime) -> bool:
    if now.hour < config.trace.verify_hour:
        return False
    last = [e for e in store.events(kind="verified") if e.details.get("nightly")]
    return not last or last[-1].details.get("day", "") < now.date().isoformat()


class TraceService:
    def __init__(self, config: Config, store: Store, every: float = TICK_SECONDS):
        self.config, self.store, self.every = config, store, every
        self._last = float("-inf")

    def tick(self, now: datetime | None = None, force: bool = False) -> None:
        """Cheap unless something is due; never raises (the watcher must go on)."""
        if not self.config.trace.enabled or (not force and time.monotonic() - self._last < self.every):
            return
        self._last = time.monotonic()
        now = (now or datetime.now()).astimezone()
        for step in (self._timestamps, self._seal, self._nightly, self._work):
            try:
                step(now)
            except Exception:  # a failing proof step is logged and tried again at the next tick
                log.exception("reliable copy: %s failed", step.__name__.strip("_"))

    def _timestamps(self, now: datetime) -> None:
        retry_due_timestamps(self.config, self.store, now)
        retry_seal_timestamps(self.config, self.store)

    def _seal(self, now: datetime) -> None:
        if seal_due(self.store, now):
            seal_journal(self.config, self.store, now)

    def _nightly(self, now: datetime) -> None:
        if not nightly_verify_due(self.config, self.store, now):
            return
        ids = day_documents(self.store, now)
        remote = self.config.publish.backend == "sharepoint"  # the copy agents read is the one checked
        report = verify(self.config, self.store, ids, remote=remote, record=False) if ids else None
        problems = report.problems if report else []
        self.store.record_checks(report.per_document() if report else {}, scope="day", nightly=True,
                                 day=now.date().isoformat())
        for problem in problems:
            log.error("verify: %s", problem.line())
        log.info("nightly verify: %d document(s), %d problem(s)", len(ids), len(problems))

    def _work(self, now: datetime) -> None:
        for removal in purge(self.config, self.store, now=now, work_only=True):
            log.info("removed %s", removal.line())
