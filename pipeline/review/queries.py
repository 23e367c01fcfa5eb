"""Read-only questions the review pages ask of the store.

Kept here rather than in store.py because only the review app needs them;
everything is a SELECT on the store's own connection.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from ..config import Config
from ..records import (PUBLISH_FAILED, PUBLISHED, QUARANTINED, REJECTED, REVIEW, ROUTE_SUPERVISOR, ROUTED,
                       Document)
from ..store import InputRow, Store
from ..trace.report import trace_status

AUTO_STATES = {ROUTED, PUBLISHED, PUBLISH_FAILED}


def has_users(store: Store) -> bool:
    return store._db().execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None


def received(doc: Document) -> datetime:
    """Arrival time, always timezone-aware (naive values are taken as local time)."""
    try:
        value = datetime.fromisoformat(doc.received_at)
    except (TypeError, ValueError):
        return datetime.min.replace(tzinfo=datetime.now().astimezone().tzinfo)
    return value if value.tzinfo else value.astimezone()


def is_urgent(doc: Document) -> bool:
    return bool(doc.fields.get("urgent"))


def review_queue(store: Store) -> list[Document]:
    """Documents waiting for a supervisor: urgent ones first, then oldest first."""
    return sorted(store.documents(REVIEW), key=lambda d: (not is_urgent(d), received(d), d.id))


def review_document(store: Store, document_id: str) -> Document | None:
    """The document only while it is in the review set; anything else is treated as unknown."""
    doc = store.get_document(document_id)
    return doc if doc is not None and doc.state == REVIEW else None


def neighbours(queue: list[Document], document_id: str) -> tuple[str | None, str | None]:
    """(previous, next) document ids around one document of the queue."""
    ids = [d.id for d in queue]
    if document_id not in ids:
        return None, ids[0] if ids else None
    index = ids.index(document_id)
    previous = ids[index - 1] if index > 0 else None
    following = ids[index + 1] if index + 1 < len(ids) else None
    return previous, following


def next_after(store: Store, order_before: list[str], document_id: str) -> str | None:
    """Where to go after a decision: the next one still waiting in the old order, else the first left."""
    waiting = {d.id for d in store.documents(REVIEW)}
    later = order_before[order_before.index(document_id) + 1:] if document_id in order_before else []
    for candidate in later + order_before:
        if candidate in waiting and candidate != document_id:
            return candidate
    remaining = review_queue(store)
    return remaining[0].id if remaining else None


@dataclass
class Period:
    label: str
    per_category: list[tuple[str, int]] = field(default_factory=list)  # (category label, count)
    automatic: int = 0
    reviewed: int = 0
    waiting: int = 0
    total: int = 0


@dataclass
class Dashboard:
    today: Period
    week: Period
    queue_depth: int
    oldest: Document | None
    quarantined_inputs: list[InputRow]
    quarantined_documents: list[Document]
    publish_failures: list[Document]
    states: dict[str, int]
    trace: dict | None = None   # the reliable copy: timestamps, last integrity check (trace.report)


def _period_rows(store: Store, since: datetime) -> list[dict]:
    # received_at strings share one format; the string bound is a day early to absorb
    # offset differences, and the exact cut is made in Python.
    bound = (since - timedelta(days=1)).date().isoformat()
    rows = store._db().execute(
        "SELECT d.id, d.state, d.category, json_extract(d.body, '$.received_at') AS received_at,"
        " json_extract(d.body, '$.route_source') AS route_source,"
        " EXISTS(SELECT 1 FROM events e WHERE e.document_id = d.id AND e.kind = 'reviewed') AS reviewed"
        " FROM documents d WHERE json_extract(d.body, '$.received_at') >= ?", (bound,)).fetchall()
    result = []
    for row in rows:
        try:
            at = datetime.fromisoformat(row["received_at"])
        except (TypeError, ValueError):
            continue
        at = at if at.tzinfo else at.astimezone()
        if at >= since:
            result.append(dict(row))
    return result


def _period(config: Config, label: str, rows: list[dict]) -> Period:
    period = Period(label)
    counts: dict[str, int] = {}
    for row in rows:
        reviewed = bool(row["reviewed"]) or row["route_source"] == ROUTE_SUPERVISOR or row["state"] == REJECTED
        if row["state"] == REVIEW:
            period.waiting += 1
        elif reviewed:
            period.reviewed += 1
        elif row["state"] in AUTO_STATES:
            period.automatic += 1
        if row["state"] in AUTO_STATES and row["category"]:
            category = config.categories.get(row["category"])
            name = category.label if category else row["category"]
            counts[name] = counts.get(name, 0) + 1
    period.per_category = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    period.total = sum(counts.values())
    return period


def dashboard(config: Config, store: Store, now: datetime | None = None, limit: int = 50) -> Dashboard:
    """Volumes of today and of the current week (from Monday), queue and trouble lists."""
    now = (now or datetime.now()).astimezone()
    today_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week_start = today_start - timedelta(days=today_start.weekday())
    week_rows = _period_rows(store, week_start)
    today_rows = [row for row in week_rows if datetime.fromisoformat(row["received_at"]).astimezone() >= today_start]
    queue = review_queue(store)
    oldest = min(queue, key=received) if queue else None
    quarantined = store.documents(QUARANTINED, REJECTED)
    failures = store.documents(PUBLISH_FAILED)
    return Dashboard(
        today=_period(config, "Aujourd'hui", today_rows),
        week=_period(config, "Cette semaine", week_rows),
        queue_depth=len(queue),
        oldest=oldest,
        quarantined_inputs=list(reversed(store.inputs("quarantined")))[:limit],
        quarantined_documents=sorted(quarantined, key=received, reverse=True)[:limit],
        publish_failures=sorted(failures, key=received)[:limit],
        states=store.document_counts(),
        trace=trace_status(config, store, disk=False),
    )
