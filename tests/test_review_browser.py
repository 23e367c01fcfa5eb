"""The review app in a real browser: a supervisor clears the queue with the keyboard alone."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pipeline.records import PUBLISHED, REVIEW
from pipeline.review.server import start
from tests.support.review_browser import browser  # noqa: F401  (the module's Chromium)
from tests.support.review_data import PASSWORDS, add_review_document, make_home

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect


@pytest.fixture
def served(home):
    config, store = make_home(home)
    plain = add_review_document(config, store, "route", "Objet : nid de poule sur la RD 12\nMonsieur le Président,",
                                guesses=[("colleges", 0.48), ("routes", 0.31), ("autre", 0.12)], hours_ago=20)
    urgent = add_review_document(config, store, "rsa", "Demande urgente de RSA", urgent=True, hours_ago=1,
                                 guesses=[("rsa-insertion", 0.55), ("enfance-famille", 0.3)], sender="Marie Martin")
    server = start(config, host="127.0.0.1", port=0)
    try:
        yield config, store, server, plain, urgent
    finally:
        server.stop()
    assert not server.running


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def sidecar_of(doc) -> dict:
    return json.loads(Path(doc.destination + ".json").read_text(encoding="utf-8"))


def test_supervisor_corrects_categories_with_the_keyboard(served, page):
    config, store, server, plain, urgent = served

    # Every page is behind the login; the login form is usable by keyboard alone.
    page.goto(server.url + "/queue")
    expect(page).to_have_url(re.compile(r"/login\?suivant="))
    expect(page.get_by_role("heading", name="Se connecter")).to_be_visible()
    page.keyboard.type("claire")                      # the name field has the focus
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORDS["claire"])
    page.keyboard.press("Enter")

    # The queue: urgent first, then oldest.
    expect(page).to_have_url(server.url + "/queue")
    expect(page.get_by_role("heading", name=re.compile("File d'attente"))).to_be_visible()
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("Urgent")
    expect(rows.nth(0)).to_contain_text(urgent.id)
    page.keyboard.press("j")                          # focus the first row, open it with Enter
    page.keyboard.press("Enter")
    expect(page).to_have_url(server.url + f"/documents/{urgent.id}")

    # Z zooms the page images; the first page is rendered from the searchable PDF.
    first_page = page.locator(".pages img").first
    expect(first_page).to_have_attribute("src", f"/documents/{urgent.id}/pages/1/page")
    page.keyboard.press("z")
    expect(first_page).to_have_attribute("src", f"/documents/{urgent.id}/pages/1/zoom")
    page.keyboard.press("z")

    # ? shows the keys.
    page.keyboard.press("?")
    expect(page.get_by_role("dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()

    # A category outside the top three, through the filterable list: /, type, Enter picks, Enter decides.
    page.keyboard.press("/")
    expect(page.locator("#filtre")).to_be_focused()
    page.keyboard.type("routes dep")
    page.keyboard.press("Enter")
    expect(page.locator("#cat-routes")).to_be_checked()
    page.keyboard.press("Enter")

    # The next document opens by itself; the first one is published with its new category.
    expect(page).to_have_url(server.url + f"/documents/{plain.id}")
    expect(page.locator(".flash")).to_contain_text("publié")
    decided = store.get_document(urgent.id)
    assert decided.state == PUBLISHED and decided.category == "routes"
    assert Path(decided.destination).is_relative_to(config.library_dir / "Routes")
    assert sidecar_of(decided)["category_id"] == "routes"
    assert sidecar_of(decided)["category"] == "Routes départementales"
    journal = store.events(document_id=urgent.id, kind="reviewed")
    assert len(journal) == 1 and journal[0].actor == "claire"
    assert journal[0].details["before"]["category"] == "rsa-insertion"
    assert journal[0].details["after"]["category"] == "routes"

    # The second guess with the key 2, then Enter: the queue is empty afterwards.
    page.keyboard.press("2")
    expect(page.locator("#cat-routes")).to_be_checked()
    page.keyboard.press("Enter")
    expect(page).to_have_url(server.url + "/queue")
    expect(page.get_by_text("Aucun document n'attend de revue")).to_be_visible()
    decided = store.get_document(plain.id)
    assert decided.state == PUBLISHED and sidecar_of(decided)["category_id"] == "routes"
    assert store.events(document_id=plain.id, kind="reviewed")[0].details["before"]["category"] == "colleges"
    assert store.documents(REVIEW) == []
    assert {e["document_id"] for e in store.examples()} == {plain.id, urgent.id}


def test_reject_with_the_keyboard_and_viewer_is_read_only(served, page):
    config, store, server, plain, urgent = served
    page.goto(server.url + "/login")
    page.fill("#username", "victor")
    page.fill("#password", PASSWORDS["victor"])
    page.keyboard.press("Enter")
    expect(page).to_have_url(server.url + "/queue")
    page.goto(server.url + f"/documents/{plain.id}")
    expect(page.get_by_text("Lecture seule : votre compte")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile("Valider"))).to_have_count(0)
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    expect(page).to_have_url(server.url + f"/documents/{plain.id}")
    assert store.get_document(plain.id).state == REVIEW
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page).to_have_url(server.url + "/login")

    page.fill("#username", "claire")
    page.fill("#password", PASSWORDS["claire"])
    page.keyboard.press("Enter")
    expect(page).to_have_url(server.url + "/queue")
    page.goto(server.url + f"/documents/{plain.id}")
    page.keyboard.press("r")
    expect(page.locator("#reason")).to_be_focused()
    page.keyboard.type("Publicité, pas un courrier")
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")                      # the Rejeter button
    expect(page).to_have_url(server.url + f"/documents/{urgent.id}")
    expect(page.locator(".flash")).to_contain_text("rejeté")
    rejected = store.get_document(plain.id)
    assert rejected.state == "rejected" and rejected.reason == "Publicité, pas un courrier"
    assert store.events(document_id=plain.id, kind="rejected")[0].actor == "claire"
