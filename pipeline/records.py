"""Plain records passed between stages. No I/O here, so that any stage can run in any worker."""
from __future__ import annotations

import dataclasses
import enum
import json
from dataclasses import dataclass, field
from typing import Any

import uuid6


class InputState(enum.StrEnum):
    """Where an input file (a batch, « Lot ») is; the strings are what the database and JSON hold."""

    RECEIVED = "received"        # claimed into the spool, not split yet
    SPLIT = "split"              # its documents exist and go through their own states
    DONE = "done"                # every document settled, the scan archived
    QUARANTINED = "quarantined"  # cannot be processed; waits in quarantine/ with a reason
    DUPLICATE = "duplicate"      # same bytes as an earlier input


class DocumentState(enum.StrEnum):
    """Where a document (one letter) is, in the order it normally goes through them."""

    SPLIT = "split"                    # pages known, nothing else yet
    OCR_DONE = "ocr-done"              # searchable PDF and text ready
    CLASSIFIED = "classified"          # category, confidence, fields ready
    ROUTED = "routed"                  # destination decided, waiting for publication
    PUBLISHED = "published"
    REVIEW = "review"                  # waiting for a supervisor
    QUARANTINED = "quarantined"        # repeated internal errors
    DUPLICATE = "duplicate"
    PUBLISH_FAILED = "publish-failed"  # waits for an automatic retry
    REJECTED = "rejected"              # a supervisor said: not mail


# Module-level names kept for the code and tests that compare states as strings.
SPLIT, OCR_DONE, CLASSIFIED, ROUTED = (DocumentState.SPLIT, DocumentState.OCR_DONE, DocumentState.CLASSIFIED,
                                       DocumentState.ROUTED)
PUBLISHED, REVIEW, QUARANTINED, DUPLICATE = (DocumentState.PUBLISHED, DocumentState.REVIEW,
                                             DocumentState.QUARANTINED, DocumentState.DUPLICATE)
PUBLISH_FAILED, REJECTED = DocumentState.PUBLISH_FAILED, DocumentState.REJECTED

FINAL_STATES = {PUBLISHED, QUARANTINED, DUPLICATE, REJECTED}
WAITING_STATES = {REVIEW, PUBLISH_FAILED}

# -- the lifecycle as data ------------------------------------------------------------------------
REGISTERED = "registered"  # the event of the registration move (a number given, the state unchanged)
# Every allowed move (from, to) → the journal events that may record it. ``Store.transition`` applies
# nothing else. To add a state (timestamping…), add it to the enum and its moves here.
_D = DocumentState
DOCUMENT_TRANSITIONS: dict[tuple[DocumentState, DocumentState], frozenset[str]] = {
    (_D.SPLIT, _D.OCR_DONE): frozenset({"ocr-done"}),
    (_D.OCR_DONE, _D.CLASSIFIED): frozenset({"classified"}),
    (_D.CLASSIFIED, _D.ROUTED): frozenset({"routed"}),
    (_D.CLASSIFIED, _D.REVIEW): frozenset({"review"}),
    (_D.REVIEW, _D.ROUTED): frozenset({"reviewed"}),
    (_D.REVIEW, _D.REJECTED): frozenset({"rejected"}),
    (_D.ROUTED, _D.PUBLISHED): frozenset({"published"}),
    (_D.ROUTED, _D.PUBLISH_FAILED): frozenset({"publish-failed"}),
    (_D.PUBLISH_FAILED, _D.PUBLISHED): frozenset({"published"}),
    (_D.PUBLISH_FAILED, _D.PUBLISH_FAILED): frozenset({"publish-failed"}),
    (_D.PUBLISHED, _D.PUBLISHED): frozenset({"redirected"}),  # an agent sent it on to another category
    # repeated internal errors stop a document wherever it is, and `mailroom retry` resumes it there
    **{(state, _D.QUARANTINED): frozenset({"quarantined"})
       for state in (_D.SPLIT, _D.OCR_DONE, _D.CLASSIFIED, _D.ROUTED, _D.PUBLISH_FAILED)},
    **{(_D.QUARANTINED, state): frozenset({"retried"})
       for state in (_D.SPLIT, _D.OCR_DONE, _D.CLASSIFIED, _D.ROUTED, _D.PUBLISH_FAILED)},
}
# Registration: the number, in claim order, wherever the letter is when its turn comes (Store.register_pending);
# publication waits for it. Duplicates are not new letters.
for _state in (s for s in _D if s != _D.DUPLICATE):
    DOCUMENT_TRANSITIONS[(_state, _state)] = DOCUMENT_TRANSITIONS.get((_state, _state), frozenset()) | {REGISTERED}
_I = InputState
INPUT_TRANSITIONS: dict[tuple[InputState, InputState], frozenset[str]] = {
    (_I.RECEIVED, _I.SPLIT): frozenset({"split"}),
    (_I.RECEIVED, _I.QUARANTINED): frozenset({"quarantined"}),
    (_I.SPLIT, _I.QUARANTINED): frozenset({"quarantined"}),
    (_I.SPLIT, _I.DONE): frozenset({"archived"}),
    (_I.DUPLICATE, _I.DUPLICATE): frozenset({"split", "archived"}),  # mirror documents, then archived
    (_I.QUARANTINED, _I.RECEIVED): frozenset({"retried"}),
    (_I.QUARANTINED, _I.SPLIT): frozenset({"retried"}),   # its documents exist: they resume where they were
    (_I.QUARANTINED, _I.QUARANTINED): frozenset({REGISTERED}),  # quarantined before its split: the scan's number
}
del _D, _I, _state


def allowed(table: dict, from_state: str, to_state: str, event: str) -> bool:
    """Whether ``event`` may move a record from ``from_state`` to ``to_state`` in this table."""
    return event in table.get((from_state, to_state), ())


def new_uid() -> str:
    """A document identity no other installation can produce: a UUIDv7 (time-ordered, 74 random bits)."""
    return str(uuid6.uuid7())


# Where a category decision came from.
ROUTE_MODEL = "model"
ROUTE_COVER_SHEET = "cover-sheet"
ROUTE_SUPERVISOR = "supervisor"


@dataclass
class Candidate:
    category: str
    probability: float


@dataclass
class PageResult:
    """What OCR learned about one output page."""

    source_page: int               # 1-based page number in the source file
    rotation: int = 0              # degrees applied to make it upright (0/90/180/270)
    skew: float = 0.0              # degrees of deskew applied
    confidence: float | None = None  # mean word confidence 0-100, None for a born-digital page
    born_digital: bool = False     # kept its own text layer, not OCRed
    words: int = 0
    handwritten: bool = False      # mostly handwriting: the recognised text is not to be trusted


@dataclass
class Document:
    """One letter: made by the splitter, completed by each stage, persisted by the store."""

    id: str                        # human id, « L000012-01 »; restarts with every database
    input_id: str
    source: str                    # original file name as the scanner wrote it
    source_sha256: str
    source_pages: list[int]        # 1-based pages of the source that make this document
    received_at: str               # ISO 8601, the legal arrival time
    inbox: str = ""
    batch: str = ""                # the input's id, shown as "Lot"
    state: str = SPLIT
    dropped_pages: list[int] = field(default_factory=list)  # blank backs, separator sheets
    pdf: str | None = None         # searchable PDF in the work folder
    text: str = ""
    ocr_confidence: float | None = None
    page_results: list[PageResult] = field(default_factory=list)
    category: str | None = None
    confidence: float | None = None
    candidates: list[Candidate] = field(default_factory=list)
    route_source: str | None = None  # model | cover-sheet | supervisor
    fields: dict[str, Any] = field(default_factory=dict)
    review_reasons: list[dict] = field(default_factory=list)  # codes and facts (messages.reason), said at the edges
    destination: str | None = None   # library path or URL, once published
    library: str | None = None
    folder: str | None = None
    reason: str | None = None        # why quarantined / failed
    attempts: int = 0                # failed publication attempts
    retry_after: str | None = None   # ISO time before which a failed publication is not retried
    duplicate_of: str | None = None  # for a duplicate: the document it repeats
    registration: str | None = None  # registration number (2026-A-000123), from the store's per-year sequence
    deadline: str | None = None      # processing deadline, ISO date
    acknowledgement: dict[str, Any] = field(default_factory=dict)  # channel, to, file, sent_at, state…
    transmission: dict[str, Any] = field(default_factory=dict)  # L114-2: body, slip and notice (each sent like an ack)
    uid: str = field(default_factory=new_uid)  # global identity (UUIDv7), set once, in the PDF and the library
    pdf_sha256: str | None = None    # checksum of the PDF once its final metadata is written (what gets published)
    resume_state: str | None = None  # for a quarantined document: the state `mailroom retry` resumes it from
    timestamp: dict[str, Any] | None = None  # RFC 3161 token over pdf_sha256: {"time", "serial", "token"}
    timestamp_attempts: int = 0      # failed requests to the time-stamping authority
    timestamp_retry_after: str | None = None

    @property
    def pages(self) -> int:
        return len(self.source_pages)

    @property
    def handwritten(self) -> bool:
        """A page of it is mostly handwriting: its recognised text is not to be trusted."""
        return any(page.handwritten for page in self.page_results)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "Document":
        data = json.loads(text)
        data["candidates"] = [Candidate(**c) for c in data.get("candidates", [])]
        data["page_results"] = [PageResult(**p) for p in data.get("page_results", [])]
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def report_line(self) -> dict[str, Any]:
        """The JSON Lines record of `mailroom process --report`."""
        return {
            "id": self.id,
            "uid": self.uid,
            "source": self.source,
            "source_sha256": self.source_sha256,
            "source_pages": self.source_pages,
            "pages": self.pages,
            "status": self.state,
            "category": self.category,
            "confidence": self.confidence,
            "candidates": [dataclasses.asdict(c) for c in self.candidates],
            "route_source": self.route_source,
            "fields": self.fields,
            "ocr_confidence": self.ocr_confidence,
            "destination": self.destination,
            "reason": self.reason,
            "review_reasons": self.review_reasons,
            "dropped_pages": self.dropped_pages,
            "received_at": self.received_at,
            "pdf": self.pdf,
            "registration": self.registration,
            "deadline": self.deadline,
            "acknowledgement": self.acknowledgement or {"channel": "none"},
            "transmission": self.transmission or None,
            "pdf_sha256": self.pdf_sha256,
            "timestamp": self.timestamp,
        }


@dataclass
class DocumentPlan:
    """The splitter's answer: which source pages make one document, and any forced route."""

    source_pages: list[int]
    dropped_pages: list[int] = field(default_factory=list)
    category: str | None = None      # set by a routing cover sheet
    route_source: str | None = None


@dataclass
class Classification:
    category: str
    confidence: float
    candidates: list[Candidate]


@dataclass
class PublishResult:
    destination: str                 # path or URL where the file now is
    already_there: bool = False      # the same checksum was found, nothing was written
