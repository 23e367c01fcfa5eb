"""The review app for real operations, at the HTTP level: access by category, sessions kept in the database,
throttling per client address, cache and embedding headers, account pages, accounts on the command line."""
from __future__ import annotations

import hashlib
import io
import re
import sqlite3
import types

import pytest
from fastapi.testclient import TestClient

from pipeline.records import PUBLISHED, REVIEW
from pipeline.review import commands
from pipeline.review.app import create_app
from pipeline.review.auth import COOKIE_NAME, ClientAddress, Throttle, client_key
from pipeline.store import Store
from tests.support.review_client import csrf_of, log_in
from tests.support.review_data import PASSWORDS, add_review_document, make_home

SCOPED = "sophie"  # a supervisor of the children and social-aid directions only


@pytest.fixture
def setup(home):
    config, store = make_home(home)
    docs = types.SimpleNamespace(
        ase=add_review_document(config, store, "ase", "Information préoccupante", hours_ago=5,
                                guesses=[("enfance-famille", 0.6), ("juridique", 0.2)]),
        rsa_proposed=add_review_document(config, store, "rsa", "Ma demande de RSA", hours_ago=4,
                                         guesses=[("rsa-insertion", 0.5), ("autre", 0.3)]),
        routes=add_review_document(config, store, "routes", "Nid de poule RD 12", hours_ago=3,
                                   guesses=[("routes", 0.55), ("colleges", 0.25)]),
        autre=add_review_document(config, store, "autre", "Publicité ?", hours_ago=2, guesses=[("autre", 0.4)]),
    )
    return types.SimpleNamespace(config=config, store=store, docs=docs, app=create_app(config, store))


@pytest.fixture
def client(setup):
    with TestClient(setup.app) as http:
        yield http


def test_an_account_limited_to_two_categories_sees_only_their_letters(setup, client):
    docs, store = setup.docs, setup.store
    token = log_in(client, SCOPED)
    queue = client.get("/queue").text
    assert docs.ase.id in queue and docs.rsa_proposed.id in queue
    assert docs.routes.id not in queue and docs.autre.id not in queue
    for doc in (docs.routes, docs.autre):
        missing = client.get(f"/documents/{doc.id}")
        assert missing.status_code == 404
        assert missing.text == client.get("/documents/L999999-01").text  # same page as no document at all
        assert client.get(f"/documents/{doc.id}/pages/1/page").status_code == 404
        assert client.post(f"/documents/{doc.id}/decision",
                           data={"csrf": token, "category": "routes", "action": "correct"}).status_code == 404
        assert client.post(f"/documents/{doc.id}/rejection", data={"csrf": token, "reason": "x"}).status_code == 404
        assert store.get_document(doc.id).state == REVIEW
    assert client.get(f"/documents/{docs.ase.id}").status_code == 200
    board = client.get("/dashboard").text
    assert '<p class="big">2</p>' in board  # two letters waiting for this account, not four
    assert docs.routes.id not in board
    # Everyone else still sees everything.
    with TestClient(setup.app) as other:
        log_in(other, "claire")
        assert all(d.id in other.get("/queue").text for d in vars(docs).values())
        assert '<p class="big">4</p>' in other.get("/dashboard").text


def test_a_misroute_leaves_the_queue_and_is_journaled(setup, client):
    docs, store = setup.docs, setup.store
    token = log_in(client, SCOPED)
    response = client.post(f"/documents/{docs.rsa_proposed.id}/decision", follow_redirects=False,
                           data={"csrf": token, "category": "routes", "action": "correct"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/documents/{docs.ase.id}"  # the next one of *their* queue
    decided = store.get_document(docs.rsa_proposed.id)
    assert decided.state == PUBLISHED and decided.category == "routes"
    [event] = store.events(document_id=decided.id, kind="review-out-of-scope")
    assert event.actor == SCOPED and event.details["after"] == "routes"
    # A decision inside the account's categories is not flagged.
    client.post(f"/documents/{docs.ase.id}/decision", data={"csrf": token, "action": "accept"})
    assert store.events(document_id=docs.ase.id, kind="review-out-of-scope") == []
    assert store.get_document(docs.ase.id).state == PUBLISHED


def test_sessions_survive_a_restart_and_are_stored_hashed(setup, client):
    log_in(client, "claire")
    cookie = client.cookies[COOKIE_NAME]
    restarted = create_app(setup.config, Store(setup.config.database_path))  # a new process: nothing in memory
    with TestClient(restarted) as again:
        again.cookies.set(COOKIE_NAME, cookie)
        assert again.get("/queue", follow_redirects=False).status_code == 200
    session_id = restarted.state.sessions.id_from_cookie(cookie)
    rows = sqlite3.connect(setup.config.database_path).execute("SELECT id_hash, user FROM sessions").fetchall()
    assert (hashlib.sha256(session_id.encode()).hexdigest(), "claire") in rows
    assert all(session_id not in row[0] for row in rows)


def test_sessions_end_at_idle_timeout(setup, client):
    log_in(client, "claire")
    db = sqlite3.connect(setup.config.database_path)
    with db:
        db.execute("UPDATE sessions SET seen_at = seen_at - ?", (setup.config.review.session_idle_minutes * 60 + 5,))
    assert client.get("/queue", follow_redirects=False).status_code == 303
    assert db.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0


def test_changing_ones_password_ends_the_other_sessions(setup, client):
    token = log_in(client, "claire")
    with TestClient(setup.app) as elsewhere:
        log_in(elsewhere, "claire")
        wrong = client.post("/compte/mot-de-passe", data={"csrf": token, "current": "pas-le-bon-mot",
                                                          "new": "nouveau-mot-de-passe", "again": "nouveau-mot-de-passe"})
        assert wrong.status_code == 400 and "actuel est incorrect" in wrong.text
        short = client.post("/compte/mot-de-passe", data={"csrf": token, "current": PASSWORDS["claire"],
                                                          "new": "court", "again": "court"})
        assert short.status_code == 400 and "trop court" in short.text
        changed = client.post("/compte/mot-de-passe", data={
            "csrf": token, "current": PASSWORDS["claire"], "new": "nouveau-mot-de-passe",
            "again": "nouveau-mot-de-passe"})
        assert changed.status_code == 200 and "Mot de passe changé" in changed.text
        assert elsewhere.get("/queue", follow_redirects=False).status_code == 303  # revoked
    assert client.get("/queue", follow_redirects=False).status_code == 200  # this browser got a new session
    assert setup.store.session_count("claire") == 1
    assert setup.store.events(kind="review-sessions-revoked")[-1].actor == "claire"


def login_from(app, address: str, user: str, password: str, headers: dict | None = None) -> int:
    with TestClient(app, client=(address, 40000)) as http:
        token = csrf_of(http.get("/login").text)
        return http.post("/login", data={"csrf": token, "username": user, "password": password},
                         headers=headers or {}, follow_redirects=False).status_code


def frozen(app) -> None:
    """Stop the throttle's clock, so that no wait runs out while a slow machine runs the test."""
    app.state.throttle.clock = lambda: 1000.0


def test_wrong_passwords_from_one_client_do_not_lock_the_account_for_another(setup):
    frozen(setup.app)
    statuses = [login_from(setup.app, "203.0.113.7", "claire", f"mauvais-{i}") for i in range(30)]
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}  # that address now waits
    assert login_from(setup.app, "203.0.113.7", "claire", PASSWORDS["claire"]) == 429
    assert login_from(setup.app, "198.51.100.20", "claire", PASSWORDS["claire"]) == 303
    # Guessing spread over many names is slowed just the same: the address counts, not the name.
    spread = [login_from(setup.app, "192.0.2.9", f"nom{i}", "mauvais") for i in range(8)]
    assert spread.count(429) == 3
    with TestClient(setup.app, client=("203.0.113.7", 1)) as http:
        page = http.post("/login", data={"csrf": csrf_of(http.get("/login").text), "username": "inconnu",
                                         "password": "x"})
        assert "Patientez" in page.text and "inconnu" not in page.text.split("Patientez")[1][:80]


def test_forwarded_for_is_believed_only_from_configured_proxies(setup, home):
    frozen(setup.app)
    # Not configured: a client cannot escape its wait by inventing an X-Forwarded-For.
    for i in range(5):
        login_from(setup.app, "203.0.113.7", "claire", "mauvais", {"X-Forwarded-For": f"10.9.9.{i}"})
    assert login_from(setup.app, "203.0.113.7", "claire", PASSWORDS["claire"],
                      {"X-Forwarded-For": "10.1.1.1"}) == 429
    # Behind a configured proxy, each real client is counted apart.
    (home / "mailroom.toml").write_text('[review]\ntrusted_proxies = ["127.0.0.1"]\n', encoding="utf-8")
    config, store = make_home(home)
    proxied = create_app(config, store)
    frozen(proxied)
    for i in range(30):
        login_from(proxied, "127.0.0.1", "claire", "mauvais", {"X-Forwarded-For": "203.0.113.7"})
    assert login_from(proxied, "127.0.0.1", "claire", PASSWORDS["claire"], {"X-Forwarded-For": "203.0.113.7"}) == 429
    assert login_from(proxied, "127.0.0.1", "claire", PASSWORDS["claire"],
                      {"X-Forwarded-For": "198.51.100.1, 127.0.0.1"}) == 303
    assert store.events(kind="review-login")[-1].details["client"] == "198.51.100.1"


def test_client_address_and_throttle_units():
    proxies = ClientAddress(["10.0.0.0/8"])
    assert proxies.of("10.0.0.5", "198.51.100.1, 10.0.0.7") == "198.51.100.1"
    assert proxies.of("10.0.0.5", "1.2.3.4, 198.51.100.1") == "198.51.100.1"  # the left one is the client's word
    assert proxies.of("192.0.2.1", "198.51.100.1") == "192.0.2.1"
    assert proxies.scheme("10.0.0.5", "https", "http") == "https"
    assert proxies.scheme("192.0.2.1", "https", "http") == "http"
    assert client_key("2001:db8::1") == client_key("2001:db8::ffff") == "2001:db8::/64"
    now = [0.0]
    throttle = Throttle(clock=lambda: now[0])
    waits = [throttle.failed("a") for _ in range(8)]
    assert waits[:4] == [0, 0, 0, 0] and waits[4:] == [2, 4, 8, 16]  # progressive
    assert throttle.wait("b") == 0 and throttle.global_delay() == 0
    for i in range(100):
        throttle.failed(f"client-{i}")
    assert 0 < throttle.global_delay() <= 3.0  # everyone a little slower, nobody refused
    now[0] = 61.0
    assert throttle.global_delay() == 0 and throttle.wait("a") == 0
    throttle.succeeded("a")
    assert throttle.failed("a") == 0


def test_no_store_everywhere_corp_and_hsts_behind_https(setup, client, home):
    log_in(client, "claire")
    doc = setup.docs.ase
    image = client.get(f"/documents/{doc.id}/pages/1/page")
    assert image.status_code == 200 and image.headers["cache-control"] == "no-store"
    for response in (image, client.get("/queue"), client.get("/static/review.js"), client.get("/login")):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["cross-origin-resource-policy"] == "same-origin"
        assert "strict-transport-security" not in response.headers
    (home / "mailroom.toml").write_text('[review]\npublic_url = "https://courrier.example.fr"\n', encoding="utf-8")
    config, store = make_home(home)
    with TestClient(create_app(config, store), base_url="https://testserver") as https:
        login = https.get("/login")
        assert login.headers["strict-transport-security"].startswith("max-age=")
        assert "secure" in login.headers["set-cookie"].lower()
        # The public address is an accepted origin for forms.
        response = https.post("/login", headers={"Origin": "https://courrier.example.fr"}, follow_redirects=False,
                              data={"csrf": csrf_of(login.text), "username": "claire", "password": PASSWORDS["claire"]})
        assert response.status_code == 303


def test_admin_manages_accounts_from_the_web(setup, client):
    token = log_in(client, "claire")
    assert client.get("/admin/comptes").status_code == 403
    assert client.post("/admin/comptes", data={"csrf": token, "name": "x", "password": "y" * 12}).status_code == 403
    with TestClient(setup.app) as admin:
        token = log_in(admin, "alain")
        page = admin.get("/admin/comptes").text
        assert SCOPED in page and "Enfance" in page
        bad = admin.post("/admin/comptes", data={"csrf": token, "name": "nina", "role": "supervisor",
                                                  "password": "court"})
        assert bad.status_code == 400 and "trop court" in bad.text and 'value="nina"' in bad.text
        created = admin.post("/admin/comptes", data={"csrf": token, "name": "nina", "role": "supervisor",
                                                      "categories": ["routes", "colleges"],
                                                      "password": "un-mot-de-passe-neuf"})
        assert created.status_code == 200 and "Compte nina créé" in created.text
        assert setup.store.get_user("nina")["categories"] == ["routes", "colleges"]
        with TestClient(setup.app) as nina:
            log_in(nina, "nina", "un-mot-de-passe-neuf")
            assert setup.docs.routes.id in nina.get("/queue").text
            assert setup.docs.ase.id not in nina.get("/queue").text
            admin.post("/admin/comptes", data={"csrf": token, "name": "nina", "role": "viewer",
                                               "password": "encore-un-autre-mot"})
            assert nina.get("/queue", follow_redirects=False).status_code == 303  # new password: logged out
        user = setup.store.get_user("nina")
        assert user["role"] == "viewer" and user["categories"] == []
        edit = admin.get("/admin/comptes?modifier=sophie").text
        assert "Modifier le compte sophie" in edit and re.search(r'value="enfance-famille"\s+checked', edit)
        assert admin.post("/admin/comptes", data={"csrf": token, "name": "alain", "role": "supervisor"}
                          ).status_code == 400  # an admin does not demote themself
        assert [e.details["user"] for e in setup.store.events(kind="user-added")][-1] == "nina"


def test_users_add_set_list_on_the_command_line(setup, monkeypatch, capsys):
    config, store = setup.config, setup.store
    add = types.SimpleNamespace(name="paul", role="supervisor", categories="enfance-famille, rsa-insertion")
    monkeypatch.setattr("sys.stdin", io.StringIO("un-mot-de-passe-long\n"))
    assert commands.add_user(config, add) == 0
    assert store.get_user("paul")["categories"] == ["enfance-famille", "rsa-insertion"]
    unknown = types.SimpleNamespace(name="paul", role=None, categories="enfance,rsa")
    assert commands.set_user(config, unknown) == 2
    assert "catégorie inconnue « enfance »" in capsys.readouterr().err
    assert commands.set_user(config, types.SimpleNamespace(name="paul", role="admin", categories="autre")) == 0
    assert store.get_user("paul") | {"password_hash": ""} == {"name": "paul", "role": "admin", "categories": ["autre"],
                                                               "password_hash": ""}
    assert commands.set_user(config, types.SimpleNamespace(name="nobody", role="admin", categories=None)) == 1
    capsys.readouterr()
    assert commands.list_users(config, types.SimpleNamespace()) == 0
    listing = capsys.readouterr().out
    assert "paul" in listing and "autre" in listing and f"{SCOPED}" in listing and "toutes" in listing
    # `users add` on an existing name keeps its categories unless given.
    monkeypatch.setattr("sys.stdin", io.StringIO("un-autre-mot-de-passe\n"))
    assert commands.add_user(config, types.SimpleNamespace(name="paul", role="supervisor", categories=None)) == 0
    assert store.get_user("paul")["categories"] == ["autre"]


def test_an_existing_database_gets_the_new_columns(home):
    path = home / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE users (name TEXT PRIMARY KEY, password_hash TEXT NOT NULL, role TEXT NOT NULL,"
               " created_at TEXT NOT NULL)")
    db.execute("INSERT INTO users VALUES ('ancien', 'h', 'supervisor', '2025-01-01')")
    db.commit()
    db.close()
    store = Store(path)
    assert store.get_user("ancien")["categories"] == []
    assert store.set_user("ancien", categories=["routes"]) and store.get_user("ancien")["categories"] == ["routes"]
    Store(path)  # a second open migrates nothing twice


def test_queue_shows_time_waited_and_deadline_urgent_first_then_deadline_then_oldest(setup, client):
    from datetime import date, timedelta

    store, docs = setup.store, setup.docs
    soon, later = date.today() + timedelta(days=2), date.today() + timedelta(days=20)
    for doc, due in ((docs.autre, soon), (docs.routes, later)):  # the two most recent letters get deadlines
        doc = store.get_document(doc.id)
        doc.deadline = due.isoformat()
        store.save_document(doc)
    log_in(client, "claire")
    page = client.get("/queue").text
    order = [page.index(f'class="open" href="/documents/{d.id}"')
             for d in (docs.autre, docs.routes, docs.ase, docs.rsa_proposed)]
    assert order == sorted(order)  # nearest deadline first, then those without one, oldest first
    assert f"{soon:%d/%m/%Y} (dans 2 jours)" in page and "aucun" in page
    assert "5 h 0" in page  # the oldest letter has waited five hours
