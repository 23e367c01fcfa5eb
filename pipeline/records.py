"""Plain records passed between stages. No I/O here, so that any stage can run in any worker."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

# Document states, in the order a document normally goes through them.
SPLIT = "split"            # pages known, nothing else yet
OCR_DONE = "ocr-done"      # searchable PDF and text ready
CLASSIFIED = "classified"  # category, confidence, fields ready
ROUTED = "routed"          # destination decided, waiting for publication
PUBLISHED = "published"
REVIEW = "review"          # waiting for a supervisor
QUARANTINED = "quarantined"
DUPLICATE = "duplicate"
PUBLISH_FAILED = "publish-failed"
REJECTED = "rejected"      # a supervisor said: not mail

FINAL_STATES = {PUBLISHED, QUARANTINED, DUPLICATE, REJECTED}
WAITING_STATES = {REVIEW, PUBLISH_FAILED}

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


@dataclass
class Document:
    """One letter: made by the splitter, completed by each stage, persisted by the store."""

    id: str
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
    review_reasons: list[str] = field(default_factory=list)
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

    @property
    def pages(self) -> int:
        return len(self.source_pages)

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
