"""The lifecycle: every move through Store.transition, stages over a fake OCR step, resume after errors,
one effect when two supervisors act at once, two installations in one library, exit codes, workers that
end with their coordinator. (`process` exit codes: tests/test_backbone_e2e.py.)"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import pikepdf
import pytest
from fastapi.testclient import TestClient

from pipeline import stages
from pipeline.config import load_config
from pipeline.coordinator import Coordinator
from pipeline.decisions import Decisions
from pipeline.errors import BadInput, DecisionError, PublishError, WorkerLost
from pipeline.executor import LocalExecutor, split_task
from pipeline.ocr import PageOcr
from pipeline.publish.local import LocalPublisher
from pipeline.records import (DOCUMENT_TRANSITIONS, INPUT_TRANSITIONS, REGISTERED, Document, DocumentState, InputState,
                              PageResult)
from pipeline.review.app import create_app
from pipeline.service import MailroomService
from pipeline.stages import StageContext
from pipeline.store import Store
from tests.support.letters import letter_text
from tests.support.review_client import log_in
from tests.support.review_data import FAST_HASHER, PASSWORDS, add_review_document, make_home, make_pdf
from tests.support.service import Service, drop, wait_for, write_test_config

D, I = DocumentState, InputState


def a_document(store: Store, state: str, number: int = 1, **extra) -> Document:
    row = store.add_input(hashlib.sha256(f"{state}{number}{extra}".encode()).hexdigest(), "scan.pdf", "/nowhere",
                          "2026-03-03T09:00:00+01:00")
    doc = Document(id=f"{row.id}-01", input_id=row.id, source="scan.pdf", source_sha256=row.sha256,
                   source_pages=[1], received_at=row.received_at, state=state, **extra)
    store.save_document(doc)
    return doc


# -- the table, in process --------------------------------------------------------------------------

def test_every_allowed_document_transition_applies_once_with_its_event(home):
    store = Store(home / "mailroom.sqlite3")
    for number, ((before, after), events) in enumerate(sorted(DOCUMENT_TRANSITIONS.items()), start=1):
        for event in sorted(events - {REGISTERED}):  # numbers: tests/test_registration.py
            doc = a_document(store, before, number, reason=event)
            result = store.transition(doc.id, before, after, event, "claire", why="test")
            assert result.ok and result.doc.state == after == store.get_document(doc.id).state, (before, after)
            journal = store.events(document_id=doc.id)
            assert [(e.kind, e.actor, e.details) for e in journal] == [(event, "claire", {"why": "test"})]
            if before != after:  # the same move again has lost: nothing more is written
                again = store.transition(doc.id, before, after, event, "victor")
                assert not again.ok and not again.illegal and again.current_state == after
                assert again.by == "claire" and again.at == journal[0].at
                assert len(store.events(document_id=doc.id)) == 1


FORBIDDEN = [(D.PUBLISHED, D.ROUTED, "routed"), (D.REVIEW, D.PUBLISHED, "published"), (D.SPLIT, D.PUBLISHED, "published"),
             (D.REJECTED, D.ROUTED, "reviewed"), (D.DUPLICATE, D.SPLIT, "retried"), (D.PUBLISHED, D.QUARANTINED, "quarantined"),
             (D.CLASSIFIED, D.ROUTED, "published"), (D.REVIEW, D.ROUTED, "routed"), (D.OCR_DONE, D.REVIEW, "review")]


@pytest.mark.parametrize("before, after, event", FORBIDDEN)
def test_forbidden_document_transitions_change_nothing(home, before, after, event):
    store = Store(home / "mailroom.sqlite3")
    doc = a_document(store, before)
    result = store.transition(doc.id, before, after, event)
    assert not result.ok and result.illegal and result.current_state == before
    assert store.get_document(doc.id).state == before and store.events(document_id=doc.id) == []


def test_input_transitions_follow_their_table_and_a_retry_clears_the_reason(home):
    store = Store(home / "mailroom.sqlite3")
    for number, ((before, after), events) in enumerate(sorted(INPUT_TRANSITIONS.items()), start=1):
        if events == {REGISTERED}:  # numbers: tests/test_registration.py
            continue
        event = sorted(events - {REGISTERED})[-1]
        row = store.add_input(f"{number:064d}", "scan.pdf", "/nowhere", "2026-03-03T09:00:00+01:00")
        if row.state != before:
            store._db().execute("UPDATE inputs SET state = ? WHERE id = ?", (str(before), row.id))  # set the scene
        assert store.transition_input(row.id, before, after, event).ok, (before, after, event)
        assert store.get_input(row.id).state == after
    row = store.add_input("f" * 64, "scan.pdf", "/nowhere", "2026-03-03T09:00:00+01:00")
    assert store.transition_input(row.id, I.RECEIVED, I.QUARANTINED, "quarantined", reason="illisible").ok
    assert store.get_input(row.id).reason == "illisible"
    assert store.transition_input(row.id, I.QUARANTINED, I.RECEIVED, "retried").ok
    assert store.get_input(row.id).reason is None
    refused = store.transition_input(row.id, I.RECEIVED, I.DONE, "archived")
    assert refused.illegal and store.get_input(row.id).state == I.RECEIVED
    assert not store.transition_input(row.id, I.SPLIT, I.DONE, "archived").ok  # not split: a lost race


def test_installation_id_is_made_once_kept_in_the_home_and_journaled_first(tmp_path):
    first = Store(tmp_path / "a" / "mailroom.sqlite3")
    again = Store(tmp_path / "a" / "mailroom.sqlite3")
    other = Store(tmp_path / "b" / "mailroom.sqlite3")
    assert first.installation_id == again.installation_id != other.installation_id
    assert (tmp_path / "a" / "installation-id").read_text().strip() == first.installation_id
    journal = first.events()
    assert journal[0].kind == "installation" and journal[0].details == {"installation_id": first.installation_id}
    assert len(journal) == 1


def test_uid_is_a_uuid7_persisted_and_never_changed(home):
    store = Store(home / "mailroom.sqlite3")
    doc = a_document(store, D.REVIEW)
    assert doc.uid[14] == "7" and len(doc.uid) == 36
    assert store.get_document(doc.id).uid == doc.uid == store.document_by_uid(doc.uid).uid
    assert doc.report_line()["uid"] == doc.uid
    assert store.transition(doc.id, D.REVIEW, D.REJECTED, "rejected").doc.uid == doc.uid


# -- stages over a fake OCR step ----------------------------------------------------------------------

class FakeOcr:
    """Stands in for Tesseract: a one-page text PDF per page; can fail once on a chosen page."""

    def __init__(self, fail_once_on: int | None = None):
        self.calls: list[int] = []
        self.fail_once_on = fail_once_on

    def __call__(self, source, page: int, config, workdir: Path) -> PageOcr:
        self.calls.append(page)
        if page == self.fail_once_on:
            self.fail_once_on = None
            raise RuntimeError("panne simulée")
        text = letter_text(0).split("\f")[0]
        pdf = make_pdf(Path(workdir) / f"page-{page}.pdf", text.splitlines()[:40])
        return PageOcr(page, pdf, text, PageResult(source_page=page, confidence=91.0, words=len(text.split())))


class InlineExecutor:
    """The executor interface, run in this process: what a test needs to drive the coordinator."""

    def __init__(self, ocr):
        self.ocr = ocr
        self.keys: list[str] = []

    def _run(self, key, fn, *args) -> Future:
        self.keys.append(key)
        future = Future()
        try:
            future.set_result(fn(*args))
        except Exception as error:
            future.set_exception(error)
        return future

    def submit_split(self, path, mode, config, key):
        return self._run(key, split_task, path, mode, config)

    def submit_ocr(self, source, page, config, workdir, key):
        return self._run(key, self.ocr, source, page, config, Path(workdir))

    def shutdown(self, wait=True):
        pass


def spooled_input(config, store: Store, pages: int = 1):
    scan = make_pdf(config.spool_dir / "lettre.pdf", ["Madame, Monsieur,"], pages)
    return store.add_input(hashlib.sha256(scan.read_bytes()).hexdigest(), "lettre.pdf", str(scan),
                           "2026-03-03T09:00:00+01:00", split_mode="none")


def test_stages_take_a_letter_to_the_library_once_with_its_uid_and_the_published_checksum(home):
    write_test_config(home)
    config = load_config(home)
    store = Store(config.database_path)
    ctx = StageContext(config, store, ocr_page=FakeOcr())
    row = spooled_input(config, store, pages=2)
    source, result = split_task(row.spool_path, row.split_mode, config)
    [doc] = stages.create_documents(row, source, result, ctx)
    assert stages.create_documents(row, source, result, ctx) == []  # split once
    doc = stages.advance(doc, ctx)
    assert doc.state == D.PUBLISHED
    moves = {event for events in DOCUMENT_TRANSITIONS.values() for event in events}
    kinds = [e.kind for e in store.events(document_id=doc.id) if e.kind in moves]  # other steps journal too
    assert kinds == ["registered", "ocr-done", "classified", "routed", "published"]
    published = store.events(document_id=doc.id, kind="published")[0].details
    library_file = Path(doc.destination)
    assert published["pdf_sha256"] == hashlib.sha256(library_file.read_bytes()).hexdigest() == doc.pdf_sha256
    assert stages.pdf_uid(library_file) == doc.uid
    with pikepdf.open(library_file) as pdf:  # metadata written after routing: the category is in it
        assert config.categories[doc.category].label in str(pdf.docinfo["/Subject"])
    assert json.loads(library_file.with_name(library_file.name + ".json").read_text())["uid"] == doc.uid
    assert store.get_input(row.id).state == I.DONE
    again = stages.publish(store.get_document(doc.id), ctx)  # a finished letter is not filed again
    assert again.state == D.PUBLISHED and len(list(config.library_dir.rglob("*.pdf"))) == 1


def test_a_retry_resumes_from_the_last_completed_stage_without_ocring_pages_again(home):
    write_test_config(home)
    config = load_config(home)
    store = Store(config.database_path)
    ocr = FakeOcr(fail_once_on=2)
    executor = InlineExecutor(ocr)
    coordinator = Coordinator(StageContext(config, store), executor)
    row = spooled_input(config, store, pages=3)
    coordinator.submit(row.id)
    coordinator.run_until_idle()
    [doc] = store.documents(input_id=row.id)
    assert doc.state == D.PUBLISHED
    assert sorted(ocr.calls) == [1, 2, 2, 3]  # only the page that failed was OCRed again
    assert executor.keys[0] == row.id and f"{doc.uid}:1" in executor.keys
    assert [e.kind for e in store.events(input_id=row.id)].count("split") == 1  # never split again
    assert store.events(input_id=row.id, kind="error")[0].details["attempt"] == 1


def test_repeated_errors_quarantine_and_retry_resumes_where_the_document_stopped(home, monkeypatch):
    write_test_config(home)
    config = load_config(home)
    store = Store(config.database_path)
    ctx = StageContext(config, store)
    coordinator = Coordinator(ctx, InlineExecutor(FakeOcr()))
    row = spooled_input(config, store)
    real_classify = stages.STAGES[D.OCR_DONE]
    monkeypatch.setitem(stages.STAGES, D.OCR_DONE, lambda doc, ctx: (_ for _ in ()).throw(OSError("disque plein")))
    coordinator.submit(row.id)
    coordinator.run_until_idle()
    quarantined = store.get_input(row.id)
    assert quarantined.state == I.QUARANTINED and "disque plein" in quarantined.reason
    [doc] = store.documents(input_id=row.id)
    assert doc.state == D.QUARANTINED and doc.resume_state == D.OCR_DONE

    from pipeline.quarantine import release_input
    monkeypatch.setitem(stages.STAGES, D.OCR_DONE, real_classify)
    release_input(config, store, quarantined)
    assert store.get_input(row.id).reason is None and store.get_input(row.id).state == I.SPLIT
    fresh = InlineExecutor(FakeOcr())
    Coordinator(ctx, fresh).submit(row.id)
    assert store.get_document(doc.id).state == D.PUBLISHED and fresh.keys == []  # no split, no OCR again


def test_a_lost_local_worker_reads_as_worker_lost(home):
    config = load_config(home)
    executor = LocalExecutor(config, workers=1)
    try:
        future = executor._submit(os._exit, 3)
        with pytest.raises(WorkerLost):
            future.result(timeout=60)
        executor.reset()
        assert executor._submit(sum, [1, 2]).result(timeout=60) == 3  # a fresh pool after the loss
    finally:
        executor.shutdown()


# -- supervisors at the same instant ------------------------------------------------------------------

@pytest.fixture
def review(home):
    config, store = make_home(home)
    store.add_user("bruno", FAST_HASHER.hash("motdepasse-bruno-2"), "supervisor")
    PASSWORDS.setdefault("bruno", "motdepasse-bruno-2")
    service = MailroomService(config, store)
    app = create_app(config, store, service=service)
    with TestClient(app) as first, TestClient(app) as second:
        yield config, store, service, [(first, log_in(first, "claire")), (second, log_in(second, "bruno"))]


def race(monkeypatch, actions):
    """Run the actions in two threads that both found the letter waiting before either moves it."""
    barrier = threading.Barrier(len(actions))
    real = Decisions._waiting

    def waiting_then_meet(self, document_id):
        doc = real(self, document_id)
        barrier.wait(timeout=10)
        return doc

    monkeypatch.setattr(Decisions, "_waiting", waiting_then_meet)
    answers = [None] * len(actions)

    def run(index):
        answers[index] = actions[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return answers


@pytest.mark.parametrize("second_action", ["decision", "rejection"])
def test_two_supervisors_at_the_same_instant_file_the_letter_once(review, monkeypatch, second_action):
    config, store, service, clients = review
    for round_ in range(20):
        doc = add_review_document(config, store, f"course-{second_action}-{round_}", "Objet : nid de poule sur la RD 12",
                                  guesses=[("routes", 0.55), ("colleges", 0.3)])
        (first, token1), (second, token2) = clients
        decide = lambda: first.post(f"/documents/{doc.id}/decision", follow_redirects=False,  # noqa: E731
                                    data={"csrf": token1, "category": "routes"})
        if second_action == "decision":
            other = lambda: second.post(f"/documents/{doc.id}/decision", follow_redirects=False,  # noqa: E731
                                        data={"csrf": token2, "category": "colleges"})
        else:
            other = lambda: second.post(f"/documents/{doc.id}/rejection", follow_redirects=False,  # noqa: E731
                                        data={"csrf": token2, "reason": "Publicité"})
        answers = race(monkeypatch, [decide, other])
        assert sorted(a.status_code for a in answers) == [303, 409], [a.text[:300] for a in answers]
        loser = next(a for a in answers if a.status_code == 409)
        winner_name = "claire" if answers[0].status_code == 303 else "bruno"
        assert f"Ce courrier a déjà été traité par {winner_name} à" in loser.text
        decided = [e for e in store.events(document_id=doc.id) if e.kind in ("reviewed", "rejected")]
        assert len(decided) == 1 and decided[0].actor == winner_name
        published = store.events(document_id=doc.id, kind="published")
        examples = [e for e in store.examples() if e["document_id"] == doc.id]
        library = [p for p in config.library_dir.rglob("*.pdf.json") if json.loads(p.read_text())["uid"] == doc.uid]
        reason_file = config.quarantine_dir / f"{doc.id}.pdf.reason.txt"
        if decided[0].kind == "reviewed":
            assert len(published) == 1 and len(examples) == 1 and len(library) == 1 and not reason_file.exists()
        else:
            assert published == [] and examples == [] and library == [] and reason_file.exists()
            assert store.get_document(doc.id).state == D.REJECTED


def test_decisions_share_the_service_publisher(review):
    config, store, service, clients = review
    (client, token), _ = clients
    publisher = service.publisher
    for name in ("un", "deux"):
        doc = add_review_document(config, store, name, "Objet : RD 12", guesses=[("routes", 0.5)])
        assert client.post(f"/documents/{doc.id}/decision", data={"csrf": token, "category": "routes"},
                           follow_redirects=False).status_code == 303
    assert service.publisher is publisher and len(store.documents(D.PUBLISHED)) == 2


# -- two installations, one library ----------------------------------------------------------------------

def test_two_homes_publishing_into_one_local_library_keep_each_letter_once(tmp_path):
    library = tmp_path / "bibliotheques"
    published = {}
    for name, words in (("site-a", "Objet : nid de poule RD 12"), ("site-b", "Objet : éclairage RD 7")):
        home = tmp_path / name
        home.mkdir()
        (home / "mailroom.toml").write_text(f"[publish]\nlibrary_dir = '{library}'\n", encoding="utf-8")
        config, store = make_home(home)
        doc = add_review_document(config, store, "lettre", words, guesses=[("routes", 0.5)], sender="Jean Dupont")
        assert doc.id == "L000001-1"  # both installations number their letters the same way
        done = MailroomService(config, store).decide(doc.id, "routes", dict(doc.fields), "claire")
        published[name] = (done, Path(done.destination), Path(done.destination).read_bytes())
        if name == "site-a":
            first_sidecar = Path(done.destination + ".json").read_bytes()
    (a, a_path, a_bytes), (b, b_path, b_bytes) = published["site-a"], published["site-b"]
    assert a.uid != b.uid and a_path != b_path and a_path.parent == b_path.parent
    assert a_path.read_bytes() == a_bytes and Path(str(a_path) + ".json").read_bytes() == first_sidecar
    assert stages.pdf_uid(a_path) == a.uid and stages.pdf_uid(b_path) == b.uid
    assert len(list(library.rglob("*.pdf"))) == 2
    # each installation finds its own file again by uid, never the other's
    config_a = load_config(tmp_path / "site-a")
    again = LocalPublisher(config_a).publish(a, a_path, config_a.categories["routes"])
    assert again.already_there and again.destination == str(a_path)
    assert len(list(library.rglob("*.pdf"))) == 2


# -- the command and its processes ------------------------------------------------------------------------

def session_processes(session_id: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == session_id and fields[0] != "Z":  # fields[3] is the session id
                found.append(int(entry.name))
    return found


@pytest.mark.slow
def test_workers_end_by_themselves_after_kill_9_of_the_coordinator(home, tmp_path):
    write_test_config(home)
    service = Service(home)
    session = service.process.pid
    try:
        for index in range(2):
            drop(make_pdf(tmp_path / f"l{index}.pdf", [f"Lettre {index}"], pages=3), home / "inbox")
        wait_for(lambda: len(session_processes(session)) >= 3, 120, interval=0.2,
                 what="the coordinator, its forkserver and a worker")
    finally:
        os.kill(service.process.pid, signal.SIGKILL)  # the coordinator only, not its group
        service.process.wait(30)
        service.log.close()
    try:
        wait_for(lambda: not session_processes(session), 30, interval=0.5, what="every worker to end")
    finally:
        for pid in session_processes(session):  # never leave a process behind, even when the test fails
            os.kill(pid, signal.SIGKILL)


# -- errors become exit codes in one place ------------------------------------------------------------------

@pytest.mark.parametrize("raised, code", [(KeyboardInterrupt(), 130), (DecisionError("unknown-category", category="x"), 1),
                                          (PublishError("library-folder-unwritable", folder="x", error="plein"), 3), (BadInput("empty-file"), 3)])
def test_main_turns_errors_into_exit_codes_without_a_traceback(home, monkeypatch, capsys, raised, code):
    from pipeline import cli

    def failing(config, args):
        raise raised

    monkeypatch.setattr(cli, "cmd_status", failing)
    assert cli.main(["--home", str(home), "status"]) == code
    err = capsys.readouterr().err
    assert "Traceback" not in err and (code == 130 or str(raised) in err)


# -- a decision's effects are one transaction, or completed from the journal after a crash ---------------------

def test_a_decision_and_its_training_example_are_one_transaction(home, monkeypatch):
    config, store = make_home(home)
    doc = add_review_document(config, store, "exemple", "Objet : RD 12", guesses=[("routes", 0.5)])
    decisions = Decisions(StageContext(config, store))

    def crash(*args, **kwargs):
        raise OSError("disque plein")  # the example cannot be written: nothing of the decision may remain

    monkeypatch.setattr(Store, "_add_example", staticmethod(crash))
    with pytest.raises(OSError):
        decisions.decide(doc.id, "routes", {}, "claire")
    assert store.get_document(doc.id).state == D.REVIEW
    assert store.events(document_id=doc.id, kind="reviewed") == [] and store.examples() == []
    monkeypatch.undo()
    decided = decisions.decide(doc.id, "routes", {}, "claire")
    assert decided.state == D.PUBLISHED
    assert [(e["document_id"], e["category"], e["actor"]) for e in store.examples()] == [(doc.id, "routes", "claire")]


def test_a_rejection_cut_by_a_crash_gets_its_copy_and_reason_file_at_the_next_start(home, monkeypatch):
    config, store = make_home(home)
    doc = add_review_document(config, store, "pub", "Promotion sur les pneus", guesses=[("routes", 0.3)])
    decisions = Decisions(StageContext(config, store))

    def killed(*args, **kwargs):
        raise SystemExit("kill -9")  # the process dies right after the rejection's transaction

    monkeypatch.setattr("pipeline.decisions.quarantine_document", killed)
    with pytest.raises(SystemExit):
        decisions.reject(doc.id, "Publicité, pas un courrier", "bruno")
    copy = config.quarantine_dir / f"{doc.id}.pdf"
    assert store.get_document(doc.id).state == D.REJECTED and not copy.exists()
    monkeypatch.undo()
    service = MailroomService(config, store, workers=1)
    try:
        service.coordinator.resume()  # what `watch` / `serve` / `process` do when they start
    finally:
        service.close()
    reason = copy.with_name(copy.name + ".reason.txt").read_text(encoding="utf-8")
    assert copy.read_bytes() == Path(doc.pdf).read_bytes()
    assert f"Document {doc.id} rejeté par bruno" in reason and "Publicité, pas un courrier" in reason
    assert store.last_move(doc.id, D.REJECTED)[1] in reason  # the journaled time, not the restart's
    before = copy.stat().st_mtime_ns
    service = MailroomService(config, store, workers=1)
    try:
        service.coordinator.resume()  # complete already: nothing is written again
    finally:
        service.close()
    assert copy.stat().st_mtime_ns == before


def one_letter_cut(home):
    """A one-page letter split from its batch, with a fake OCR step: (config, store, context, document)."""
    write_test_config(home)
    config = load_config(home)
    store = Store(config.database_path)
    ctx = StageContext(config, store, ocr_page=FakeOcr())
    row = spooled_input(config, store)
    source, result = split_task(row.spool_path, row.split_mode, config)
    [doc] = stages.create_documents(row, source, result, ctx)
    return config, store, ctx, doc


def test_the_pdf_gets_its_metadata_in_one_write_after_routing(home, monkeypatch):
    """Assembly writes no metadata; the one write after routing (stamp, metadata, uid) gives the checksum
    journaled at `published`, which is the library file's."""
    config, store, ctx, doc = one_letter_cut(home)
    doc = stages.ocr(doc, ctx)
    assert doc.state == D.OCR_DONE
    with pikepdf.open(doc.pdf) as pdf:
        assert "/Title" not in pdf.docinfo and "/MailroomUid" not in pdf.docinfo
    writes, finish = [], stages.finish_pdf
    monkeypatch.setattr(stages, "finish_pdf", lambda *args: writes.append(args[0].id) or finish(*args))
    doc = stages.advance(doc, ctx)
    assert doc.state == D.PUBLISHED and writes == [doc.id]
    published = store.events(document_id=doc.id, kind="published")[0].details
    assert published["pdf_sha256"] == hashlib.sha256(Path(doc.destination).read_bytes()).hexdigest()


def test_two_processes_publishing_one_letter_at_once_file_it_once(home, monkeypatch):
    """`mailroom retry` beside `serve`: two services on one database, no lock in common but the store's."""
    config, store, ctx, doc = one_letter_cut(home)
    doc = stages.advance(doc, ctx, stop_at=frozenset({D.ROUTED}))
    assert doc.state == D.ROUTED
    calls, publish = [], LocalPublisher.publish

    def slow(self, *args):
        calls.append(threading.get_ident())
        time.sleep(0.5)  # long enough for the other to find the letter still routed
        return publish(self, *args)

    monkeypatch.setattr(LocalPublisher, "publish", slow)
    services = [StageContext(config, Store(config.database_path)) for _ in range(2)]
    answers = race(monkeypatch, [lambda c=c: stages.publish(c.store.get_document(doc.id), c) for c in services])
    assert [a.state for a in answers].count(D.PUBLISHED) >= 1 and len(calls) == 1
    assert len(store.events(document_id=doc.id, kind="published")) == 1
    assert len(list(config.library_dir.rglob("*.pdf"))) == 1


def test_a_lease_held_by_a_dead_process_is_taken_over(home):
    store = Store(load_config(home).database_path)
    holder = store.take_lease("publish:L1", 900)
    assert holder and store.take_lease("publish:L1", 900) is None  # held: nobody else
    dead = subprocess.Popen(["true"])
    dead.wait()
    with store._tx() as db:  # the holder was killed (kill -9) before it released the lease
        db.execute("UPDATE leases SET holder = ? WHERE name = ?", (f"{socket.gethostname()}:{dead.pid}:1", "publish:L1"))
    assert store.take_lease("publish:L1", 900) is not None
