"""The service around the SharePoint publisher: a pause of minutes or a refused certificate holds the
publications, never the rest (split, OCR, classification go on), and nothing is lost when it ends."""
from __future__ import annotations

import pytest

from pipeline.cli import status_data
from pipeline.config import load_config
from pipeline.coordinator import Coordinator
from pipeline.publish.sharepoint_commands import sharepoint_lines, sharepoint_status
from pipeline.records import DocumentState
from pipeline.stages import StageContext
from pipeline.store import Store
from tests.support.service import write_test_config
from tests.support.sp_emulator import FakeClock, SharePointEmulator, default_libraries
from tests.test_lifecycle import FakeOcr, InlineExecutor, spooled_input


@pytest.fixture(autouse=True)
def quick_classifier(monkeypatch):
    """The pause is tested here, not the classifier (which takes seconds per letter): every letter is roads'."""
    import pipeline.classify

    def classify_document(doc, config):
        doc.category, doc.confidence, doc.route_source = "routes", 0.99, "model"
        doc.fields.setdefault("sender", "Jeanne Martin")
        return doc

    monkeypatch.setattr(pipeline.classify, "classify_document", classify_document)


@pytest.fixture
def site(monkeypatch):
    clock = FakeClock()
    server = SharePointEmulator(clock=clock).start()
    default_libraries(server)
    monkeypatch.setenv("MAILROOM_SHAREPOINT_TOKEN", "test-token")
    yield server, clock
    server.stop()


def sharepoint_home(home, server):
    path = write_test_config(home)
    text = path.read_text(encoding="utf-8").replace('backend = "local"           # "local" (a folder',
                                                    'backend = "sharepoint"      # "local" (a folder', 1)
    text = text.replace('site_url = ""', f'site_url = "{server.url}"', 1)
    path.write_text(text, encoding="utf-8")
    config = load_config(home)
    return config, Store(config.database_path)


def test_a_300_second_pause_holds_publication_while_ocr_goes_on(site, home):
    server, clock = site
    config, store = sharepoint_home(home, server)
    context = StageContext(config, store, ocr_page=FakeOcr())
    clock.install(context.publisher.connection)
    coordinator = Coordinator(context, InlineExecutor(context.ocr_page))
    server.throttle(300)
    first = spooled_input(config, store)
    coordinator.submit(first.id)
    coordinator.run_until_idle()
    [held] = store.documents(input_id=first.id)
    assert held.state == DocumentState.PUBLISH_FAILED and "nouvel essai dans" in held.reason
    sent = len(server.log)
    # Another letter arrives during the pause: split, OCR, classification, routing happen; no request leaves.
    second = make_second_input(config, store)
    coordinator.submit(second.id)
    coordinator.run_until_idle()
    [waiting] = store.documents(input_id=second.id)
    assert waiting.state == DocumentState.PUBLISH_FAILED and waiting.text
    assert len(server.log) == sent
    assert "en pause jusqu'à" in "\n".join(sharepoint_lines(sharepoint_status(config)))
    # When the pause is over, the retry files both, once.
    clock.now = server.throttled_until
    for doc in store.documents(DocumentState.PUBLISH_FAILED):
        coordinator.publish(doc)
    assert {d.state for d in store.documents()} == {DocumentState.PUBLISHED}
    assert sum(len(server.files_in(t.title)) for t in server.libraries.values()) == 2
    assert all(r.status != 429 for r in server.log[sent:])


def test_a_refused_token_leaves_letters_waiting_with_the_reason(site, home):
    server, clock = site
    config, store = sharepoint_home(home, server)
    server.tokens.clear()  # the token the service holds is refused: 401 with an error body, every time
    context = StageContext(config, store, ocr_page=FakeOcr())
    clock.install(context.publisher.connection)
    coordinator = Coordinator(context, InlineExecutor(context.ocr_page))
    row = spooled_input(config, store)
    coordinator.submit(row.id)
    coordinator.run_until_idle()  # returns: nothing escapes the coordinator
    [doc] = store.documents(input_id=row.id)
    assert doc.state == DocumentState.PUBLISH_FAILED
    failed = status_data(store)["publish_failed"]
    assert failed[0]["id"] == doc.id and "refuse le jeton" in failed[0]["error"]
    assert store.get_input(row.id).state != "quarantined"


def make_second_input(config, store):
    from tests.support.review_data import make_pdf
    import hashlib

    scan = make_pdf(config.spool_dir / "lettre-2.pdf", ["Monsieur le Président,", "deuxième lettre"], 1)
    return store.add_input(hashlib.sha256(scan.read_bytes()).hexdigest(), "lettre-2.pdf", str(scan),
                           "2026-03-03T10:00:00+01:00", split_mode="none")

