"""Routing: a classified document either goes to its category's library or to the supervisors."""
from __future__ import annotations

from .config import Category, Config
from .publish import folder_for
from .records import REVIEW, ROUTE_COVER_SHEET, ROUTED, Document


def review_reasons(doc: Document, config: Config) -> list[str]:
    """Why this document cannot be routed without a supervisor; empty when it can."""
    from .classify import needs_review

    reasons = list(doc.review_reasons)  # the OCR stage may already have some
    if doc.route_source == ROUTE_COVER_SHEET:
        # Staff sorted it by hand: trust the sheet, unless the category itself always needs a look.
        category = config.categories.get(doc.category or "")
        if category is None or category.always_review:
            reasons.append(f"catégorie « {doc.category} » à confirmer")
        return reasons
    for reason in needs_review(doc, config):
        if reason not in reasons:
            reasons.append(reason)
    return reasons


def route(doc: Document, config: Config) -> Document:
    reasons = review_reasons(doc, config)
    doc.review_reasons = reasons
    if reasons or doc.category not in config.categories:
        doc.state = REVIEW
        doc.library = doc.folder = None
        return doc
    return send_to(doc, config.categories[doc.category])


def send_to(doc: Document, category: Category) -> Document:
    """The destination of a document whose category is settled (by the model, a cover sheet or a supervisor)."""
    doc.state = ROUTED
    doc.library = category.library
    doc.folder = folder_for(doc, category)
    return doc
