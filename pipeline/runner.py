"""Runs the stages over a local process pool and keeps the state database up to date.

Heavy, pure work (validation + splitting of an input, OCR of one page) runs in
worker processes; everything that touches the database or the destination runs
here, in the coordinating process. Each stage ends with a journal event in the
same transaction as the state change, so a restart resumes after the last one.
"""
from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from .config import Config
from .files import sha256_file
from .ingest import BadInput, Source, open_source
from .publish import PublishError, make_publisher
from .quarantine import quarantine_input
from .registration import steps as registration
from .records import (CLASSIFIED, DUPLICATE, FINAL_STATES, OCR_DONE, PUBLISH_FAILED, PUBLISHED, QUARANTINED,
                      REJECTED, REVIEW, ROUTE_SUPERVISOR, ROUTED, SPLIT, Candidate, Document)
from .route import route, send_to
from .store import InputRow, Store, now_iso

log = logging.getLogger("mailroom")
MAX_ATTEMPTS = 3  # unexpected failures of one input before it is quarantined


class DecisionError(ValueError):
    """A supervisor's decision cannot be applied; the message is for the supervisor (French)."""


# -- work done in worker processes ----------------------------------------------------------

def split_task(path: str, mode: str, config: Config):
    """Validate one input and cut it into documents. Runs in a worker."""
    from .split import plan_documents

    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    source = open_source(Path(path), config.ingest)
    return source, plan_documents(source, mode, config)


def ocr_task(source: Source, page: int, config: Config, workdir: str):
    from .ocr import ocr_page

    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    return ocr_page(source, page, config, Path(workdir))


def _worker_init() -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"


# -- the coordinator ----------------------------------------------------------------------------

@dataclass
class _OcrJob:
    doc: Document
    source: Source
    pending: dict[Future, int] = field(default_factory=dict)
    results: dict[int, object] = field(default_factory=dict)


Progress = Callable[["Pipeline"], None]


class Pipeline:
    def __init__(self, config: Config, store: Store, workers: int | None = None):
        self.config = config
        self.store = store
        self.workers = workers or config.runner.worker_count
        self._executor: ProcessPoolExecutor | None = None
        self._publisher = None
        self._splits: dict[Future, str] = {}          # future -> input id
        self._ocr_jobs: dict[str, _OcrJob] = {}      # document id -> job
        self._page_futures: dict[Future, str] = {}   # future -> document id
        self.pages_total = 0
        self.pages_done = 0
        self.touched: list[str] = []                  # input ids handled by this pipeline, in order

    # -- pool --------------------------------------------------------------------------------
    @property
    def executor(self) -> ProcessPoolExecutor:
        if self._executor is None:
            context = multiprocessing.get_context("forkserver")
            self._executor = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_worker_init)
        return self._executor

    def shutdown(self, wait_for_running: bool = True) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=wait_for_running, cancel_futures=True)
            self._executor = None

    @property
    def publisher(self):
        if self._publisher is None:
            self._publisher = make_publisher(self.config)
        return self._publisher

    @property
    def busy(self) -> bool:
        return bool(self._splits or self._page_futures)

    # -- entry points --------------------------------------------------------------------------
    def submit(self, input_id: str) -> None:
        """Start (or resume) the work on one input, from whatever stage it reached."""
        row = self.store.get_input(input_id)
        if row is None:
            raise KeyError(input_id)
        if input_id not in self.touched:
            self.touched.append(input_id)
        if row.state == "received":
            if input_id in self._splits.values():
                return
            future = self.executor.submit(split_task, row.spool_path, row.split_mode, self.config)
            self._splits[future] = input_id
        elif row.state == "duplicate":
            self._record_duplicate(row)
        elif row.state == "split":
            for doc in self.store.documents(input_id=input_id):
                self._advance_safely(doc)
            self._finish_input_if_done(input_id)

    def resume(self) -> list[str]:
        """After a restart: every input and document that had not reached the end goes on."""
        pending = [row.id for row in self.store.inputs("received", "split", "duplicate")]
        for input_id in pending:
            self.submit(input_id)
        return pending

    def step(self, timeout: float | None = None) -> None:
        """Wait for some worker results (at most ``timeout`` s) and move their documents on."""
        futures = list(self._splits) + list(self._page_futures)
        if not futures:
            return
        done, _ = wait(futures, timeout=timeout, return_when=FIRST_COMPLETED)
        for future in done:  # a broken pool may have dropped the others meanwhile
            if future in self._splits:
                self._split_done(future, self._splits.pop(future))
            elif future in self._page_futures:
                self._page_done(future, self._page_futures.pop(future))

    def run_until_idle(self, progress: Progress | None = None) -> None:
        while self.busy:
            self.step(timeout=0.5)
            if progress:
                progress(self)

    # -- split ---------------------------------------------------------------------------------
    def _split_done(self, future: Future, input_id: str) -> None:
        row = self.store.get_input(input_id)
        try:
            source, result = future.result()
        except BadInput as error:
            quarantine_input(self.config, self.store, row, error.reason)
            return
        except BrokenProcessPool:
            self._restart_pool_and_resubmit(input_id)
            return
        except Exception as error:  # a bug or an environment problem: retry, then quarantine
            self._failed_attempt(row, error)
            return
        if not result.plans:
            quarantine_input(self.config, self.store, row,
                             f"aucun courrier dans ce lot : {result.reason} ; vérifier que le bon côté a été "
                             "numérisé et que le lot ne contient pas que des feuilles de séparation")
            return
        documents = []
        for number, plan in enumerate(result.plans, start=1):
            documents.append(Document(
                id=f"{row.id}-{number:02d}", input_id=row.id, source=row.original_name, source_sha256=row.sha256,
                source_pages=plan.source_pages, dropped_pages=plan.dropped_pages, received_at=row.received_at,
                inbox=row.inbox, batch=row.id, category=plan.category, route_source=plan.route_source,
                confidence=1.0 if plan.category else None))
        self.store.create_documents(row.id, documents, pages=source.page_count,
                                    dropped=[{"page": page, "why": why} for page, why in result.dropped])
        registration.register(self.config, self.store)
        for doc in documents:
            if doc.route_source:
                self.store.journal("cover-sheet", row.id, doc.id, category=doc.category, route_source=doc.route_source)
            self._start_ocr(doc, source)
        for waiting in self.store.inputs("duplicate"):  # copies that arrived while this one was being split
            if waiting.duplicate_of == row.id:
                self._record_duplicate(waiting)

    def _failed_attempt(self, row: InputRow, error: Exception) -> None:
        attempts = self.store.count_input_attempt(row.id)
        log.exception("input %s failed (attempt %d)", row.id, attempts, exc_info=error)
        self.store.journal("error", row.id, error=f"{error.__class__.__name__}: {error}", attempt=attempts)
        if attempts >= MAX_ATTEMPTS:
            reason = (f"erreur interne répétée ({error.__class__.__name__}: {error}) ; signaler ce fichier à "
                      f"l'équipe technique, puis le relancer avec : mailroom retry {row.id}")
            for doc in self.store.documents(input_id=row.id):
                if doc.state not in FINAL_STATES:
                    doc.state, doc.reason = QUARANTINED, reason
                    self.store.save_document(doc, "quarantined", reason=reason)
            quarantine_input(self.config, self.store, self.store.get_input(row.id), reason)
        else:
            if row.state == "split":
                self.store.set_input_state(row.id, "received")
            self.submit(row.id)

    def _restart_pool_and_resubmit(self, input_id: str) -> None:
        """A worker died (killed, out of memory): the pool is broken; rebuild it and start over."""
        log.warning("worker pool broken; restarting it")
        pending_inputs = {input_id, *self._splits.values(),
                          *(job.doc.input_id for job in self._ocr_jobs.values())}
        self._splits.clear()
        self._page_futures.clear()
        self._ocr_jobs.clear()
        self.shutdown(wait_for_running=False)
        for pending in pending_inputs:
            row = self.store.get_input(pending)
            self._failed_attempt(row, RuntimeError("un processus de traitement s'est arrêté brutalement"))

    # -- OCR -----------------------------------------------------------------------------------
    def _start_ocr(self, doc: Document, source: Source | None = None) -> None:
        if doc.id in self._ocr_jobs:
            return
        if source is None:
            row = self.store.get_input(doc.input_id)
            source = open_source(Path(row.spool_path), self.config.ingest)
        workdir = self.config.work_dir / doc.id
        workdir.mkdir(parents=True, exist_ok=True)
        job = _OcrJob(doc, source)
        for page in doc.source_pages:
            future = self.executor.submit(ocr_task, source, page, self.config, str(workdir))
            job.pending[future] = page
            self._page_futures[future] = doc.id
        self.pages_total += len(doc.source_pages)
        self._ocr_jobs[doc.id] = job

    def _page_done(self, future: Future, doc_id: str) -> None:
        job = self._ocr_jobs.get(doc_id)
        if job is None:
            return
        page = job.pending.pop(future)
        try:
            job.results[page] = future.result()
        except BrokenProcessPool:
            self._restart_pool_and_resubmit(job.doc.input_id)
            return
        except Exception as error:
            for other in job.pending:
                other.cancel()
                self._page_futures.pop(other, None)
            del self._ocr_jobs[doc_id]
            self._failed_attempt(self.store.get_input(job.doc.input_id), error)
            return
        self.pages_done += 1
        if job.pending:
            return
        del self._ocr_jobs[doc_id]
        try:
            doc = self._assemble(job)
        except Exception as error:  # never let one document stop the watcher
            self._failed_attempt(self.store.get_input(job.doc.input_id), error)
            return
        self._advance_safely(doc)

    def _assemble(self, job: _OcrJob) -> Document:
        from .ocr import assemble

        doc = job.doc
        pages = [job.results[p] for p in doc.source_pages]
        doc = assemble(doc, pages, self.config, self.config.work_dir / doc.id / f"{doc.id}.pdf")
        for page in pages:  # the merged PDF holds them now
            if Path(page.pdf) != Path(doc.pdf):
                Path(page.pdf).unlink(missing_ok=True)
        doc.state = OCR_DONE
        self.store.save_document(doc, "ocr-done", pdf=doc.pdf, pdf_sha256=sha256_file(Path(doc.pdf)),
                                 ocr_confidence=doc.ocr_confidence, pages=doc.pages)
        return doc

    def _advance_safely(self, doc: Document) -> None:
        """A failure here must not stop the watcher: the input is retried, then quarantined."""
        try:
            self._advance(doc)
        except Exception as error:
            self._failed_attempt(self.store.get_input(doc.input_id), error)

    # -- classify, route, publish (coordinator) ------------------------------------------------
    def _advance(self, doc: Document) -> None:
        """Move a document on from its current state as far as it can go without a worker."""
        if doc.state == SPLIT:
            self._start_ocr(doc)
            return
        if doc.state == OCR_DONE:
            from .classify import classify_document
            from .ocr import refresh_metadata

            doc = registration.ensure_registered(self.config, self.store, doc)
            doc = classify_document(doc, self.config)
            refresh_metadata(doc, self.config)  # the PDF's subject and keywords say the category now
            doc.state = CLASSIFIED
            self.store.save_document(doc, "classified", category=doc.category, confidence=doc.confidence,
                                     candidates=[c.__dict__ for c in doc.candidates], route_source=doc.route_source)
        if doc.state == CLASSIFIED:
            doc = registration.set_deadline(self.config, route(doc, self.config))
            if doc.state == REVIEW:
                self.store.save_document(doc, "review", reasons=doc.review_reasons, category=doc.category,
                                         confidence=doc.confidence)
                log.info("%s (%s) waits for review: %s", doc.id, doc.source, "; ".join(doc.review_reasons))
            else:
                self.store.save_document(doc, "routed", library=doc.library, folder=doc.folder)
        if doc.state in (ROUTED, PUBLISH_FAILED):
            self.publish(doc)
        self._finish_input_if_done(doc.input_id)

    def publish(self, doc: Document, actor: str = "mailroom") -> Document:
        category = self.config.categories[doc.category]
        filed_pdf = registration.publishable_pdf(self.config, self.store, doc)
        try:
            result = self.publisher.publish(doc, filed_pdf, category)
        except PublishError as error:
            doc.attempts += 1
            doc.state, doc.reason = PUBLISH_FAILED, str(error)
            delay = min(60 * 2 ** (doc.attempts - 1), 3600)
            doc.retry_after = (datetime.now(timezone.utc) + timedelta(seconds=delay)).isoformat()
            self.store.save_document(doc, "publish-failed", actor, error=str(error), attempt=doc.attempts,
                                     transient=error.transient)
            log.warning("%s could not be published (attempt %d, next after %s): %s", doc.id, doc.attempts,
                        doc.retry_after, error)
            return doc
        doc.retry_after = None
        doc.state, doc.reason, doc.destination = PUBLISHED, None, result.destination
        self.store.save_document(doc, "published", actor, destination=result.destination,
                                 already_there=result.already_there, pdf_sha256=sha256_file(Path(doc.pdf)))
        log.info("%s (%s, %d p.) published: %s", doc.id, doc.source, doc.pages, result.destination)
        self._finish_input_if_done(doc.input_id)
        registration.after_filing(self.config, self.store, doc, filed_pdf, actor)
        return self.store.get_document(doc.id)

    def retry_due_publications(self) -> int:
        """Automatic retry of failed publications whose back-off delay has passed."""
        now = datetime.now(timezone.utc)
        retried = 0
        for doc in self.store.documents(PUBLISH_FAILED):
            if doc.retry_after and datetime.fromisoformat(doc.retry_after) > now:
                continue
            self.publish(doc)
            retried += 1
        return retried

    # -- inputs that are done ------------------------------------------------------------------
    def _record_duplicate(self, row: InputRow) -> None:
        if self.store.documents(input_id=row.id):
            return
        originals = self.store.documents(input_id=row.duplicate_of)
        if not originals:
            return  # the original is still being split; the next resume will record this one
        mirrors = []
        for number, original in enumerate(originals, start=1):
            mirrors.append(Document(
                id=f"{row.id}-{number:02d}", input_id=row.id, source=row.original_name, source_sha256=row.sha256,
                source_pages=original.source_pages, received_at=row.received_at, inbox=row.inbox, batch=row.id,
                state=DUPLICATE, pdf=original.pdf, category=original.category, confidence=original.confidence,
                candidates=[Candidate(c.category, c.probability) for c in original.candidates],
                destination=original.destination, duplicate_of=original.id,
                reason=f"doublon de {original.id} (même empreinte SHA-256)"))
        self.store.create_documents(row.id, mirrors, duplicate_of=row.duplicate_of)
        self._archive(row, "duplicate")

    def _finish_input_if_done(self, input_id: str) -> None:
        row = self.store.get_input(input_id)
        if row is None or row.state != "split":
            return
        documents = self.store.documents(input_id=input_id)
        if documents and all(doc.state in FINAL_STATES for doc in documents):
            self._archive(row, "done")

    def _archive(self, row: InputRow, state: str) -> None:
        """The original scan leaves the spool only once every document made from it is settled."""
        spooled = Path(row.spool_path)
        received = datetime.fromisoformat(row.received_at)
        target = self.config.home / "archive" / f"{received:%Y-%m}" / spooled.name
        if spooled.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(spooled, target)
        self.store.set_input_state(row.id, state, event="archived", spool_path=str(target))

    # -- supervisors' decisions ------------------------------------------------------------------
    def review_decision(self, document_id: str, category: str, fields: dict, actor: str) -> Document:
        doc = self.store.get_document(document_id)
        if doc is None or doc.state != REVIEW:
            raise DecisionError("ce document n'est pas (ou plus) en attente de vérification")
        if category not in self.config.categories:
            raise DecisionError(f"catégorie inconnue : « {category} »")
        before = {"category": doc.category, "confidence": doc.confidence, "fields": dict(doc.fields)}
        doc.category, doc.confidence, doc.route_source = category, 1.0, ROUTE_SUPERVISOR
        doc.fields.update(fields)
        doc.review_reasons = []
        doc = registration.set_deadline(self.config, send_to(doc, self.config.categories[category]))
        from .ocr import refresh_metadata
        refresh_metadata(doc, self.config)
        self.store.save_document(doc, "reviewed", actor, before=before,
                                 after={"category": category, "fields": doc.fields})
        self.store.add_example(category, doc.text, "supervisor", doc.id, actor)
        return self.publish(doc, actor)

    def reject_document(self, document_id: str, reason: str, actor: str) -> Document:
        doc = self.store.get_document(document_id)
        if doc is None or doc.state != REVIEW:
            raise DecisionError("ce document n'est pas (ou plus) en attente de vérification")
        reason = reason.strip() or "rejeté par un superviseur : ce n'est pas du courrier"
        target_dir = self.config.quarantine_dir
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / f"{doc.id}.pdf"
        target.with_name(target.name + ".reason.txt").write_text(
            f"Document {doc.id} rejeté par {actor} le {now_iso()}.\n\nRaison : {reason}\n\n"
            f"Fichier d'origine : {doc.source} (pages {doc.source_pages})\n", encoding="utf-8")
        if doc.pdf and Path(doc.pdf).exists():
            shutil.copyfile(doc.pdf, target)
        doc.state, doc.reason = REJECTED, reason
        self.store.save_document(doc, "rejected", actor, reason=reason, copy=str(target))
        self._finish_input_if_done(doc.input_id)
        return doc


# Module-level helpers for the review app: one call per decision, with its own short-lived pipeline.
def review_decision(config: Config, store: Store, document_id: str, category: str, fields: dict, actor: str) -> Document:
    return Pipeline(config, store, workers=1).review_decision(document_id, category, fields, actor)


def reject_document(config: Config, store: Store, document_id: str, reason: str, actor: str) -> Document:
    return Pipeline(config, store, workers=1).reject_document(document_id, reason, actor)
