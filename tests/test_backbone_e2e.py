"""The backbone end to end: real watcher subprocess, real Tesseract, real files."""
from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pikepdf
import pytest

from pipeline.errors import ExitCode
from pipeline.store import Store
from tests.support.bad_inputs import make_bad_inputs
from tests.support.letters import write_letter_pdf
from tests.support.service import (Service, drop, library_pdfs, mailroom, status, wait_for,
                                   write_test_config)

pytestmark = pytest.mark.slow


def read_state(home: Path, query, empty):
    """Read straight from the state database: quick enough to catch a batch in the middle."""
    if not (home / "mailroom.sqlite3").exists():
        return empty
    store = Store(home / "mailroom.sqlite3")
    try:
        return query(store)
    finally:
        store.close()


def published_ids(home: Path) -> list[str]:
    return read_state(home, lambda store: [d.id for d in store.documents("published")], [])


def events_of(home: Path, kind: str) -> int:
    return read_state(home, lambda store: len(store.events(kind=kind)), 0)


def inputs_taken(home: Path) -> int:
    return read_state(home, lambda store: len(store.inputs()), 0)


def assert_library_exactly_once(home: Path, expected_documents: int) -> None:
    pdfs = library_pdfs(home)
    sidecars = [json.loads(p.with_name(p.name + ".json").read_text()) for p in pdfs]
    ids = Counter(meta["document_id"] for meta in sidecars)
    assert len(pdfs) == expected_documents, [p.name for p in pdfs]
    assert all(n == 1 for n in ids.values()), ids
    for pdf in pdfs:
        with pikepdf.open(pdf) as opened:  # complete, never half-written
            assert len(opened.pages) >= 1
    assert not [p for p in (home / "library").rglob("*") if p.name.startswith(".partial-")]
    store = Store(home / "mailroom.sqlite3")
    published_events = Counter(e.document_id for e in store.events(kind="published"))
    assert all(n == 1 for n in published_events.values()), published_events


def finish_after_restart(home: Path, documents: int, timeout: float) -> None:
    """Start the watcher again and wait until every document is in the library, each exactly once."""
    service = Service(home)
    try:
        wait_for(lambda: len(published_ids(home)) == documents, timeout, what="every document after the restart")
    finally:
        assert service.terminate() == 0
    assert_library_exactly_once(home, documents)


def test_scans_dropped_in_the_inbox_reach_the_library(home, tmp_path):
    write_test_config(home)
    letters = [write_letter_pdf(tmp_path / f"lettre-{i}.pdf", index=i, seed=i) for i in range(3)]
    service = Service(home)
    try:
        for letter in letters:
            drop(letter, home / "inbox")
        wait_for(lambda: len(published_ids(home)) == 3, 300, what="3 published documents")
    finally:
        assert service.terminate() == 0, service.output()
    assert_library_exactly_once(home, 3)
    assert not list((home / "inbox").iterdir())
    pdf = library_pdfs(home)[0]
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True).stdout
    assert len(text.split()) > 30  # searchable
    kinds = [e.kind for e in Store(home / "mailroom.sqlite3").events()]
    for kind in ("received", "split", "ocr-done", "classified", "routed", "published", "archived"):
        assert kind in kinds
    assert len(list((home / "archive").rglob("*.pdf"))) == 3  # originals kept, out of the spool
    assert not [p for p in (home / "spool").iterdir() if p.is_file()]


def test_kill_9_in_the_middle_of_a_batch_then_restart(home, tmp_path):
    write_test_config(home)
    letters = [write_letter_pdf(tmp_path / f"lettre-{i}.pdf", index=i, seed=10 + i) for i in range(5)]
    service = Service(home)
    for letter in letters:
        drop(letter, home / "inbox")
    # Kill once the batch is under way: some files taken, not everything published.
    wait_for(lambda: inputs_taken(home) == 5 and events_of(home, "ocr-done") >= 1 and len(published_ids(home)) < 5,
             240, interval=0.1, what="the batch to be under way")
    service.kill_hard()
    assert len(published_ids(home)) < 5
    finish_after_restart(home, 5, 400)


def test_sigterm_leaves_nothing_half_written(home, tmp_path):
    write_test_config(home)
    letters = [write_letter_pdf(tmp_path / f"lettre-{i}.pdf", index=i, seed=20 + i) for i in range(3)]
    service = Service(home)
    for letter in letters:
        drop(letter, home / "inbox")
    wait_for(lambda: inputs_taken(home) >= 1, 60, interval=0.1, what="the first file to be taken")
    assert service.terminate(timeout=120) == 0, service.output()
    for pdf in library_pdfs(home):
        with pikepdf.open(pdf):
            pass
    assert not [p for p in home.rglob("*") if p.name.startswith(".partial-") or p.suffix == ".partial"]
    finish_after_restart(home, 3, 300)


def test_bad_inputs_are_quarantined_and_the_watcher_goes_on(home, tmp_path):
    write_test_config(home)
    expected = make_bad_inputs(tmp_path / "bad")
    service = Service(home)
    try:
        for path in (tmp_path / "bad").iterdir():
            drop(path, home / "inbox")
        good = drop(write_letter_pdf(tmp_path / "bonne.pdf", index=1), home / "inbox")
        wait_for(lambda: len(status(home)["quarantined"]) == len(expected) and len(published_ids(home)) == 1,
                 240, what="every bad input quarantined and the good one published")
        assert service.process.poll() is None  # still running
    finally:
        assert service.terminate() == 0, service.output()
    quarantined = status(home)["quarantined"]
    by_source = {item["source"].replace("?", ""): item for item in quarantined}
    for name, word in expected.items():
        printable = "".join(ch for ch in name if ord(ch) >= 32)
        item = by_source[printable]
        assert word in item["reason"], (name, item["reason"])
        file = Path(item["file"])
        assert file.is_file() and file.parent == home / "quarantine"
        reason_file = file.with_name(file.name + ".reason.txt")
        assert word in reason_file.read_text(encoding="utf-8")
    store = Store(home / "mailroom.sqlite3")
    assert len(store.events(kind="quarantined")) == len(expected)
    assert not list((home / "inbox").iterdir()), "nothing left unexplained in the inbox"
    text = mailroom(home, "status").stdout
    assert "Quarantined (10)" in text and "mot de passe" in text


def test_process_command_report_duplicates_and_retry(home, tmp_path):
    write_test_config(home, extra="")
    letter = write_letter_pdf(tmp_path / "lettre.pdf", index=0)
    copy = tmp_path / "copie.pdf"
    copy.write_bytes(letter.read_bytes())
    (tmp_path / "vide.pdf").write_bytes(b"")
    report = tmp_path / "report.jsonl"
    result = mailroom(home, "process", str(letter), str(copy), "--report", str(report))
    assert result.returncode == ExitCode.OK, result.stderr  # a clean batch: published and a duplicate
    assert "1 published" in result.stdout and "1 duplicates" in result.stdout
    result = mailroom(home, "process", str(tmp_path / "vide.pdf"), "--report", str(tmp_path / "bad.jsonl"))
    assert result.returncode == ExitCode.INCOMPLETE, result.stderr  # one bad file: scripts notice
    assert "1 quarantined" in result.stdout and "quarantined: vide.pdf" in result.stderr
    lines = [json.loads(line) for line in (report.read_text() + (tmp_path / "bad.jsonl").read_text()).splitlines()]
    by_status = {line["status"]: line for line in lines}
    published = by_status["published"]
    for key in ("id", "uid", "source", "source_sha256", "source_pages", "pages", "category", "confidence",
                "destination", "received_at", "pdf", "candidates", "fields"):
        assert key in published
    assert published["source_pages"] == [1] and published["pages"] == 1 and Path(published["pdf"]).is_file()
    assert Path(published["destination"]).is_file()
    assert by_status["duplicate"]["pdf"] == published["pdf"]
    assert "vide" in by_status["quarantined"]["reason"] and by_status["quarantined"]["pdf"] is None
    assert letter.exists()  # process copies, it does not take the caller's files

    # A failed publication is queued, shown, and published by `retry --failed` once the target is back.
    broken = tmp_path / "not-a-folder"
    broken.write_text("a file where the library folder should be")
    write_test_config(home, extra=f"")
    config_file = home / "mailroom.toml"
    config_file.write_text(config_file.read_text().replace('library_dir = ""', f"library_dir = '{broken}/library'"))
    other = write_letter_pdf(tmp_path / "autre.pdf", index=2)
    result = mailroom(home, "process", str(other))
    assert "1 publish failed" in result.stdout and result.returncode == ExitCode.INCOMPLETE, result.stdout
    data = status(home)
    assert len(data["publish_failed"]) == 1 and data["oldest_waiting"]["state"] == "publish-failed"
    config_file.write_text(config_file.read_text().replace(f"library_dir = '{broken}/library'", 'library_dir = ""'))
    result = mailroom(home, "retry", data["publish_failed"][0]["id"])
    assert result.returncode == 0 and "1 published" in result.stdout, result.stdout + result.stderr
    assert not status(home)["publish_failed"]
