"""The chained journal: every event carries the hash of the one before, of the installation and of its document."""
import hashlib
import json
import sqlite3

import pytest

from pipeline.store import SCHEMA, Store
from pipeline.trace.chain import GENESIS, canonical, check_chain
from tests.support.proof_home import attack


def test_each_event_links_to_the_previous_event_and_to_the_previous_event_of_its_document(tmp_path):
    store = Store(tmp_path / "m.sqlite3")
    store.journal("received", "L000001", sha256="a" * 64)
    store.journal("ocr-done", "L000001", "L000001-01", pages=2)
    store.journal("received", "L000002")
    store.journal("published", "L000001", "L000001-01", destination="/bib/é.pdf")
    everything = store.raw_events()
    assert everything[0]["kind"] == "installation" and everything[0]["prev_hash"] == GENESIS
    assert everything[0]["prev_doc_hash"] is None  # about no document: on the installation's chain only
    events = everything[1:]
    assert events[0]["prev_hash"] == everything[0]["hash"] and events[0]["prev_doc_hash"] == GENESIS
    assert [e["prev_hash"] for e in events[1:]] == [e["hash"] for e in events[:-1]]
    assert events[3]["prev_doc_hash"] == events[1]["hash"]  # same document, skipping L000002's event
    assert events[1]["prev_doc_hash"] == GENESIS            # first event of the document itself
    # anyone can recompute a hash: SHA-256 of the canonical ASCII JSON
    line = canonical(events[3])
    assert line.isascii() and json.loads(line)["details"] == {"destination": "/bib/é.pdf"}
    assert hashlib.sha256(line).hexdigest() == events[3]["hash"]
    assert check_chain(everything) == []


@pytest.fixture
def journal(tmp_path):
    store = Store(tmp_path / "m.sqlite3")
    for number in (1, 2):
        store.journal("received", f"L00000{number}")
        store.journal("classified", f"L00000{number}", f"L00000{number}-01", category="routes")
        store.journal("published", f"L00000{number}", f"L00000{number}-01", destination="x")
    return store


def test_an_edited_event_is_named(journal):
    attack(journal.path, "UPDATE events SET details = '{\"category\": \"cabinet\"}'"
                         " WHERE kind = 'classified' AND document_id = 'L000002-01'")
    lines = [p.line() for p in check_chain(journal.raw_events())]
    assert len(lines) == 1 and lines[0].startswith("L000002-01: event changed: event ")
    assert "« classified »" in lines[0]


def test_an_edited_and_rehashed_event_breaks_the_next_link(journal):
    from pipeline.trace.chain import event_hash

    [event] = [e for e in journal.raw_events() if e["kind"] == "classified" and e["document_id"] == "L000002-01"]
    event["details"] = '{"category": "cabinet"}'
    attack(journal.path, f"UPDATE events SET details = '{event['details']}', hash = '{event_hash(event)}'"
                         f" WHERE id = {event['id']}")
    problems = check_chain(journal.raw_events())
    assert {(p.subject, p.what) for p in problems} >= {("journal", "event changed"), ("L000002-01", "event missing")}


def test_a_deleted_event_is_named(journal):
    attack(journal.path, "DELETE FROM events WHERE kind = 'classified' AND document_id = 'L000001-01'")
    problems = check_chain(journal.raw_events())
    assert ("L000001-01", "event missing") in {(p.subject, p.what) for p in problems}
    assert ("journal", "event missing") in {(p.subject, p.what) for p in problems}


def test_the_journal_stays_append_only(journal):
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        journal._db().execute("UPDATE events SET kind = 'x' WHERE id = 1")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        journal._db().execute("DELETE FROM events WHERE id = 1")


def test_an_existing_database_is_migrated_and_its_events_chained_once(tmp_path):
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    old.executescript(SCHEMA)  # the journal as it was before the chain: no hash columns
    old.execute("INSERT INTO events(at, kind, input_id, details) VALUES ('2026-01-05T10:00:00+01:00', 'received',"
                " 'L000001', '{\"sha256\": \"ab\"}')")
    old.commit()
    old.close()
    store = Store(path)
    store.journal("split", "L000001", documents=["L000001-01"])
    Store(path)  # a second open does not chain again
    events = store.raw_events()
    assert [e["kind"] for e in events] == ["received", "journal-chained", "split"]
    assert json.loads(events[1]["details"]) == {"events": 1}
    assert check_chain(events) == []
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        store._db().execute("UPDATE events SET kind = 'x' WHERE id = 1")


def test_concurrent_writers_keep_one_chain(tmp_path):
    import threading

    path = tmp_path / "m.sqlite3"
    Store(path)

    def write(worker):
        store = Store(path)
        for n in range(25):
            store.journal("step", f"L0000{worker:02d}", f"L0000{worker:02d}-01", n=n)
        store.close()

    threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    events = Store(path).raw_events()
    assert len(events) == 101 and check_chain(events) == []  # with the installation event
