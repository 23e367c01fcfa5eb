"""Read-only questions the review pages ask of the store.

Kept here rather than in store.py because only the review app needs them;
everything is a SELECT on the store's own connection.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Callable, Iterable

from ..config import Config
from ..records import (PUBLISH_FAILED, PUBLISHED, QUARANTINED, REJECTED, REVIEW, ROUTE_SUPERVISOR, ROUTED,
                       Document)
from ..store import InputRow, Store
from ..trace.report import trace_status

AUTO_STATES = {ROUTED, PUBLISHED, PUBLISH_FAILED}


Scope = Callable[[Iterable[str | None]], bool]  # Session.may_see: may this account see these categories?


def everything(categories: Iterable[str | None]) -> bool:
    return True


def has_users(store: Store) -> bool:
    return store.has_users()


def categories_of(doc: Document) -> tuple[str | None, str | None]:
    """The letter's current category and the machine's first guess: what decides who may see it."""
    return doc.category, doc.candidates[0].category if doc.candidates else None


def deadline(doc: Document) -> date | None:
    """The processing deadline when the document has one (an ISO date, attribute or field)."""
    value = getattr(doc, "deadline", None) or doc.fields.get("deadline")
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def received(doc: Document) -> datetime:
    """Arrival time, always timezone-aware (naive values are taken as local time)."""
    try:
        value = datetime.fromisoformat(doc.received_at)
    except (TypeError, ValueError):
        return datetime.min.replace(tzinfo=datetime.now().astimezone().tzinfo)
    return value if value.tzinfo else value.astimezone()


def is_urgent(doc: Document) -> bool:
    return bool(doc.fields.get("urgent"))


def review_queue(store: Store, scope: Scope = everything) -> list[Document]:
    """Documents waiting for a supervisor that this account may see: urgent ones first, then the nearest
    deadline (letters without one after those with one), then oldest first."""
    visible = [d for d in store.documents(REVIEW) if scope(categories_of(d))]
    return sorted(visible, key=lambda d: (not is_urgent(d), deadline(d) or date.max, received(d), d.id))


def review_document(store: Store, document_id: str, scope: Scope = everything) -> Document | None:
    """The document only while it is in the review set and this account may see it; anything else is
    treated as unknown (the same 404 as a document that does not exist)."""
    doc = store.get_document(document_id)
    return doc if doc is not None and doc.state == REVIEW and scope(categories_of(doc)) else None


def neighbours(queue: list[Document], document_id: str) -> tuple[str | None, str | None]:
    """(previous, next) document ids around one document of the queue."""
    ids = [d.id for d in queue]
    if document_id not in ids:
        return None, ids[0] if ids else None
    index = ids.index(document_id)
    previous = ids[index - 1] if index > 0 else None
    following = ids[index + 1] if index + 1 < len(ids) else None
    return previous, following


def next_after(store: Store, order_before: list[str], document_id: str, scope: Scope = everything) -> str | None:
    """Where to go after a decision: the next one still waiting in the old order, else the first left."""
    remaining = review_queue(store, scope)
    waiting = {d.id for d in remaining}
    later = order_before[order_before.index(document_id) + 1:] if document_id in order_before else []
    for candidate in later + order_before:
        if candidate in waiting and candidate != document_id:
            return candidate
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
class Throughput:
    """One supervisor's day: letters decided and the median time from opening a letter to deciding it."""
    day: date
    user: str
    decided: int
    median_seconds: float | None  # None when no decision followed an opening in the app


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
    throughput: list[Throughput] = field(default_factory=list)
    trace: dict | None = None   # the reliable copy: timestamps, last integrity check (trace.report)


def _period_rows(store: Store, since: datetime, scope: Scope = everything) -> list[dict]:
    # received_at strings share one format; the string bound is a day early to absorb
    # offset differences, and the exact cut is made in Python.
    bound = (since - timedelta(days=1)).date().isoformat()
    rows = store._db().execute(
        "SELECT d.id, d.state, d.category, json_extract(d.body, '$.received_at') AS received_at,"
        " json_extract(d.body, '$.route_source') AS route_source,"
        " json_extract(d.body, '$.candidates[0].category') AS proposed,"
        " EXISTS(SELECT 1 FROM events e WHERE e.document_id = d.id AND e.kind = 'reviewed') AS reviewed"
        " FROM documents d WHERE json_extract(d.body, '$.received_at') >= ?", (bound,)).fetchall()
    result = []
    for row in rows:
        if not scope((row["category"], row["proposed"])):
            continue
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


def throughput(store: Store, since: datetime, scope: Scope = everything, me: str | None = None) -> list[Throughput]:
    """Per supervisor and per day (newest first): decisions on letters this account may see (and its own
    decisions, even those that sent a letter out of its categories), and the median time between the
    decider's last opening of a letter and the decision on it."""
    groups: dict[tuple[date, str], list[float | None]] = {}
    for row in store.review_activity((since - timedelta(days=1)).isoformat(timespec="seconds")):
        at = _moment_of(row["at"])
        if at is None or at < since or not (row["actor"] == me or scope((row["category"],))):
            continue
        viewed = _moment_of(row["viewed_at"])
        seconds = (at - viewed).total_seconds() if viewed else None
        groups.setdefault((at.date(), row["actor"]), []).append(seconds)
    result = []
    for (day, user), times in groups.items():
        measured = [t for t in times if t is not None]
        result.append(Throughput(day, user, len(times), statistics.median(measured) if measured else None))
    return sorted(result, key=lambda t: (-t.day.toordinal(), t.user))


def _moment_of(value: str | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    return moment.astimezone() if moment else None


def dashboard(config: Config, store: Store, now: datetime | None = None, limit: int = 50,
              scope: Scope = everything, everything_visible: bool = True, days: int = 7,
              me: str | None = None) -> Dashboard:
    """Volumes of today and of the current week (from Monday), queue and trouble lists, supervisors'
    throughput over the last `days` days; only letters this account may see are counted, and files not
    yet cut into letters (quarantined inputs) only for accounts that see every category."""
    now = (now or datetime.now()).astimezone()
    today_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    week_start = today_start - timedelta(days=today_start.weekday())
    week_rows = _period_rows(store, week_start, scope)
    today_rows = [row for row in week_rows if datetime.fromisoformat(row["received_at"]).astimezone() >= today_start]
    queue = review_queue(store, scope)
    oldest = min(queue, key=received) if queue else None
    quarantined = [d for d in store.documents(QUARANTINED, REJECTED) if scope(categories_of(d))]
    failures = [d for d in store.documents(PUBLISH_FAILED) if scope(categories_of(d))]
    return Dashboard(
        today=_period(config, "Aujourd'hui", today_rows),
        week=_period(config, "Cette semaine", week_rows),
        queue_depth=len(queue),
        oldest=oldest,
        quarantined_inputs=list(reversed(store.inputs("quarantined")))[:limit] if everything_visible else [],
        quarantined_documents=sorted(quarantined, key=received, reverse=True)[:limit],
        publish_failures=sorted(failures, key=received)[:limit],
        states=store.document_counts(),
        throughput=throughput(store, today_start - timedelta(days=days - 1), scope, me),
        trace=trace_status(config, store, disk=False),
    )
