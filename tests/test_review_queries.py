"""The review app's read-only questions: queue order, next document, dashboard counts, image cache."""
from __future__ import annotations

from datetime import datetime, timedelta

from pipeline.service import MailroomService
from pipeline.records import PUBLISHED, PUBLISH_FAILED
from pipeline.review import previews, queries
from tests.support.review_data import add_review_document, make_home


def test_queue_order_next_and_dashboard(home):
    config, store = make_home(home)
    old = add_review_document(config, store, "old", "a", [("routes", 0.5)], hours_ago=3)
    urgent = add_review_document(config, store, "urgent", "b", [("colleges", 0.5)], hours_ago=0.5, urgent=True)
    new = add_review_document(config, store, "new", "c", [("factures", 0.5)], hours_ago=0.2)
    add_review_document(config, store, "auto", "d", [("cabinet", 0.97)], hours_ago=0.1, state=PUBLISHED)
    failed = add_review_document(config, store, "failed", "e", [("routes", 0.9)], hours_ago=0.1,
                                 state=PUBLISH_FAILED)
    last_week = add_review_document(config, store, "lastweek", "f", [("routes", 0.9)], hours_ago=24 * 8,
                                    state=PUBLISHED)

    order = [d.id for d in queries.review_queue(store)]
    assert order == [urgent.id, old.id, new.id]
    assert queries.neighbours(queries.review_queue(store), old.id) == (urgent.id, new.id)
    assert queries.review_document(store, failed.id) is None
    assert queries.review_document(store, "nope") is None

    MailroomService(config, store).decide(old.id, "routes", dict(old.fields), "claire")
    assert queries.next_after(store, order, old.id) == new.id
    assert queries.next_after(store, order, new.id) == urgent.id  # wraps to what is left

    now = datetime.now().astimezone() + timedelta(minutes=1)
    board = queries.dashboard(config, store, now=now)
    assert board.queue_depth == 2 and board.oldest.id == urgent.id
    assert [d.id for d in board.publish_failures] == [failed.id]
    today = board.today if now.hour >= 4 else board.week  # letters made a few hours ago may be yesterday
    assert today.reviewed == 1 and today.waiting == 2 and today.automatic == 2
    assert dict(today.per_category)["Routes départementales"] == 2
    assert dict(today.per_category)["Cabinet du Président"] == 1
    assert dict(board.week.per_category)["Routes départementales"] == 2  # not the letter of last week
    assert last_week.state == PUBLISHED
    assert board.week.total == today.total


def test_previews_are_cached_and_pruned(home):
    config, store = make_home(home)
    doc = add_review_document(config, store, "p", "texte", [("routes", 0.5)], pages=2)
    first = previews.page_image(config, doc, 2, "vignette")
    assert first.read_bytes().startswith(b"\x89PNG")
    assert previews.page_image(config, doc, 2, "vignette").stat().st_mtime == first.stat().st_mtime
    for bad in ((3, "page"), (0, "page"), (1, "huge")):
        try:
            previews.page_image(config, doc, *bad)
        except previews.PreviewUnavailable:
            continue
        raise AssertionError(f"{bad} should be refused")
    assert previews.prune(config, {doc.id}) == 0 and first.exists()
    assert previews.prune(config, set()) == 1 and not first.exists()
