"""The review app and registration: number and deadline on the document page, cancel or force the
acknowledgement before it goes (journaled), deadlines and pending acknowledgements on the dashboard."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from pipeline.records import PUBLISHED
from pipeline.registration import steps
from pipeline.registration.acknowledgement import Acknowledger
from pipeline.review.app import create_app
from tests.support.registration import LETTER, write_config
from tests.support.review_client import log_in
from tests.support.review_data import add_review_document, make_home


@pytest.fixture
def setup(home):
    write_config(home, delay_minutes=30)
    config, store = make_home(home)
    docs = [add_review_document(config, store, name, LETTER, guesses=[("rsa-insertion", 0.6), ("factures", 0.2)])
            for name in ("premier", "second")]
    for doc in docs:  # as the runner leaves them: split, then registered
        store.transition_input(doc.input_id, "received", "split", "split")
    steps.register(config, store)
    for doc in docs:
        doc = store.get_document(doc.id)
        store.save_document(steps.set_deadline(config, doc))
    with TestClient(create_app(config, store)) as client:
        yield config, store, [store.get_document(d.id) for d in docs], client


def test_document_page_shows_number_and_deadline(setup):
    config, store, docs, client = setup
    log_in(client, "claire")
    page = client.get(f"/documents/{docs[0].id}").text
    assert f"N° d'enregistrement <strong>{docs[0].registration}</strong>" in page
    assert f"{date.fromisoformat(docs[0].deadline):%d/%m/%Y}" in page
    assert "Ne pas envoyer d'accusé de réception" in page


def test_supervisor_cancels_then_decides_no_acknowledgement_goes(setup):
    config, store, docs, client = setup
    token = log_in(client, "claire")
    response = client.post(f"/documents/{docs[0].id}/acknowledgement", data={"csrf": token, "action": "cancel"},
                           follow_redirects=False)
    assert response.status_code == 303
    assert "Annulé" in client.get(f"/documents/{docs[0].id}").text
    client.post(f"/documents/{docs[0].id}/decision", data={"csrf": token, "category": "rsa-insertion"})
    doc = store.get_document(docs[0].id)
    assert doc.state == PUBLISHED and doc.acknowledgement["state"] == "cancelled"
    assert [(e.kind, e.actor) for e in store.events(doc.id) if e.kind.startswith("acknowledgement")] == [
        ("acknowledgement-cancelled", "claire")]
    assert not (config.home / "acknowledgements").exists()


def test_reviewed_letter_is_acknowledged_at_once_and_forced_one_even_without_kind(setup):
    config, store, docs, client = setup
    token = log_in(client, "claire")
    client.post(f"/documents/{docs[0].id}/decision", data={"csrf": token, "category": "rsa-insertion"})
    first = store.get_document(docs[0].id)
    assert first.acknowledgement["state"] == "batched"  # after a decision there is no delay
    assert first.acknowledgement["kind"] == "svr"
    # "factures" acknowledges nothing, and has no service: forcing cannot make a lawful one.
    client.post(f"/documents/{docs[1].id}/acknowledgement", data={"csrf": token, "action": "force"})
    client.post(f"/documents/{docs[1].id}/decision", data={"csrf": token, "category": "factures"})
    second = store.get_document(docs[1].id)
    assert second.state == PUBLISHED and second.acknowledgement["state"] == "none"
    assert "acknowledgement-none" in [e.kind for e in store.events(second.id)]


def test_viewer_cannot_cancel(setup):
    config, store, docs, client = setup
    token = log_in(client, "victor")
    response = client.post(f"/documents/{docs[0].id}/acknowledgement", data={"csrf": token, "action": "cancel"})
    assert response.status_code == 403
    assert store.get_document(docs[0].id).acknowledgement.get("state") is None


def test_dashboard_lists_deadlines_and_acknowledgements_waiting_and_force_sends(setup):
    config, store, docs, client = setup
    doc = docs[0]
    doc.route_source, doc.deadline = "model", (date.today() + timedelta(days=1)).isoformat()
    for to_state, event in (("routed", "reviewed"), (PUBLISHED, "published")):
        doc = store.transition(doc.id, doc.state, to_state, event, document=doc).doc
    Acknowledger(config, store).plan(doc, reviewed=False)  # auto-routed: waits delay_minutes = 30
    late = docs[1]
    late.deadline = (date.today() - timedelta(days=3)).isoformat()
    store.save_document(late)
    token = log_in(client, "claire")
    page = client.get("/dashboard").text
    overdue = page.split("Dépassés")[1].split("</table>")[0]
    soon = page.split("À échéance dans les 5 jours ouvrés")[1].split("</table>")[0]
    assert late.registration in overdue and doc.registration in soon
    assert "prévu — courrier papier" in page
    client.post(f"/documents/{doc.id}/acknowledgement", data={"csrf": token, "action": "force"})
    assert store.get_document(doc.id).acknowledgement["state"] == "batched"
    assert "Aucun accusé de réception en attente." in client.get("/dashboard").text


def test_mail_for_another_administration_is_transmitted_and_the_sender_told(setup):
    config, store, docs, client = setup
    import subprocess
    token = log_in(client, "claire")
    page = client.get(f"/documents/{docs[0].id}").text
    assert "Caisse d&#39;allocations familiales de la Seine-Maritime" in page or "Caisse d'allocations" in page
    refused = client.post(f"/documents/{docs[0].id}/decision",
                          data={"csrf": token, "category": "autre-administration"})
    assert refused.status_code == 400 and "organisme compétent" in refused.text
    client.post(f"/documents/{docs[0].id}/decision",
                data={"csrf": token, "category": "autre-administration", "transmit_to": "caf"})
    doc = store.get_document(docs[0].id)
    assert doc.state == PUBLISHED and "Transmis" in doc.destination
    ack = doc.acknowledgement
    assert ack["state"] == "transmitted" and ack["body"] == "caf"  # no acknowledgement of our own
    text = lambda path: " ".join(subprocess.run(["pdftotext", path, "-"], capture_output=True, text=True,
                                                check=True).stdout.split())
    slip, notice = text(ack["slip"]), text(ack["file"])
    assert "Bordereau de transmission" in slip and "L114-2" in slip and doc.registration in slip
    assert "Caisse d'allocations familiales de la Seine-Maritime" in slip
    import pikepdf
    with pikepdf.open(ack["slip"]) as pdf:
        assert len(pdf.pages) == 1 + doc.pages  # the slip, then the letter itself
    assert "ne relève pas de la compétence du Département" in notice and "12 rue de la CAF, 76000 Rouen" in notice
    assert "Jeanne Martin" in notice and "vous en accusera réception" in notice
    [event] = store.events(doc.id, kind="transmitted")
    assert event.actor == "claire" and event.details["body"] == "caf"
    assert not (config.home / "acknowledgements").exists()
    board = client.get("/dashboard").text.split("Transmissions à une autre administration (L114-2)")[1]
    assert doc.registration in board and "Avis à l&#39;expéditeur" in board and "dans le lot papier du jour" in board
