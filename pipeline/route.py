"""Routing: the one place that decides whether a document goes to its library or to the supervisors.

Other stages only record facts (OCR page failures and confidence, PDF/A problems, the classifier's
calibrated confidence, a cover sheet, a supervisor's decision); ``review_reasons`` turns them into
the supervisors' reasons, as codes with their facts (``messages.reason``), which the review app and
the report say in French. Add a new signal here, nowhere else.
"""
from __future__ import annotations

from .config import Category, Config
from .messages import reason
from .publish import folder_for
from .records import ROUTE_COVER_SHEET, ROUTE_SUPERVISOR, Document

FALLBACK = "autre"  # the classifier's "none of the services" category
HANDWRITTEN = reason("handwritten")


def classification_reasons(doc: Document, config: Config) -> list[dict]:
    """What the category and its calibrated confidence say; empty when the classifier's answer can be used."""
    if doc.route_source == ROUTE_SUPERVISOR:
        return []
    reasons = []
    category = config.categories.get(doc.category or "")
    if category is None:
        reasons.append(reason("no-category"))
    else:
        if doc.category == FALLBACK:
            reasons.append(reason("fallback-category", category=category.id, label=category.label))
        elif category.always_review:
            reasons.append(reason("always-reviewed", category=category.id, label=category.label))
    if doc.route_source != ROUTE_COVER_SHEET and category is not None and doc.category != FALLBACK:
        confidence = doc.confidence or 0.0
        if confidence < config.classify.threshold:
            reasons.append(reason("low-confidence", confidence=confidence * 100,
                                  threshold=config.classify.threshold * 100))
    return reasons


def review_reasons(doc: Document, config: Config) -> list[dict]:
    """Why this document cannot be routed without a supervisor; empty when it can."""
    if doc.route_source == ROUTE_SUPERVISOR:
        return []  # a supervisor has decided: nothing left to ask
    reasons = list(doc.review_reasons)  # what the OCR stage found (failed pages, low confidence, PDF/A)
    if doc.handwritten and HANDWRITTEN not in reasons:  # a page is mostly handwriting (ocr/handwriting.py)
        reasons.append(HANDWRITTEN)
    if doc.route_source == ROUTE_COVER_SHEET:
        # Staff sorted it by hand: trust the sheet, unless the category itself always needs a look.
        category = config.categories.get(doc.category or "")
        if category is None or category.always_review:
            reasons.append(reason("cover-sheet-to-confirm", category=doc.category))
        return reasons
    for found in classification_reasons(doc, config):
        if found not in reasons:
            reasons.append(found)
    if doc.category not in config.categories and not reasons:
        reasons.append(reason("no-category"))
    return reasons


def set_destination(doc: Document, category: Category) -> Document:
    """The library and folder of a document whose category is settled (model, cover sheet or supervisor)."""
    doc.library = category.library
    doc.folder = folder_for(doc, category)
    return doc
