"""The stages: small named steps ``stage(doc, ctx) -> doc`` over a document and a context.

Each stage does its work, then moves the document on with ``Store.transition``
(compare-and-set + journal event, one transaction). A stage that loses the race
returns the document as someone else left it and causes nothing else. The
table ``STAGES`` says which stage runs from which state; ``advance`` follows it.

    split ─ ocr ─ classify ─ route ─┬─ publish ─ archive
                                    └─ review (decisions.py) ─ publish

Heavy work (split, page OCR) can run elsewhere: the coordinator sends it to an
executor and hands the results to ``create_documents`` / ``save_page`` /
``assemble_document``; ``ocr`` does the same inline (the fake-OCR tests use it).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable

from .config import Config
from .errors import PublishError
from .files import sha256_file, write_atomically
from .messages import reason_code, say
from .records import (CLASSIFIED, DUPLICATE, FINAL_STATES, OCR_DONE, PUBLISH_FAILED, PUBLISHED, REVIEW, ROUTED,
                      SPLIT, Candidate, Document, DocumentState, InputState, PageResult)
from .registration import steps as registration
from .route import review_reasons, set_destination
from .store import InputRow, Store

log = logging.getLogger("mailroom")
Stage = Callable[[Document, "StageContext"], Document]


@dataclass
class StageContext:
    """What every stage may use: configuration, the store, the (long-lived) publisher, the OCR step."""

    config: Config
    store: Store
    actor: str = "mailroom"
    ocr_page: Callable | None = None          # (source, page, config, workdir) -> PageOcr; None = Tesseract
    _publisher: object = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    publishing: threading.Lock = field(default_factory=threading.Lock)  # one publication at a time per service

    @property
    def publisher(self):
        with self._lock:
            if self._publisher is None:
                from .publish import make_publisher
                self._publisher = make_publisher(self.config)
            return self._publisher

    def acting(self, actor: str) -> "StageContext":
        """The same context (same publisher and caches) on behalf of someone else."""
        self.publisher  # noqa: B018  (made once, shared by both)
        return dataclasses.replace(self, actor=actor)


def _moved(doc: Document, ctx: StageContext, to_state: str, event: str, **details) -> Document:
    """Apply one move; on a lost race, the document as the winner left it (and a log line)."""
    result = ctx.store.transition(doc.id, doc.state, to_state, event, ctx.actor, document=doc, **details)
    if result.ok:
        return result.doc
    log.info("%s: %s → %s not applied, it is %s (by %s at %s)", doc.id, doc.state, to_state,
             result.current_state, result.by, result.at)
    return result.doc if result.doc is not None else doc


# -- split (input level) ------------------------------------------------------------------------

def create_documents(row: InputRow, source, result, ctx: StageContext) -> list[Document]:
    """Turn the splitter's plans into documents (each with its global uid); [] when another run did it."""
    documents = [Document(
        id=f"{row.id}-{number:02d}", input_id=row.id, source=row.original_name, source_sha256=row.sha256,
        source_pages=plan.source_pages, dropped_pages=plan.dropped_pages, received_at=row.received_at,
        inbox=row.inbox, batch=row.id, category=plan.category, route_source=plan.route_source,
        confidence=1.0 if plan.category else None) for number, plan in enumerate(result.plans, start=1)]
    if not ctx.store.create_documents(row.id, documents, pages=source.page_count,
                                      dropped=[{"page": page, "why": why} for page, why in result.dropped]):
        return []
    registration.register(ctx.config, ctx.store)  # numbers, in the order the scans were claimed
    for doc in documents:
        if doc.route_source:
            ctx.store.journal("cover-sheet", row.id, doc.id, category=doc.category, route_source=doc.route_source)
    return documents


# -- OCR ---------------------------------------------------------------------------------------

def work_dir(doc: Document, ctx: StageContext) -> Path:
    return ctx.config.work_dir / doc.id


def _page_file(doc: Document, ctx: StageContext, page: int) -> Path:
    return work_dir(doc, ctx) / f"page-{page:04d}.json"


def save_page(doc: Document, ctx: StageContext, page) -> None:
    """Keep one page's OCR result in work/<doc>/ so that a retry does not OCR it again."""
    data = {"page": page.page, "pdf": str(page.pdf), "text": page.text, "result": dataclasses.asdict(page.result),
            "error": page.error, "seconds": page.seconds}
    write_atomically(_page_file(doc, ctx, page.page), json.dumps(data, ensure_ascii=False).encode())


def saved_pages(doc: Document, ctx: StageContext) -> dict[int, object]:
    """The pages of ``doc`` already OCRed (their one-page PDF still there), by source page number."""
    from .ocr import PageOcr

    done = {}
    for number in doc.source_pages:
        path = _page_file(doc, ctx, number)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if Path(data["pdf"]).is_file():
            known = {f.name for f in dataclasses.fields(PageResult)}
            result = PageResult(**{k: v for k, v in data["result"].items() if k in known})
            done[number] = PageOcr(data["page"], Path(data["pdf"]), data["text"], result, data.get("error"),
                                   data.get("seconds", 0.0))
    return done


def pending_pages(doc: Document, ctx: StageContext) -> list[int]:
    done = saved_pages(doc, ctx)
    return [page for page in doc.source_pages if page not in done]


def assemble_document(doc: Document, ctx: StageContext, pages: dict[int, object]) -> Document:
    """All pages OCRed: one searchable PDF for the document, then split → ocr-done."""
    from .ocr import assemble

    ordered = [pages[p] for p in doc.source_pages]
    doc = assemble(doc, ordered, ctx.config, work_dir(doc, ctx) / f"{doc.id}.pdf")
    doc = _moved(doc, ctx, OCR_DONE, "ocr-done", pdf=doc.pdf, ocr_confidence=doc.ocr_confidence, pages=doc.pages)
    if doc.state == OCR_DONE:
        for page in ordered:  # the merged PDF holds them now
            if Path(page.pdf) != Path(doc.pdf):
                Path(page.pdf).unlink(missing_ok=True)
    return doc


def _source_of(doc: Document, ctx: StageContext):
    from .ingest import open_source

    return open_source(Path(ctx.store.get_input(doc.input_id).spool_path), ctx.config.ingest)


def ocr(doc: Document, ctx: StageContext) -> Document:
    """split → ocr-done, in this process; pages already OCRed (kept in work/<doc>/) are not OCRed again."""
    if ctx.ocr_page is None:
        from .ocr import ocr_page as run
    else:
        run = ctx.ocr_page
    pages = saved_pages(doc, ctx)
    missing = [p for p in doc.source_pages if p not in pages]
    if missing:
        source = _source_of(doc, ctx)
        work_dir(doc, ctx).mkdir(parents=True, exist_ok=True)
        for number in missing:
            pages[number] = run(source, number, ctx.config, work_dir(doc, ctx))
            save_page(doc, ctx, pages[number])
    return assemble_document(doc, ctx, pages)


# -- classify, route ---------------------------------------------------------------------------

def classify(doc: Document, ctx: StageContext) -> Document:
    """ocr-done → classified: category, calibrated confidence, top three, extracted fields."""
    from .classify import classify_document

    doc = classify_document(doc, ctx.config)
    return _moved(doc, ctx, CLASSIFIED, "classified", category=doc.category, confidence=doc.confidence,
                  candidates=[c.__dict__ for c in doc.candidates], route_source=doc.route_source)


def route(doc: Document, ctx: StageContext) -> Document:
    """classified → routed, or → review with the reasons (decided in ``route.review_reasons`` only)."""
    doc.review_reasons = review_reasons(doc, ctx.config)
    registration.set_deadline(ctx.config, doc)
    if doc.review_reasons:
        doc.library = doc.folder = None
        doc = _moved(doc, ctx, REVIEW, "review", reasons=doc.review_reasons, category=doc.category,
                     confidence=doc.confidence)
        if doc.state == REVIEW:
            log.info("%s (%s) waits for review: %s", doc.id, doc.source,
                     ", ".join(reason_code(r) for r in doc.review_reasons))
        return doc
    set_destination(doc, ctx.config.categories[doc.category])
    return _moved(doc, ctx, ROUTED, "routed", library=doc.library, folder=doc.folder)


# -- publish -----------------------------------------------------------------------------------

def finish_pdf(doc: Document, config: Config, store: Store | None = None) -> str:
    """Write what is known once the letter is routed into its PDF, in one write: the registration stamp
    (« Reçu le … — N° … », when ``store`` is given), the metadata (title, category, sender, keywords, PDF/A
    identification) and the uid. Returns the file's checksum: the one journaled and published."""
    import pikepdf

    from .ocr.document import save, write_metadata

    path = Path(doc.pdf)
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:
        if store is not None:
            registration.stamp_registration(config, store, doc, pdf)
        write_metadata(pdf, doc, config, config.ocr.pdfa)
        with pdf.open_metadata(set_pikepdf_as_editor=False, update_docinfo=False) as xmp:
            xmp["dc:identifier"] = doc.uid
        pdf.docinfo[pikepdf.Name("/MailroomUid")] = doc.uid
        save(pdf, path, config.ocr.pdfa)
    return sha256_file(path)


def pdf_uid(path: Path) -> str | None:
    """The uid a mailroom installation wrote into a PDF (XMP dc:identifier), if any."""
    import pikepdf

    try:
        with pikepdf.open(path) as pdf:
            value = pdf.docinfo.get("/MailroomUid")
            if value is None:
                value = pdf.open_metadata().get("dc:identifier")
            return str(value) if value else None
    except (pikepdf.PdfError, OSError, ValueError):
        return None


PUBLISH_LEASE_SECONDS = 900  # longer than any upload; a holder killed before is seen dead and replaced


def publish(doc: Document, ctx: StageContext) -> Document:
    """routed / publish-failed → published, or → publish-failed with a back-off before the next try.
    Nobody else publishes this letter meanwhile: not another thread of this service (the watcher's retry,
    a supervisor's decision), nor another process on the same database (`mailroom retry` beside `serve`).
    The state is read again once the letter's lease is held."""
    with ctx.publishing:
        lease = f"publish:{doc.id}"
        holder = ctx.store.take_lease(lease, PUBLISH_LEASE_SECONDS)
        if holder is None:
            log.info("%s is being published by another process", doc.id)
            return ctx.store.get_document(doc.id) or doc
        try:
            current = ctx.store.get_document(doc.id)
            if current is not None and current.state != doc.state:
                return current  # someone else moved it meanwhile
            if not registration.numbered(ctx.config, ctx.store, doc):  # an earlier scan is not split yet
                log.info("%s waits for its registration number before it is filed", doc.id)
                return doc
            return _publish(doc, ctx)
        finally:
            ctx.store.release_lease(lease, holder)


def _publish(doc: Document, ctx: StageContext) -> Document:
    category = ctx.config.categories[doc.category]
    pdf = Path(doc.pdf)
    if doc.pdf_sha256 is None or not pdf.is_file() or sha256_file(pdf) != doc.pdf_sha256:
        doc.pdf_sha256 = finish_pdf(doc, ctx.config, ctx.store)
        ctx.store.save_document(doc)
    try:
        result = ctx.publisher.publish(doc, pdf, category)
    except PublishError as error:
        doc.attempts += 1
        doc.reason = str(error)
        delay = min(60 * 2 ** (doc.attempts - 1), 3600)
        delay = max(delay, getattr(error, "retry_after", None) or 0)  # never before SharePoint asked
        doc.retry_after = (datetime.now(timezone.utc) + timedelta(seconds=delay)).isoformat()
        log.warning("%s could not be published (attempt %d, next after %s): %s", doc.id, doc.attempts,
                    doc.retry_after, error)
        return _moved(doc, ctx, PUBLISH_FAILED, "publish-failed", error=str(error), code=error.code,
                      attempt=doc.attempts, transient=error.transient)
    doc.retry_after, doc.reason, doc.destination = None, None, result.destination
    doc = _moved(doc, ctx, PUBLISHED, "published", destination=result.destination,
                 already_there=result.already_there, pdf_sha256=doc.pdf_sha256, uid=doc.uid)
    if doc.state == PUBLISHED:
        log.info("%s (%s, %d p.) published: %s", doc.id, doc.source, doc.pages, result.destination)
        if ctx.config.trace.enabled:  # the reliable copy: fingerprint and context journaled, then the timestamp
            from .trace.stamp import after_publish
            doc = after_publish(ctx.config, ctx.store, doc, ctx.actor)
        registration.after_filing(ctx.config, ctx.store, doc, pdf, ctx.actor)  # L114-2 or acknowledgement
        doc = ctx.store.get_document(doc.id) or doc
    return doc


# -- the table ---------------------------------------------------------------------------------

STAGES: dict[DocumentState, Stage] = {
    SPLIT: ocr,
    OCR_DONE: classify,
    CLASSIFIED: route,
    ROUTED: publish,
}


def advance(doc: Document, ctx: StageContext, stop_at: frozenset = frozenset()) -> Document:
    """Run the stages from the document's state until it waits (review, failed publication), is final,
    or reaches a state in ``stop_at`` (the coordinator stops at ``split``: OCR goes to its workers)."""
    while doc.state in STAGES and doc.state not in stop_at:
        before = doc.state
        doc = STAGES[doc.state](doc, ctx)
        if doc.state == before:  # nothing moved (a lost race left it there): do not loop
            break
    finish_input(doc.input_id, ctx)
    return doc


# -- archive (input level) ---------------------------------------------------------------------

def finish_input(input_id: str, ctx: StageContext) -> None:
    """The original scan leaves the spool only once every document made from it is settled."""
    row = ctx.store.get_input(input_id)
    if row is None or row.state != InputState.SPLIT:
        return
    documents = ctx.store.documents(input_id=input_id)
    if documents and all(doc.state in FINAL_STATES for doc in documents):
        archive(row, ctx, InputState.SPLIT, InputState.DONE)


def archive(row: InputRow, ctx: StageContext, from_state: str, to_state: str) -> None:
    spooled = Path(row.spool_path)
    received = datetime.fromisoformat(row.received_at)
    target = ctx.config.home / "archive" / f"{received:%Y-%m}" / spooled.name
    if spooled.exists() and spooled != target:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(spooled, target)
    ctx.store.transition_input(row.id, from_state, to_state, "archived", spool_path=str(target))


def record_duplicate(row: InputRow, ctx: StageContext) -> None:
    """A copy of an earlier input: mirror documents pointing at the original's, then archived."""
    if ctx.store.documents(input_id=row.id):
        return
    originals = ctx.store.documents(input_id=row.duplicate_of)
    if not originals:
        return  # the original is still being split; the next resume will record this one
    mirrors = [Document(
        id=f"{row.id}-{number:02d}", input_id=row.id, source=row.original_name, source_sha256=row.sha256,
        source_pages=original.source_pages, received_at=row.received_at, inbox=row.inbox, batch=row.id,
        state=DUPLICATE, pdf=original.pdf, category=original.category, confidence=original.confidence,
        candidates=[Candidate(c.category, c.probability) for c in original.candidates],
        destination=original.destination, duplicate_of=original.id,
        reason=say("duplicate-of", original=original.id)) for number, original in enumerate(originals, 1)]
    if ctx.store.create_documents(row.id, mirrors, from_state=InputState.DUPLICATE, to_state=InputState.DUPLICATE,
                                  duplicate_of=row.duplicate_of):
        archive(ctx.store.get_input(row.id), ctx, InputState.DUPLICATE, InputState.DUPLICATE)
