"""Which service a letter belongs to, how sure we are, and the facts an agent needs.

``classify_document`` is the pipeline stage; whether its answer is sure enough
is decided in one place, ``pipeline.route`` (``needs_review`` is its rule on the
classification alone).
"""
from __future__ import annotations

import re

from ..config import Config
from ..records import ROUTE_COVER_SHEET, ROUTE_MODEL, ROUTE_SUPERVISOR, Candidate, Document
from ..route import FALLBACK
from ..route import classification_reasons as needs_review

MIN_WORDS = 3  # under this, there is nothing to classify (blank or unreadable scan)


def classify_document(doc: Document, config: Config) -> Document:
    """Set category, calibrated confidence, top-three candidates and extracted fields.

    A category forced by a routing cover sheet (or already decided by a supervisor)
    is kept; candidates and fields are still filled so that the report is complete.
    """
    from .extract import extract_fields  # late: spaCy costs seconds to import, and most commands never classify
    from .model import get_classifier

    text = doc.text or ""
    forced = doc.route_source in (ROUTE_COVER_SHEET, ROUTE_SUPERVISOR) and doc.category
    if len(re.findall(r"[^\W\d_]{2,}", text)) < MIN_WORDS:
        ranked: list[tuple[str, float]] = []
    else:
        ranked = get_classifier(config.model_dir).rank(text, allowed=set(config.categories))
    doc.candidates = [Candidate(category, round(probability, 4)) for category, probability in ranked[:3]]
    if not forced:
        if ranked:
            doc.category, doc.confidence = ranked[0][0], round(ranked[0][1], 4)
        else:
            doc.category, doc.confidence = FALLBACK, 0.0
        doc.route_source = ROUTE_MODEL
    doc.fields = {**doc.fields, **extract_fields(text)}
    return doc


__all__ = ["classify_document", "needs_review"]
