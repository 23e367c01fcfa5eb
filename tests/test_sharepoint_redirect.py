"""Agents send misrouted mail back: « Réorienter vers » in SharePoint, `<file>.reorienter` locally."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote

import pikepdf
import pytest

from pipeline.publish.redirect import RedirectPoller
from pipeline.records import PUBLISHED
from pipeline.service import MailroomService
from tests.support.review_data import add_review_document, make_home
from tests.support.sp_emulator import emulator, write_config  # noqa: F401

TEXT = "Objet : transport scolaire du collège Jean Moulin\nMadame, mon fils attend le car depuis septembre."


def published_letter(home: Path, name: str = "lettre", category: str = "routes"):
    config, store = make_home(home)
    doc = add_review_document(config, store, name, TEXT, guesses=[(category, 0.55)], sender="Jeanne Martin")
    service = MailroomService(config, store)
    done = service.decide(doc.id, category, dict(doc.fields), "claire")
    assert done.state == PUBLISHED
    return config, store, service, done


def test_an_agent_sends_a_letter_to_another_library(emulator, home):
    write_config(home, emulator)
    config, store, service, doc = published_letter(home)
    [old] = emulator.files_in("Routes")
    emulator.agent_sets(old, "Réorienter vers", "Collèges", editor="Agent Martin")
    uploads = len(emulator.requests(r"Files/add"))

    poller = RedirectPoller(config, store, service.publisher)
    assert poller.poll_once() == 1
    assert emulator.files_in("Routes") == []
    [new] = emulator.files_in("Colleges")
    values = emulator.field_values(new)
    assert values["Identifiant"] == doc.uid and values["Catégorie"] == "Collèges"
    assert values["Expéditeur"] == "Jeanne Martin" and values["Title"] == doc.id
    assert values.get("Réorienter vers") in (None, "")
    assert new.content != old.content  # the PDF's metadata says the new category
    with pikepdf.open(__import__("io").BytesIO(new.content)) as pdf:
        assert "Collèges" in str(pdf.docinfo.get("/Subject", "")) + str(pdf.docinfo.get("/Keywords", ""))
    moved = store.get_document(doc.id)
    assert moved.category == "colleges" and unquote(moved.destination).endswith(new.path)
    [event] = store.events(document_id=doc.id, kind="redirected")
    assert event.actor == "Agent Martin" and event.details["from_category"] == "routes"
    assert event.details["asked_at"] == old.modified and event.details["to_category"] == "colleges"
    [example] = [e for e in store.examples() if e["source"] == "redirection"]
    assert example["category"] == "colleges" and example["actor"] == "Agent Martin" and "collège" in example["text"]
    # The file moved once; a second poll does nothing; nothing was listed.
    assert len(emulator.requests(r"Files/add")) == uploads + 1
    log_size = len(emulator.log)
    assert poller.poll_once() == 0
    assert len(emulator.requests(r"Files/add")) == uploads + 1 and len(emulator.files_in("Colleges")) == 1
    assert all("GetItems" in r.path or "contextinfo" in r.path.lower() for r in emulator.log[log_size:])
    assert not emulator.requests(r"/Files$", "GET")


def test_a_crash_after_the_upload_is_finished_by_the_next_poll(emulator, home, monkeypatch):
    write_config(home, emulator)
    config, store, service, doc = published_letter(home)
    [old] = emulator.files_in("Routes")
    emulator.agent_sets(old, "Réorienter vers", "Collèges")
    publisher = service.publisher
    monkeypatch.setattr(publisher, "drop_redirected", lambda request: (_ for _ in ()).throw(SystemExit("crash")))
    with pytest.raises(SystemExit):
        RedirectPoller(config, store, publisher).poll_once()
    monkeypatch.undo()
    assert RedirectPoller(config, store, publisher).poll_once() == 0  # already moved in the store
    assert emulator.files_in("Routes") == [] and len(emulator.files_in("Colleges")) == 1
    assert len(store.events(document_id=doc.id, kind="redirected")) == 1
    assert len([e for e in store.examples() if e["source"] == "redirection"]) == 1


def test_an_unknown_category_is_cleared_with_a_note(emulator, home):
    write_config(home, emulator)
    config, store, service, doc = published_letter(home)
    [old] = emulator.files_in("Routes")
    emulator.agent_sets(old, "Réorienter vers", "Archives départementales")
    assert RedirectPoller(config, store, service.publisher).poll_once() == 0
    [same] = emulator.files_in("Routes")
    values = emulator.field_values(same)
    assert values.get("Réorienter vers") in (None, "")
    assert values["Remarque mailroom"].startswith("Réorientation impossible : « Archives départementales »")
    assert store.get_document(doc.id).category == "routes"
    assert store.events(document_id=doc.id, kind="redirect-refused")


def test_another_installations_letter_is_left_to_it(emulator, home, tmp_path):
    write_config(home, emulator)
    config, store, service, _ = published_letter(home)
    other_home = tmp_path / "other"
    other_home.mkdir()
    write_config(other_home, emulator)
    other_config, other_store, other_service, _ = published_letter(other_home, "autre")
    [theirs] = [f for f in emulator.files_in("Routes")
                if emulator.field_values(f)["Identifiant"] != store.documents()[0].uid]
    emulator.agent_sets(theirs, "Réorienter vers", "Collèges")
    assert RedirectPoller(config, store, service.publisher).poll_once() == 0
    assert len(emulator.files_in("Routes")) == 2  # not ours: untouched, still asked
    assert RedirectPoller(other_config, other_store, other_service.publisher).poll_once() == 1


def test_the_local_backend_reads_a_reorienter_sidecar(home):
    config, store, service, doc = published_letter(home)
    pdf = Path(doc.destination)
    Path(str(pdf) + ".reorienter").write_text("colleges\n", encoding="utf-8")
    poller = RedirectPoller(config, store, service.publisher)
    assert poller.poll_once() == 1
    moved = store.get_document(doc.id)
    assert not pdf.exists() and not Path(str(pdf) + ".json").exists()
    new = Path(moved.destination)
    assert new.is_file() and "Colleges" in new.parts and moved.category == "colleges"
    assert __import__("json").loads(Path(str(new) + ".json").read_text())["category"] == "Collèges"
    assert poller.poll_once() == 0 and len(list(config.library_dir.rglob("*.pdf"))) == 1
    # A value that is no category is refused in the sidecar.
    Path(str(new) + ".reorienter").write_text("nulle-part", encoding="utf-8")
    assert poller.poll_once() == 0
    assert "Réorientation impossible" in __import__("json").loads(Path(str(new) + ".json").read_text())[
        "redirect_note"]


def test_serve_polls_at_the_configured_interval(home):
    config, store, service, _ = published_letter(home)
    now = [0.0]
    calls = []
    poller = RedirectPoller(config, store, service.publisher, clock=lambda: now[0])
    poller.poll_once = lambda: calls.append(now[0]) or 0
    for now[0] in (0.0, 30.0, 59.0, 60.0, 61.0, 120.5):
        poller.tick()
    assert calls == [0.0, 60.0, 120.5]
