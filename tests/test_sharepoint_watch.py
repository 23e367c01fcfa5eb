"""End to end: scans dropped in a running watcher's inbox reach the emulator's libraries, once, with their
columns, whatever the network does; a SharePoint that stays down leaves them publish-failed, then
`mailroom retry --failed` files them, once."""
from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from urllib.parse import unquote

import pytest

from pipeline.store import Store
from tests.support.letters import write_letter_pdf
from tests.support.service import Service, drop, mailroom, status, wait_for, write_test_config
from tests.support.sp_emulator import emulator  # noqa: F401

pytestmark = pytest.mark.slow


def sharepoint_config(home: Path, site_url: str, max_attempts: int = 5) -> Path:
    path = write_test_config(home)
    text = path.read_text(encoding="utf-8")
    publish = text.index("[publish]")  # [runner] has a backend = "local" too
    text = text[:publish] + text[publish:].replace('backend = "local"', 'backend = "sharepoint"', 1)
    text = text.replace('site_url = ""', f'site_url = "{site_url}"', 1)
    text = text.replace("max_attempts = 6", f"max_attempts = {max_attempts}", 1)
    path.write_text(text, encoding="utf-8")
    return path


def documents(home: Path, state: str) -> list[dict]:
    return [d for d in status(home)["list"] if d["state"] == state]


def all_files(server) -> list:
    return [f for title in server.libraries.values() for f in server.files_in(title.title)]


def assert_each_published_once(home: Path, server, expected: int, inputs: dict[str, bytes]) -> None:
    files = all_files(server)
    assert len(files) == expected, [f.path for f in files]
    published = {d["id"]: d for d in documents(home, "published")}
    assert len(published) == expected
    sources = {hashlib.sha256(data).hexdigest() for data in inputs.values()}
    for stored in files:
        values = server.field_values(stored)
        assert not stored.checked_out
        assert values["Title"] in published
        assert values["Empreinte SHA-256"] in sources
        assert values["Catégorie"] and values["Date de réception"] and values["Pages"] >= 1
        doc = published[values["Title"]]
        assert unquote(doc["destination"]) == server.origin + stored.path
        assert stored.content.startswith(b"%PDF")
    events = Counter(e.document_id for e in Store(home / "mailroom.sqlite3").events(kind="published"))
    assert all(n == 1 for n in events.values()) and len(events) == expected


def test_scans_dropped_in_a_running_watcher_reach_sharepoint_once(emulator, home, tmp_path):
    sharepoint_config(home, emulator.url)
    # A rough network: throttling, a busy server, answers lost after the server acted.
    emulator.inject(r"Files/add", "429", times=1, retry_after=1)
    emulator.inject(r"ValidateUpdateListItem", "503", times=1, retry_after=1)
    emulator.inject(r"ValidateUpdateListItem", "drop-after", times=1)
    emulator.inject(r"Folders/Add", "drop", times=1)
    letters = [write_letter_pdf(tmp_path / f"lettre-{i}.pdf", index=i, seed=i) for i in range(2)]
    service = Service(home)
    try:
        for letter in letters:
            drop(letter, home / "inbox")
        wait_for(lambda: len(documents(home, "published")) == 2, 300, what="2 published documents")
    finally:
        assert service.terminate() == 0, service.output()
    assert_each_published_once(home, emulator, 2, {p.name: p.read_bytes() for p in letters})
    assert "test-token" not in service.output()


def test_sharepoint_down_leaves_documents_queued_then_retry_files_them_once(emulator, home, tmp_path):
    sharepoint_config(home, emulator.url, max_attempts=2)
    emulator.inject(r"GetByTitle", "503", times=10_000, retry_after=1)  # down for the whole run
    letter = write_letter_pdf(tmp_path / "lettre.pdf", index=3, seed=3)
    service = Service(home)
    try:
        drop(letter, home / "inbox")
        wait_for(lambda: documents(home, "publish-failed"), 300, what="a publish-failed document")
    finally:
        assert service.terminate() == 0, service.output()
    [failed] = status(home)["publish_failed"]           # visible in status, with the reason
    assert "503" in failed["error"] and failed["attempts"] >= 1 and failed["retry_after"]
    assert all_files(emulator) == []

    emulator.faults.clear()
    done = mailroom(home, "retry", "--failed", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_each_published_once(home, emulator, 1, {"lettre.pdf": letter.read_bytes()})
    again = mailroom(home, "retry", "--failed", timeout=300)  # nothing left to retry: nothing moves
    assert len(all_files(emulator)) == 1 and again.returncode in (0, 1)
