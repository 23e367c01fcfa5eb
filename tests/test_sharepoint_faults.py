"""Faults between the publisher and SharePoint: throttling, busy servers, expired digests and tokens,
connections cut mid-request, and crashes at every step. Nothing may be lost or published twice."""
from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.publish import PublishError, make_publisher
from pipeline.publish.sharepoint import SharePointPublisher
from tests.support.sp_emulator import FakeClock, emulator, make_document, publisher, sp_config, write_config  # noqa: F401


class Crash(BaseException):
    """The process dies here: no handler of the publisher may catch it."""


def pdf_file(tmp_path: Path, size: int = 3000, name: str = "doc.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(b"%PDF-1.4\n" + os.urandom(size))
    return path


def recorded_sleeps(publisher: SharePointPublisher) -> list[float]:
    return FakeClock().install(publisher.connection).sleeps


def assert_published_once(emulator, library: str, doc_id: str, content: bytes) -> None:
    files = emulator.files_in(library)
    assert len(files) == 1, [f.path for f in files]
    [stored] = files
    values = emulator.field_values(stored)
    assert values["Title"] == doc_id and values["Empreinte SHA-256"] == "ab" * 32
    assert stored.content == content and not stored.checked_out
    assert not emulator.sessions


def test_429_waits_for_retry_after(emulator, publisher, sp_config, tmp_path):
    sleeps = recorded_sleeps(publisher)
    emulator.inject(r"Files/add", "429", times=2, retry_after=1)
    pdf = pdf_file(tmp_path)
    publisher.publish(make_document(), pdf, sp_config.categories["routes"])
    assert sleeps == [1.0, 1.0]
    assert [r.status for r in emulator.requests(r"Files/add")] == [429, 429, 200]
    assert_published_once(emulator, "Routes", "in1-1", pdf.read_bytes())


def test_429_really_waits(emulator, publisher, sp_config, tmp_path):
    emulator.inject(r"ValidateUpdateListItem", "429", retry_after=1)
    started = time.monotonic()
    publisher.publish(make_document(), pdf_file(tmp_path), sp_config.categories["routes"])
    assert time.monotonic() - started >= 1.0


def test_503_with_retry_after_during_the_columns(emulator, publisher, sp_config, tmp_path):
    sleeps = recorded_sleeps(publisher)
    emulator.inject(r"ValidateUpdateListItem", "503", retry_after=1)
    pdf = pdf_file(tmp_path)
    publisher.publish(make_document(), pdf, sp_config.categories["routes"])
    assert sleeps == [1.0]
    assert_published_once(emulator, "Routes", "in1-1", pdf.read_bytes())
    assert emulator.files_in("Routes")[0].versions == 1


def test_other_transient_errors_back_off_with_jitter(emulator, publisher, sp_config, tmp_path):
    sleeps = recorded_sleeps(publisher)
    emulator.inject(r"/Fields$", "500", times=3, retry_after=None)
    publisher.publish(make_document(), pdf_file(tmp_path), sp_config.categories["routes"])
    base = publisher.connection.backoff_base
    assert len(sleeps) == 3
    for attempt, delay in enumerate(sleeps, start=1):
        assert 0.5 * base * 2 ** (attempt - 1) <= delay <= 1.5 * base * 2 ** (attempt - 1)


def test_a_503_without_retry_after_backs_off(emulator, publisher, sp_config, tmp_path):
    sleeps = recorded_sleeps(publisher)
    emulator.inject(r"GetItems", "503", retry_after=None)
    publisher.publish(make_document(), pdf_file(tmp_path), sp_config.categories["routes"])
    assert len(sleeps) == 1 and sleeps[0] < 1.0


def test_a_very_long_retry_after_is_left_to_the_queue(emulator, publisher, sp_config, tmp_path):
    sleeps = recorded_sleeps(publisher)
    emulator.inject(r"Files/add", "429", retry_after=900)
    with pytest.raises(PublishError) as caught:
        publisher.publish(make_document(), pdf_file(tmp_path), sp_config.categories["routes"])
    assert caught.value.transient and "900" in str(caught.value) and sleeps == []


def test_expired_digest_is_renewed(emulator, publisher, sp_config, tmp_path):
    category = sp_config.categories["routes"]
    publisher.publish(make_document("in1-1"), pdf_file(tmp_path, name="1.pdf"), category)
    emulator.expire_digests()
    publisher.publish(make_document("in1-2", sender="Martin"), pdf_file(tmp_path, name="2.pdf"), category)
    statuses = [(r.path.split("(")[0].lower(), r.status) for r in emulator.log]
    refused = statuses.index(next(s for s in statuses if s[1] == 403))
    assert statuses[refused + 1] == ("contextinfo", 200)
    assert [s for s in statuses if s[1] == 403] == [statuses[refused]]
    assert len(emulator.files_in("Routes")) == 2


def test_short_lived_digests_are_renewed_throughout(home, monkeypatch, tmp_path):
    from tests.support.sp_emulator import SharePointEmulator, default_libraries

    server = SharePointEmulator(digest_lifetime=1).start()  # the client renews at 60 s: always stale
    default_libraries(server)
    monkeypatch.setenv("MAILROOM_SHAREPOINT_TOKEN", "test-token")
    try:
        config = load_config(home, write_config(home, server))
        chosen = make_publisher(config)
        chosen.connection.backoff_base = 0.01
        emulator_pdf = pdf_file(tmp_path)
        time.sleep(1.1)
        chosen.publish(make_document(), emulator_pdf, config.categories["routes"])
        assert len(server.files_in("Routes")) == 1
    finally:
        server.stop()


def test_expired_token_is_renewed(emulator, publisher, sp_config, tmp_path, monkeypatch):
    category = sp_config.categories["routes"]
    publisher.publish(make_document("in1-1"), pdf_file(tmp_path, name="1.pdf"), category)
    emulator.tokens = {"rotated-token": float("inf")}  # the old token expired
    monkeypatch.setenv("MAILROOM_SHAREPOINT_TOKEN", "rotated-token")
    publisher.publish(make_document("in1-2", sender="Martin"), pdf_file(tmp_path, name="2.pdf"), category)
    assert [r.status for r in emulator.log].count(401) == 1
    assert len(emulator.files_in("Routes")) == 2


def test_cut_connection_mid_chunk_restarts_the_session(emulator, home, tmp_path):
    config = load_config(home, write_config(home, emulator, chunk_size=64 * 1024))
    chosen = make_publisher(config)
    chosen.connection.backoff_base = 0.01
    emulator.inject(r"continueUpload.*fileOffset=131072", "drop")
    pdf = pdf_file(tmp_path, size=300 * 1024)
    chosen.publish(make_document(category="factures"), pdf, config.categories["factures"])
    assert len(emulator.requests(r"startUpload")) == 2
    assert len(emulator.requests(r"cancelUpload")) == 1
    assert_published_once(emulator, "Factures", "in1-1", pdf.read_bytes())


def test_lost_answer_mid_chunk_restarts_cleanly(emulator, home, tmp_path):
    """The server took the chunk but the answer never came: resending that offset would be wrong."""
    config = load_config(home, write_config(home, emulator, chunk_size=64 * 1024))
    chosen = make_publisher(config)
    chosen.connection.backoff_base = 0.01
    emulator.inject(r"continueUpload.*fileOffset=65536", "drop-after")
    emulator.inject(r"finishUpload", "drop-after")
    pdf = pdf_file(tmp_path, size=300 * 1024)
    chosen.publish(make_document(category="factures"), pdf, config.categories["factures"])
    assert len(emulator.requests(r"startUpload")) == 3
    assert_published_once(emulator, "Factures", "in1-1", pdf.read_bytes())


def test_429_on_a_chunk_resends_the_same_chunk(emulator, home, tmp_path):
    config = load_config(home, write_config(home, emulator, chunk_size=64 * 1024))
    chosen = make_publisher(config)
    recorded_sleeps(chosen)
    emulator.inject(r"continueUpload.*fileOffset=65536", "429", retry_after=1)
    pdf = pdf_file(tmp_path, size=200 * 1024)
    chosen.publish(make_document(category="factures"), pdf, config.categories["factures"])
    assert len(emulator.requests(r"startUpload")) == 1
    assert [r.status for r in emulator.requests(r"fileOffset=65536")] == [429, 200]
    assert_published_once(emulator, "Factures", "in1-1", pdf.read_bytes())


def test_lost_answers_to_simple_writes(emulator, publisher, sp_config, tmp_path):
    for pattern in (r"Files/add", r"ValidateUpdateListItem", r"/checkin\(", r"Folders/Add\('2026'\)"):
        emulator.inject(pattern, "drop-after")
    emulator.inject(r"Files\?\$expand", "drop")
    pdf = pdf_file(tmp_path)
    publisher.publish(make_document(category="factures"), pdf, sp_config.categories["factures"])
    assert_published_once(emulator, "Factures", "in1-1", pdf.read_bytes())


def test_a_document_that_cannot_be_published_stays_transient_then_goes_once(emulator, publisher, sp_config,
                                                                          tmp_path):
    recorded_sleeps(publisher)
    emulator.inject(r"ValidateUpdateListItem", "503", times=100, retry_after=1)
    pdf = pdf_file(tmp_path)
    with pytest.raises(PublishError) as caught:
        publisher.publish(make_document(), pdf, sp_config.categories["routes"])
    assert caught.value.transient and "5 essais" in str(caught.value)
    emulator.faults.clear()
    result = make_publisher(sp_config).publish(make_document(), pdf, sp_config.categories["routes"])
    assert not result.already_there
    assert_published_once(emulator, "Routes", "in1-1", pdf.read_bytes())
    assert len(emulator.requests(r"Files/add")) == 2   # the bare file was taken over, not duplicated


def test_dropped_connections_until_the_end_leave_it_transient(emulator, home, tmp_path):
    config = load_config(home, write_config(home, emulator, chunk_size=64 * 1024, max_attempts=2))
    chosen = make_publisher(config)
    recorded_sleeps(chosen)
    emulator.inject(r"continueUpload", "drop", times=100)
    pdf = pdf_file(tmp_path, size=300 * 1024)
    with pytest.raises(PublishError) as caught:
        chosen.publish(make_document(category="factures"), pdf, config.categories["factures"])
    assert caught.value.transient
    emulator.faults.clear()
    make_publisher(config).publish(make_document(category="factures"), pdf, config.categories["factures"])
    assert_published_once(emulator, "Factures", "in1-1", pdf.read_bytes())


def crash_before_columns(sp_config, pdf: Path, monkeypatch) -> None:
    """Publish to Routes with a crash after the upload, before the columns are written."""
    crashing = make_publisher(sp_config)
    monkeypatch.setattr(crashing, "set_columns", lambda *a: (_ for _ in ()).throw(Crash()))
    with pytest.raises(Crash):
        crashing.publish(make_document(), pdf, sp_config.categories["routes"])


def test_crash_between_upload_and_columns(emulator, sp_config, tmp_path, monkeypatch):
    pdf = pdf_file(tmp_path)
    crash_before_columns(sp_config, pdf, monkeypatch)
    [bare] = emulator.files_in("Routes")
    assert emulator.field_values(bare).get("Title") is None

    result = make_publisher(sp_config).publish(make_document(), pdf, sp_config.categories["routes"])
    assert not result.already_there
    assert_published_once(emulator, "Routes", "in1-1", pdf.read_bytes())
    assert emulator.files_in("Routes")[0].unique_id == bare.unique_id


def test_crash_before_columns_with_the_pending_note_lost(emulator, sp_config, tmp_path, monkeypatch):
    pdf = pdf_file(tmp_path)
    crash_before_columns(sp_config, pdf, monkeypatch)
    shutil.rmtree(sp_config.home / "sharepoint")

    make_publisher(sp_config).publish(make_document(), pdf, sp_config.categories["routes"])
    assert_published_once(emulator, "Routes", "in1-1", pdf.read_bytes())
    # The second add is refused (the name exists); that file has no uid, our size and SHA-256: adopted.
    assert [r.status for r in emulator.requests(r"Files/add")] == [200, 400]
    assert len(emulator.requests(r"/\$value")) == 1


def test_crash_before_columns_then_a_regenerated_pdf(emulator, sp_config, tmp_path, monkeypatch):
    crash_before_columns(sp_config, pdf_file(tmp_path, name="a.pdf"), monkeypatch)
    redone = pdf_file(tmp_path, name="b.pdf")  # OCR ran again after the crash: other bytes
    make_publisher(sp_config).publish(make_document(), redone, sp_config.categories["routes"])
    assert_published_once(emulator, "Routes", "in1-1", redone.read_bytes())


def test_crash_in_the_middle_of_a_chunked_upload(emulator, home, tmp_path, monkeypatch):
    config = load_config(home, write_config(home, emulator, chunk_size=64 * 1024))
    crashing = make_publisher(config)
    real_run = crashing.connection.run

    def run(what, build, retry_dropped=True):
        if "continueUpload" in what or "(196608 of" in what:
            raise Crash()
        return real_run(what, build, retry_dropped)

    monkeypatch.setattr(crashing.connection, "run", run)
    pdf = pdf_file(tmp_path, size=300 * 1024)
    with pytest.raises(Crash):
        crashing.publish(make_document(category="factures"), pdf, config.categories["factures"])
    assert len(emulator.files_in("Factures")) == 1 and emulator.sessions  # a placeholder and a dangling session

    make_publisher(config).publish(make_document(category="factures"), pdf, config.categories["factures"])
    emulator.sessions.clear()  # the abandoned session expires on the server by itself
    assert_published_once(emulator, "Factures", "in1-1", pdf.read_bytes())


def test_crash_between_upload_and_journal_commit(emulator, sp_config, tmp_path):
    pdf = pdf_file(tmp_path)
    first = make_publisher(sp_config).publish(make_document(), pdf, sp_config.categories["routes"])
    # The process dies before the journal records "published": the next run publishes again.
    again = make_publisher(sp_config).publish(make_document(), pdf, sp_config.categories["routes"])
    assert again.already_there and again.destination == first.destination
    assert_published_once(emulator, "Routes", "in1-1", pdf.read_bytes())
    assert len(emulator.requests(r"Files/add")) == 1


def test_crash_before_check_in(emulator, sp_config, tmp_path, monkeypatch):
    pdf = pdf_file(tmp_path)
    crashing = make_publisher(sp_config)
    monkeypatch.setattr(crashing, "check_in", lambda *a: (_ for _ in ()).throw(Crash()))
    with pytest.raises(Crash):
        crashing.publish(make_document(category="factures"), pdf, sp_config.categories["factures"])
    assert emulator.files_in("Factures", visible_only=True) == []  # nobody sees it yet

    result = make_publisher(sp_config).publish(make_document(category="factures"), pdf,
                                               sp_config.categories["factures"])
    assert result.already_there
    assert_published_once(emulator, "Factures", "in1-1", pdf.read_bytes())
    assert emulator.files_in("Factures", visible_only=True)
