import os
import threading
import time
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.store import Store
from pipeline.watch import Watcher, claim, is_junk, recover_incoming
from tests.support.corpus import corpus_file


@pytest.fixture
def config(home):
    (home / "mailroom.toml").write_text("[watch]\nsettle_seconds = 0.6\nrescan_seconds = 1.0\n", encoding="utf-8")
    return load_config(home)


@pytest.fixture
def store(config):
    return Store(config.database_path)


def poll_until(watcher, seconds, predicate=lambda claimed: bool(claimed)):
    claimed = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        claimed += watcher.poll()
        if predicate(claimed):
            break
        time.sleep(0.1)
    return claimed


def test_junk_names_are_ignored():
    for name in ("scan.tmp", "scan.pdf.part", "~$lettre.pdf", ".hidden.pdf", "Thumbs.db", ".DS_Store"):
        assert is_junk(Path(name)), name
    assert not is_junk(Path("Courrier d'Hélène #3.pdf"))


def test_claim_moves_the_file_and_records_arrival(config, store):
    config.inbox_dir.mkdir(parents=True)
    source = config.inbox_dir / "Courrier d'Hélène #3.pdf"
    source.write_bytes(corpus_file("ocrmypdf", "francais.pdf").read_bytes())
    os.utime(source, (1_700_000_000, 1_700_000_000))
    row = claim(config, store, source, config.inbox_dir)
    assert not source.exists() and Path(row.spool_path).is_file()
    assert row.original_name == "Courrier d'Hélène #3.pdf"
    assert row.received_at.startswith("2023-11-14")  # the scanner's write time, not the claim time
    assert [e.kind for e in store.events(input_id=row.id)] == ["received"]


def test_same_content_twice_is_a_duplicate(config, store, tmp_path):
    data = corpus_file("ocrmypdf", "francais.pdf").read_bytes()
    first, second = tmp_path / "a.pdf", tmp_path / "b.pdf"
    first.write_bytes(data)
    second.write_bytes(data)
    row1 = claim(config, store, first, None, move=False)
    row2 = claim(config, store, second, None, move=False)
    assert first.exists()  # `process` copies: the caller's file stays
    assert (row1.state, row2.state, row2.duplicate_of) == ("received", "duplicate", row1.id)


def test_slowly_written_file_is_not_taken_early(config, store):
    claimed = []
    watcher = Watcher(config, store, on_claimed=claimed.append, invalid_grace=30)
    watcher.start()
    try:
        data = corpus_file("ocrmypdf", "francais.pdf").read_bytes()
        target = config.inbox_dir / "lent.pdf"
        done = threading.Event()

        def slow_scanner():
            with open(target, "wb") as handle:
                for start in range(0, len(data), len(data) // 6 + 1):
                    handle.write(data[start:start + len(data) // 6 + 1])
                    handle.flush()
                    time.sleep(0.45)  # shorter than the settle time, but the whole write takes ~3 s
            done.set()

        writer = threading.Thread(target=slow_scanner)
        writer.start()
        while not done.is_set():
            watcher.poll()
            assert not claimed, "taken while still being written"
            time.sleep(0.05)
        writer.join()
        poll_until(watcher, 5)
        assert len(claimed) == 1 and not target.exists()
        spooled = Path(claimed[0].spool_path).read_bytes()
        assert spooled == data
    finally:
        watcher.stop()


def test_paused_writer_with_incomplete_pdf_waits_then_quarantines(config, store):
    claimed = []
    watcher = Watcher(config, store, on_claimed=claimed.append, invalid_grace=2.0)
    watcher.start()
    try:
        half = corpus_file("ocrmypdf", "francais.pdf").read_bytes()[:3000]
        (config.inbox_dir / "interrompu.pdf").write_bytes(half)
        assert not poll_until(watcher, 1.5)  # settled but not a complete PDF: not yet
        claimed = poll_until(watcher, 5)
        assert len(claimed) == 1
    finally:
        watcher.stop()


def test_files_present_at_startup_and_in_subfolders_are_picked_up(config, store):
    (config.inbox_dir / "etage2").mkdir(parents=True)
    (config.inbox_dir / "etage2" / "lot.pdf").write_bytes(corpus_file("ocrmypdf", "francais.pdf").read_bytes())
    (config.inbox_dir / "lot.pdf.part").write_bytes(b"partial")
    claimed = []
    watcher = Watcher(config, store, on_claimed=claimed.append)
    watcher.start()
    try:
        claimed = poll_until(watcher, 5)
        assert [row.original_name for row in claimed] == ["lot.pdf"]
        assert (config.inbox_dir / "lot.pdf.part").exists()
    finally:
        watcher.stop()


def test_polling_inbox_for_network_shares(home, tmp_path):
    share = tmp_path / "partage"
    share.mkdir()
    (home / "mailroom.toml").write_text(
        f"[watch]\nsettle_seconds = 0.5\nrescan_seconds = 600\npoll_seconds = 0.2\n"
        f"[[inboxes]]\npath = '{share}'\npolling = true\nsplit = 'none'\n", encoding="utf-8")
    config = load_config(home)
    store = Store(config.database_path)
    claimed = []
    watcher = Watcher(config, store, on_claimed=claimed.append)
    watcher.start()
    try:
        time.sleep(0.3)
        (share / "scan.pdf").write_bytes(corpus_file("ocrmypdf", "francais.pdf").read_bytes())
        claimed = poll_until(watcher, 6)
        assert len(claimed) == 1 and claimed[0].split_mode == "none" and claimed[0].inbox == str(share)
    finally:
        watcher.stop()


def test_crash_between_move_and_record_loses_nothing(config, store):
    """A file moved into the spool but not recorded (crash) is recorded at the next start."""
    incoming = config.spool_dir / "incoming"
    incoming.mkdir(parents=True)
    import json
    (incoming / "abc.meta").write_text(json.dumps({"name": "lettre.pdf".encode().hex(),
                                                   "received_at": "2026-03-03T09:00:00+01:00", "inbox": ""}))
    (incoming / "abc.data").write_bytes(corpus_file("ocrmypdf", "francais.pdf").read_bytes())
    (incoming / "lost.meta").write_text(json.dumps({"name": "x.pdf".encode().hex(), "received_at": "", "inbox": ""}))
    rows = recover_incoming(config, store)
    assert [(r.original_name, r.received_at) for r in rows] == [("lettre.pdf", "2026-03-03T09:00:00+01:00")]
    assert not any(incoming.iterdir())
