"""Which service a letter belongs to, how sure we are, and the facts an agent needs.

``classify_document`` is the pipeline stage; ``needs_review`` says, in French
for the supervisors, why a document may not be routed on its own.
"""
from __future__ import annotations

import re

from ..config import Config
from ..records import ROUTE_COVER_SHEET, ROUTE_MODEL, ROUTE_SUPERVISOR, Candidate, Document

FALLBACK = "autre"
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


def needs_review(doc: Document, config: Config) -> list[str]:
    """Reasons, in French, for sending this document to the supervisors; empty = route it."""
    if doc.route_source == ROUTE_SUPERVISOR:
        return []
    reasons = []
    category = config.categories.get(doc.category or "")
    if category is None:
        reasons.append("Aucune catégorie connue n'a pu être proposée")
    else:
        if doc.category == FALLBACK:
            reasons.append(f"Courrier classé « {category.label} » : un superviseur doit choisir le service")
        elif category.always_review:
            reasons.append(f"La catégorie « {category.label} » est toujours vérifiée par un superviseur")
    if doc.route_source != ROUTE_COVER_SHEET and category is not None and doc.category != FALLBACK:
        confidence = doc.confidence or 0.0
        if confidence < config.classify.threshold:
            reasons.append(f"Confiance insuffisante : {confidence * 100:.0f} % (seuil {config.classify.threshold * 100:.0f} %)")
    return reasons


__all__ = ["classify_document", "needs_review"]
