"""The review app for real operations, in Debian's Chromium: accessibility (axe-core, keyboard, live region),
access by category, sessions that survive a restart, no lock-out, nothing left in the cache after logout."""
from __future__ import annotations

import re

import pytest

from pipeline.config import load_config
from pipeline.records import PUBLISHED
from pipeline.review.server import start
from tests.support.review_browser import browser  # noqa: F401  (the module's Chromium)
from tests.support.review_data import PASSWORDS, add_review_document, make_home

sync_api = pytest.importorskip("playwright.sync_api")
axe_playwright = pytest.importorskip("axe_playwright_python.sync_playwright")
expect = sync_api.expect
WCAG_A_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


@pytest.fixture
def served(home):
    """Four letters of four directions, and a server that believes X-Forwarded-For from 127.0.0.1 only
    (as behind a reverse proxy on the same machine)."""
    (home / "mailroom.toml").write_text('[review]\ntrusted_proxies = ["127.0.0.1"]\n', encoding="utf-8")
    config, store = make_home(home)
    docs = [
        add_review_document(config, store, "ase", "Information préoccupante\nL'enfant est en danger.", hours_ago=6,
                            guesses=[("enfance-famille", 0.6), ("juridique", 0.2)], urgent=True,
                            sender="Mme Durand"),
        add_review_document(config, store, "rsa", "Objet : ma demande de RSA", hours_ago=5,
                            guesses=[("rsa-insertion", 0.52), ("autre", 0.3)], sender="M. Petit"),
        add_review_document(config, store, "routes", "Nid de poule sur la RD 12", hours_ago=4,
                            guesses=[("routes", 0.55), ("colleges", 0.25)], sender="Mairie de Duclair"),
        add_review_document(config, store, "autre", "Catalogue de fournitures", hours_ago=3,
                            guesses=[("autre", 0.4), ("factures", 0.3)], sender="Fournitures SA"),
    ]
    server = start(config, host="127.0.0.1", port=0)
    holder = {"server": server}
    try:
        yield config, store, holder, docs
    finally:
        holder["server"].stop()


def new_page(browser, **options):
    context = browser.new_context(locale="fr-FR", viewport={"width": 1280, "height": 900}, **options)
    context.set_default_timeout(15_000)
    return context.new_page()


def log_in(page, url: str, user: str, password: str | None = None) -> None:
    page.goto(url + "/login")
    page.fill("#username", user)
    page.fill("#password", password or PASSWORDS[user])
    page.keyboard.press("Enter")
    page.wait_for_url(lambda address: "/login" not in address)


def assert_accessible(page, axe) -> None:
    results = axe.run(page, options=WCAG_A_AA)
    problems = [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
                for v in results.response["violations"]]
    assert problems == [], f"{page.url}: " + "\n".join(problems)


def test_every_page_passes_axe_core_wcag_21_a_aa(served, browser):
    config, store, holder, docs = served
    url, axe = holder["server"].url, axe_playwright.Axe()
    page = new_page(browser)
    for path in ("/login", "/accessibilite"):  # what a stranger sees, footer link included
        page.goto(url + path)
        expect(page.get_by_role("contentinfo").get_by_role("link", name=re.compile("Accessibilité"))).to_be_visible()
        assert_accessible(page, axe)
    page.goto(url + "/login")
    page.fill("#username", "claire")
    page.fill("#password", "mauvais-mot-de-passe")
    page.keyboard.press("Enter")
    expect(page.get_by_role("alert")).to_contain_text("incorrect")
    assert_accessible(page, axe)  # the login page with its error
    log_in(page, url, "alain")
    expect(page).to_have_url(url + "/queue")
    pages = ["/queue", f"/documents/{docs[0].id}", f"/documents/{docs[1].id}", "/dashboard", "/aide", "/compte",
             "/admin/comptes", "/accessibilite", "/documents/L999999-01"]
    for path in pages:
        page.goto(url + path)
        expect(page.locator("footer a[href='/accessibilite']")).to_be_visible()
        assert_accessible(page, axe)
    page.goto(url + f"/documents/{docs[0].id}")
    page.keyboard.press("r")  # the rejection form opened
    assert_accessible(page, axe)
    page.keyboard.press("Escape")
    page.keyboard.press("?")  # the shortcuts dialog
    expect(page.get_by_role("dialog")).to_be_visible()
    assert_accessible(page, axe)
    # The check can fail: axe-core, under this page's CSP, does find what is wrong.
    page.goto(url + "/queue")
    page.evaluate("""() => { const img = document.createElement('img'); img.src = '/static/none.png';
                             document.querySelector('main').append(img);
                             document.documentElement.removeAttribute('lang'); }""")
    found = {v["id"] for v in axe.run(page, options=WCAG_A_AA).response["violations"]}
    assert {"image-alt", "html-has-lang"} <= found
    page.context.close()


def test_keyboard_only_review_of_three_letters_with_announcements(served, browser):
    config, store, holder, docs = served
    url = holder["server"].url
    page = new_page(browser)
    page.goto(url + "/queue")
    expect(page.locator("#username")).to_be_focused()  # focus starts in the name field
    page.keyboard.type("claire")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORDS["claire"])
    page.keyboard.press("Enter")
    expect(page).to_have_url(url + "/queue")
    expect(page.locator("table.queue tbody tr")).to_have_count(4)
    page.wait_for_load_state("load")  # the keys are the script's: a key pressed before it runs is lost
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page).to_have_url(url + f"/documents/{docs[0].id}")
    page.wait_for_load_state("load")
    live = page.locator("#annonce")
    expect(live).to_have_attribute("role", "status")
    expect(live).to_have_attribute("aria-live", "polite")
    expect(live).to_have_text("")  # nothing decided yet, nothing said
    # 1: the first guess; 2: the second guess; 3: another category through the filter.
    for keys, following in ((["1"], docs[1]), (["2"], docs[2]), (["/", *"cabinet", "Enter"], docs[3])):
        for key in keys:
            page.keyboard.press(key)
        page.keyboard.press("Enter")
        expect(page).to_have_url(url + f"/documents/{following.id}")
        expect(live).to_have_text(f"Courrier classé, suivant : {following.id}, {following.fields['sender']}")
    assert [store.get_document(d.id).category for d in docs[:3]] == ["enfance-famille", "autre", "cabinet"]
    assert all(store.get_document(d.id).state == PUBLISHED for d in docs[:3])
    # The skip link is the first stop of the keyboard and leads to the main content.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Aller au contenu")).to_be_focused()
    page.context.close()


def test_a_supervisor_of_two_directions_sees_only_their_letters(served, browser):
    config, store, holder, docs = served
    url = holder["server"].url
    page = new_page(browser)
    log_in(page, url, "sophie")
    rows = page.locator("table.queue tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text(docs[0].id)
    expect(rows.nth(1)).to_contain_text(docs[1].id)
    for doc in docs[2:]:
        response = page.goto(url + f"/documents/{doc.id}")
        assert response.status == 404
        expect(page.get_by_role("heading", name="Introuvable")).to_be_visible()
        assert page.goto(url + f"/documents/{doc.id}/pages/1/page").status == 404
    page.goto(url + "/dashboard")
    expect(page.locator(".card").first.locator(".big")).to_have_text("2")
    # A letter sent out of her directions leaves her queue; the next one of hers opens.
    page.goto(url + f"/documents/{docs[1].id}")
    page.keyboard.press("/")
    page.keyboard.type("routes dep")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    expect(page).to_have_url(url + f"/documents/{docs[0].id}")
    page.goto(url + "/dashboard")
    expect(page.locator(".card").first.locator(".big")).to_have_text("1")
    throughput = page.get_by_role("table", name=re.compile("Revue par superviseur"))
    expect(throughput.get_by_role("row", name=re.compile("sophie"))).to_contain_text("1")
    page.context.close()


def test_a_restart_of_the_server_keeps_the_session(served, browser):
    config, store, holder, docs = served
    page = new_page(browser)
    log_in(page, holder["server"].url, "claire")
    expect(page).to_have_url(holder["server"].url + "/queue")
    holder["server"].stop()
    holder["server"] = start(load_config(config.home), host="127.0.0.1", port=0)
    url = holder["server"].url
    page.goto(url + f"/documents/{docs[2].id}")  # cookies are per host, not per port: same browser session
    expect(page).to_have_url(url + f"/documents/{docs[2].id}")
    expect(page.get_by_role("heading", name=re.compile(f"Document {docs[2].id}"))).to_be_visible()
    page.context.close()


def test_thirty_wrong_passwords_from_one_client_do_not_stop_another(served, browser):
    config, store, holder, docs = served
    url = holder["server"].url
    attacker = new_page(browser, extra_http_headers={"X-Forwarded-For": "203.0.113.7"})
    attacker.goto(url + "/login")
    token = attacker.locator("input[name=csrf]").get_attribute("value")
    statuses = [attacker.request.post(url + "/login", max_redirects=0, form={
        "csrf": token, "username": "claire", "password": f"mauvais-{attempt}"}).status for attempt in range(29)]
    assert statuses[:5] == [401] * 5 and 429 in statuses
    attacker.fill("#username", "claire")  # the 30th through the form: told to wait, or told it is wrong
    attacker.fill("#password", "mauvais-30")
    attacker.keyboard.press("Enter")
    expect(attacker.get_by_role("alert")).to_contain_text(re.compile("incorrect|Patientez"))
    supervisor = new_page(browser, extra_http_headers={"X-Forwarded-For": "198.51.100.20"})
    log_in(supervisor, url, "claire")
    expect(supervisor).to_have_url(url + "/queue")
    assert store.events(kind="review-login")[-1].details["client"] == "198.51.100.20"
    attacker.context.close()
    supervisor.context.close()


def test_after_logout_back_navigation_shows_no_letter_image(served, browser):
    config, store, holder, docs = served
    url = holder["server"].url
    page = new_page(browser)
    log_in(page, url, "claire")
    page.goto(url + f"/documents/{docs[0].id}")
    image = page.locator(".pages img").first
    expect(image).to_be_visible()
    page.wait_for_function("document.querySelector('.pages img').naturalWidth > 0")
    image_url = url + image.get_attribute("src")
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page).to_have_url(url + "/login")
    page.go_back()
    expect(page).to_have_url(re.compile(r"/login\?suivant="))
    expect(page.locator(".pages img")).to_have_count(0)
    page.goto(image_url)  # not from the cache either: the server asks for a login again
    expect(page).to_have_url(re.compile(r"/login\?suivant="))
    page.context.close()
