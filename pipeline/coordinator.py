"""The coordinator: sends heavy work to an executor and runs the stages on what comes back.

Only the executor interface is used (``submit_split``, ``submit_ocr``,
``WorkerLost``, ``shutdown``), so a local pool and a distributed backend are
interchangeable. Everything that touches the database or the destination runs
here, through ``stages``. A failure is retried from the last completed stage
(pages already OCRed are kept), then the input is quarantined.
"""
from __future__ import annotations

import logging
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from . import stages
from .errors import BadInput, CodedError, WorkerLost
from .ingest import open_source
from .quarantine import complete_rejections, quarantine_documents, quarantine_input
from .records import PUBLISH_FAILED, REGISTERED, ROUTED, SPLIT, Document, InputState
from .registration import steps as registration
from .stages import StageContext
from .store import InputRow

log = logging.getLogger("mailroom")
MAX_ATTEMPTS = 3  # unexpected failures of one input before it is quarantined
COORDINATOR_STOPS = frozenset({SPLIT})  # OCR goes to the executor
STALE_SPLIT_SECONDS = 60.0  # a scan left unsplit this long (its process died) is split by whoever waits for it
ORPHAN_SECONDS = 60.0       # a letter numbered this long ago and still not filed is filed by `serve`


@dataclass
class _OcrJob:
    doc: Document
    pending: dict[Future, int] = field(default_factory=dict)
    results: dict[int, object] = field(default_factory=dict)


Progress = Callable[["Coordinator"], None]


class Coordinator:
    def __init__(self, context: StageContext, executor):
        self.ctx = context
        self.config, self.store = context.config, context.store
        self.executor = executor
        self._splits: dict[Future, str] = {}          # future -> input id
        self._ocr_jobs: dict[str, _OcrJob] = {}      # document id -> job
        self._page_futures: dict[Future, str] = {}   # future -> document id
        self.pages_total = 0
        self.pages_done = 0
        self.touched: list[str] = []                  # input ids handled here, in order
        self._awaiting: set[str] = set()             # routed documents waiting for their registration number

    @property
    def busy(self) -> bool:
        return bool(self._splits or self._page_futures or self._awaiting)

    def shutdown(self, wait_for_running: bool = True) -> None:
        self.executor.shutdown(wait=wait_for_running)

    # -- entry points --------------------------------------------------------------------------
    def submit(self, input_id: str) -> None:
        """Start (or resume) the work on one input, from whatever stage it reached."""
        row = self.store.get_input(input_id)
        if row is None:
            raise KeyError(input_id)
        if input_id not in self.touched:
            self.touched.append(input_id)
        if row.state == InputState.RECEIVED:
            if input_id in self._splits.values():
                return
            future = self.executor.submit_split(row.spool_path, row.split_mode, self.config, key=row.id)
            self._splits[future] = input_id
        elif row.state == InputState.DUPLICATE:
            stages.record_duplicate(row, self.ctx)
        elif row.state == InputState.SPLIT:
            for listed in self.store.documents(input_id=input_id):
                doc = self.store.get_document(listed.id)  # an earlier one may have failed and changed things
                if self.store.get_input(input_id).state != InputState.SPLIT:
                    return
                self._advance_safely(doc)
            stages.finish_input(input_id, self.ctx)

    def resume(self) -> list[str]:
        """After a restart: every input and document that had not reached the end goes on."""
        complete_rejections(self.config, self.store)
        pending = [row.id for row in self.store.inputs(InputState.RECEIVED, InputState.SPLIT, InputState.DUPLICATE)]
        for input_id in pending:
            self.submit(input_id)
        return pending

    def step(self, timeout: float | None = None) -> None:
        """Wait for some worker results (at most ``timeout`` s) and move their documents on."""
        futures = list(self._splits) + list(self._page_futures)
        if futures:
            done, _ = wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in done:  # a lost worker may have dropped the others meanwhile
                if future in self._splits:
                    self._split_done(future, self._splits.pop(future))
                elif future in self._page_futures:
                    self._page_done(future, self._page_futures.pop(future))
        elif self._awaiting:
            time.sleep(min(timeout if timeout is not None else 0.5, 0.5))
        self._release_awaiting()

    # -- registration: a letter is filed only with its number, numbers go in claim order ---------------
    def _release_awaiting(self) -> None:
        """File the letters whose number has come; split a scan they wait for if its process died."""
        if not self._awaiting:
            return
        registration.register(self.config, self.store)
        for doc_id in sorted(self._awaiting):
            doc = self.store.get_document(doc_id)
            if doc is None or doc.state != ROUTED or doc.registration:
                self._awaiting.discard(doc_id)
                if doc is not None and doc.state == ROUTED:
                    self._advance_safely(doc)
        blocker = self.store.registration_blocker()
        if self._awaiting and blocker and blocker[0] not in self._splits.values():
            age = datetime.now(timezone.utc) - datetime.fromisoformat(blocker[1])
            if age.total_seconds() >= STALE_SPLIT_SECONDS:
                log.warning("numbering waits for %s, left unsplit since %s: splitting it here", *blocker)
                self.submit(blocker[0])

    def _orphans(self) -> list[Document]:
        """Letters numbered after they were routed whose process did not file them (a supervisor's decision
        taken while an earlier scan was unsplit, a process gone): filed by `serve`."""
        now, found = datetime.now(timezone.utc), []
        for doc in self.store.documents(ROUTED):
            if not doc.registration or doc.id in self._awaiting:
                continue
            last = self.store.events(document_id=doc.id)[-1]
            if last.kind == REGISTERED and now - datetime.fromisoformat(last.at) >= timedelta(seconds=ORPHAN_SECONDS):
                found.append(doc)
        return found

    def run_until_idle(self, progress: Progress | None = None) -> None:
        while self.busy:
            self.step(timeout=0.5)
            if progress:
                progress(self)

    def retry_due_publications(self) -> int:
        """Automatic retry of failed publications whose back-off delay has passed."""
        now = datetime.now(timezone.utc)
        retried = 0
        for doc in self.store.documents(PUBLISH_FAILED):
            if doc.retry_after and datetime.fromisoformat(doc.retry_after) > now:
                continue
            self.publish(doc)
            retried += 1
        for doc in self._orphans():
            self.publish(doc)
            retried += 1
        return retried

    def publish(self, doc: Document, actor: str = "mailroom") -> Document:
        ctx = self.ctx if actor == self.ctx.actor else self.ctx.acting(actor)
        doc = stages.publish(doc, ctx)
        stages.finish_input(doc.input_id, ctx)
        return doc

    # -- split ---------------------------------------------------------------------------------
    def _split_done(self, future: Future, input_id: str) -> None:
        row = self.store.get_input(input_id)
        if row.state != InputState.RECEIVED:  # another process split or quarantined it meanwhile
            return
        try:
            source, result = future.result()
        except BadInput as error:
            quarantine_input(self.config, self.store, row, error)
            return
        except WorkerLost:
            self._worker_lost(input_id)
            return
        except Exception as error:  # a bug or an environment problem: retry, then quarantine
            self._failed_attempt(row, error)
            return
        if not result.plans:
            quarantine_input(self.config, self.store, row, result.problem)
            return
        for doc in stages.create_documents(row, source, result, self.ctx):
            self._start_ocr(doc, source)
        for waiting in self.store.inputs(InputState.DUPLICATE):  # copies that arrived while this one was split
            if waiting.duplicate_of == row.id:
                stages.record_duplicate(waiting, self.ctx)

    def _failed_attempt(self, row: InputRow, error: Exception) -> None:
        """Retry from the last completed stage; after MAX_ATTEMPTS, quarantine the input and its documents."""
        attempts = self.store.count_input_attempt(row.id)
        log.error("input %s failed (attempt %d)", row.id, attempts, exc_info=error)
        self.store.journal("error", row.id, error=f"{error.__class__.__name__}: {error}",
                           code=getattr(error, "code", "internal"), attempt=attempts)
        if attempts >= MAX_ATTEMPTS:
            reason = CodedError("repeated-internal-error", error=f"{error.__class__.__name__}: {error}", input=row.id)
            quarantine_documents(self.store, row.id, reason)
            quarantine_input(self.config, self.store, self.store.get_input(row.id), reason)
        else:
            self.submit(row.id)

    def _worker_lost(self, input_id: str) -> None:
        """A worker died (killed, out of memory): start over the work in flight, on a fresh pool."""
        log.warning("a worker was lost; restarting the work in flight")
        pending_inputs = {input_id, *self._splits.values(), *(job.doc.input_id for job in self._ocr_jobs.values())}
        self._splits.clear()
        self._page_futures.clear()
        self._ocr_jobs.clear()
        reset = getattr(self.executor, "reset", None)
        if reset is not None:
            reset()
        for pending in pending_inputs:
            row = self.store.get_input(pending)
            self._failed_attempt(row, WorkerLost())

    # -- OCR -----------------------------------------------------------------------------------
    def _start_ocr(self, doc: Document, source=None) -> None:
        if doc.id in self._ocr_jobs:
            return
        job = _OcrJob(doc, results=stages.saved_pages(doc, self.ctx))
        missing = [page for page in doc.source_pages if page not in job.results]
        self._ocr_jobs[doc.id] = job
        if not missing:  # every page was OCRed before a crash or an error
            del self._ocr_jobs[doc.id]
            self._assemble_and_advance(job)
            return
        if source is None:
            source = open_source(Path(self.store.get_input(doc.input_id).spool_path), self.config.ingest)
        workdir = stages.work_dir(doc, self.ctx)
        workdir.mkdir(parents=True, exist_ok=True)
        for page in missing:
            future = self.executor.submit_ocr(source, page, self.config, str(workdir), key=f"{doc.uid}:{page}")
            job.pending[future] = page
            self._page_futures[future] = doc.id
        self.pages_total += len(missing)

    def _page_done(self, future: Future, doc_id: str) -> None:
        job = self._ocr_jobs.get(doc_id)
        if job is None:
            return
        page = job.pending.pop(future)
        try:
            job.results[page] = future.result()
            stages.save_page(job.doc, self.ctx, job.results[page])
        except WorkerLost:
            self._worker_lost(job.doc.input_id)
            return
        except Exception as error:
            for other in job.pending:  # keep what the other workers finished: a retry will not redo it
                if other.done() and not other.cancelled() and other.exception() is None:
                    stages.save_page(job.doc, self.ctx, other.result())
                other.cancel()
                self._page_futures.pop(other, None)
            del self._ocr_jobs[doc_id]
            if isinstance(error, BadInput):  # a page that cannot travel or kills its workers: no retry helps
                quarantine_documents(self.store, job.doc.input_id, error)
                quarantine_input(self.config, self.store, self.store.get_input(job.doc.input_id), error)
            else:
                self._failed_attempt(self.store.get_input(job.doc.input_id), error)
            return
        self.pages_done += 1
        if job.pending:
            return
        del self._ocr_jobs[doc_id]
        self._assemble_and_advance(job)

    def _assemble_and_advance(self, job: _OcrJob) -> None:
        try:
            doc = stages.assemble_document(job.doc, self.ctx, job.results)
        except Exception as error:  # never let one document stop the watcher
            self._failed_attempt(self.store.get_input(job.doc.input_id), error)
            return
        self._advance_safely(doc)

    def _advance_safely(self, doc: Document) -> None:
        """A failure here must not stop the watcher: the input is retried, then quarantined."""
        try:
            if doc.state == SPLIT:
                self._start_ocr(doc)
            else:
                doc = stages.advance(doc, self.ctx, stop_at=COORDINATOR_STOPS)
                if doc.state == ROUTED and not doc.registration:  # an earlier scan is not split yet
                    self._awaiting.add(doc.id)
        except Exception as error:
            self._failed_attempt(self.store.get_input(doc.input_id), error)
