"""Coordinator behaviour that needs no OCR: publication retries and their back-off."""
from datetime import datetime, timedelta, timezone

import pikepdf

from pipeline.config import load_config
from pipeline.records import PUBLISH_FAILED, PUBLISHED, ROUTED, Document
from pipeline.service import MailroomService
from pipeline.store import Store


def routed_document(tmp_path, store: Store) -> Document:
    """A routed document, recorded as the stages leave it (publication moves it from there)."""
    pdf = tmp_path / "doc.pdf"
    new = pikepdf.new()
    new.add_blank_page()
    new.save(pdf)
    doc = Document(id="L000001-01", input_id="L000001", source="scan.pdf", source_sha256="0" * 64,
                   source_pages=[1], received_at="2026-03-03T09:00:00+01:00", state=ROUTED, pdf=str(pdf),
                   category="routes", confidence=0.97, fields={"sender": "Mairie de Bihorel"})
    store.save_document(doc)
    return doc


def test_failed_publication_is_retried_automatically_after_its_back_off(home, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    (home / "mailroom.toml").write_text(f"[publish]\nlibrary_dir = '{blocker}/library'\n", encoding="utf-8")
    store = Store(load_config(home).database_path)
    store.add_input("0" * 64, "scan.pdf", str(tmp_path / "scan.pdf"), "2026-03-03T09:00:00+01:00")
    pipeline = MailroomService(load_config(home), store, workers=1).coordinator
    doc = pipeline.publish(routed_document(tmp_path, store))
    assert doc.state == PUBLISH_FAILED and doc.attempts == 1
    retry_after = datetime.fromisoformat(store.get_document(doc.id).retry_after)
    assert retry_after > datetime.now(timezone.utc) + timedelta(seconds=50)

    (home / "mailroom.toml").write_text("", encoding="utf-8")  # the target is back
    pipeline = MailroomService(load_config(home), store, workers=1).coordinator
    assert pipeline.retry_due_publications() == 0  # not before its back-off
    assert store.get_document(doc.id).state == PUBLISH_FAILED

    waiting = store.get_document(doc.id)
    waiting.retry_after = (datetime.now(timezone.utc) - timedelta(seconds=1)).isoformat()
    store.save_document(waiting)
    assert pipeline.retry_due_publications() == 1
    published = store.get_document(doc.id)
    assert published.state == PUBLISHED and published.retry_after is None
    kinds = [e.kind for e in store.events(document_id=doc.id) if e.kind.startswith("publish")]
    assert kinds == ["publish-failed", "published"]  # (its number and acknowledgement are journaled too)


def test_back_off_grows_with_attempts(home, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    (home / "mailroom.toml").write_text(f"[publish]\nlibrary_dir = '{blocker}/library'\n", encoding="utf-8")
    store = Store(load_config(home).database_path)
    store.add_input("0" * 64, "scan.pdf", str(tmp_path / "scan.pdf"), "2026-03-03T09:00:00+01:00")  # its scan
    pipeline = MailroomService(load_config(home), store, workers=1).coordinator
    doc = routed_document(tmp_path, store)
    delays = []
    for _ in range(3):
        before = datetime.now(timezone.utc)
        doc = pipeline.publish(doc)
        delays.append((datetime.fromisoformat(doc.retry_after) - before).total_seconds())
    assert delays[0] < delays[1] < delays[2] and delays[2] <= 3600 + 1
