"""Supervisors' actions on a letter waiting for review: decide its category (then publish) or reject it.

Each action is one compare-and-set ``review → …``: of two supervisors (or a
double-click, or a decision racing a rejection) exactly one wins; the other gets
a ``DecisionError`` with code ``already-decided`` saying who acted and when, and
nothing else happens (no second publication, event or training example).
"""
from __future__ import annotations

from .errors import DecisionError
from .messages import say
from .quarantine import quarantine_document, rejected_copy
from .records import REJECTED, REVIEW, ROUTE_SUPERVISOR, ROUTED, Document
from .registration import steps as registration
from .route import set_destination
from .stages import StageContext, finish_input, publish
from .store import Transition


def already_decided(result: Transition) -> DecisionError:
    return DecisionError("already-decided", by=result.by or "mailroom", at=result.at, state=result.current_state)


class Decisions:
    def __init__(self, context: StageContext):
        self.ctx = context

    def _waiting(self, document_id: str) -> Document:
        doc = self.ctx.store.get_document(document_id)
        if doc is None:
            raise DecisionError("not-waiting", document=document_id)
        if doc.state != REVIEW:
            # decided already: say by whom and when, exactly as for a lost race
            by, at = self.ctx.store.last_move(doc.id, doc.state)
            raise already_decided(Transition(False, doc, doc.state, by, at))
        return doc

    def decide(self, document_id: str, category: str, fields: dict, actor: str) -> Document:
        """review → routed (event ``reviewed``, before/after), one labelled example, then publication."""
        doc = self._waiting(document_id)
        if category not in self.ctx.config.categories:
            raise DecisionError("unknown-category", category=category)
        before = {"category": doc.category, "confidence": doc.confidence, "fields": dict(doc.fields)}
        doc.category, doc.confidence, doc.route_source = category, 1.0, ROUTE_SUPERVISOR
        doc.fields.update(fields)
        doc.review_reasons = []
        set_destination(doc, self.ctx.config.categories[category])
        registration.set_deadline(self.ctx.config, doc)
        result = self.ctx.store.transition(doc.id, REVIEW, ROUTED, "reviewed", actor, document=doc, before=before,
                                           after={"category": category, "fields": doc.fields},
                                           example=(category, "supervisor"))  # in the same transaction
        if not result.ok:
            raise already_decided(result)
        ctx = self.ctx.acting(actor)
        doc = publish(result.doc, ctx)
        finish_input(doc.input_id, ctx)
        return doc

    def reject(self, document_id: str, reason: str, actor: str) -> Document:
        """review → rejected (not mail): a copy and its reason file in quarantine/."""
        doc = self._waiting(document_id)
        doc.reason = reason.strip() or say("rejected-not-mail")
        copy = rejected_copy(self.ctx.config, doc)
        result = self.ctx.store.transition(doc.id, REVIEW, REJECTED, "rejected", actor, document=doc,
                                           reason=doc.reason, copy=str(copy))
        if not result.ok:
            raise already_decided(result)
        _, at = self.ctx.store.last_move(doc.id, REJECTED)
        quarantine_document(self.ctx.config, result.doc, actor, at)  # a crash here: completed at the next start
        finish_input(doc.input_id, self.ctx)
        return result.doc
