"""HTTP-level tests of the review app: login, sessions, CSRF, roles, refusals outside the review set."""
from __future__ import annotations

import io
import json
import os
import re
import stat
import types

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from pipeline.records import PUBLISHED, REJECTED, REVIEW
from pipeline.review import commands
from pipeline.review.app import create_app
from pipeline.review.auth import COOKIE_NAME, load_secret_key, secret_key_path
from tests.support.review_client import csrf_of, log_in
from tests.support.review_data import add_review_document, make_home


@pytest.fixture
def setup(home):
    config, store = make_home(home)
    docs = [
        add_review_document(config, store, "ancien", "Objet : nid de poule sur la RD 12", hours_ago=30,
                            guesses=[("routes", 0.55), ("colleges", 0.25), ("autre", 0.1)]),
        add_review_document(config, store, "urgent", "Demande de RSA, urgent", hours_ago=2, urgent=True,
                            guesses=[("rsa-insertion", 0.62), ("enfance-famille", 0.2)], pages=2),
        add_review_document(config, store, "recent", "Facture n° 42", hours_ago=1,
                            guesses=[("factures", 0.7), ("marches-publics", 0.2)]),
    ]
    published = add_review_document(config, store, "publie", "Déjà classé", state=PUBLISHED,
                                    guesses=[("cabinet", 0.95)])
    app = create_app(config, store)
    return types.SimpleNamespace(config=config, store=store, docs=docs, published=published, app=app)


@pytest.fixture
def client(setup):
    with TestClient(setup.app) as http:
        yield http


def sample_path(route: APIRoute, doc_id: str) -> str:
    return route.path.format(document_id=doc_id, page=1, size="page")


def test_every_route_requires_login(setup, client):
    doc_id = setup.docs[0].id
    routes = [r for r in setup.app.routes if isinstance(r, APIRoute) and r.path not in ("/login", "/accessibilite")]
    assert len(routes) >= 8
    for route in routes:
        path = sample_path(route, doc_id)
        for method in route.methods:
            response = client.request(method, path, follow_redirects=False)
            if method == "GET":
                assert response.status_code == 303, path
                assert response.headers["location"].startswith("/login?suivant=")
            else:
                assert response.status_code == 401, (method, path)
    assert client.get("/docs", follow_redirects=False).status_code in (303, 404)
    assert client.get("/openapi.json", follow_redirects=False).status_code == 303
    assert client.get(f"/documents/{doc_id}/pages/1/zoom", follow_redirects=False).status_code == 303
    assert client.get("/static/review.js", follow_redirects=False).status_code == 303
    # The login form, its stylesheet and the accessibility statement are the only things a stranger gets.
    assert client.get("/login").status_code == 200
    assert client.get("/static/review.css").status_code == 200
    assert "Déclaration d'accessibilité" in client.get("/accessibilite").text


def test_login_page_explains_how_to_create_the_first_account(home):
    from pipeline.config import load_config

    with TestClient(create_app(load_config(home))) as fresh:
        assert "mailroom users add" in fresh.get("/login").text


def test_login_session_cookie_and_logout(setup, client):
    login = client.get("/login")
    assert "mailroom users add" not in login.text
    assert "Se connecter" in login.text and 'lang="fr"' in login.text
    token = csrf_of(login.text)
    bad = client.post("/login", data={"csrf": token, "username": "claire", "password": "mauvais-mot-de-passe"})
    assert bad.status_code == 401 and "incorrect" in bad.text
    unknown = client.post("/login", data={"csrf": token, "username": "personne", "password": "x" * 12})
    assert unknown.status_code == 401
    good = client.post("/login", data={"csrf": token, "username": "claire", "password": "motdepasse-superviseur",
                                       "suivant": "/dashboard"}, follow_redirects=False)
    assert good.status_code == 303 and good.headers["location"] == "/dashboard"
    cookie = good.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    session_cookie = client.cookies[COOKIE_NAME]
    page = client.get("/queue")
    assert page.status_code == 200 and "File d'attente" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert [e.actor for e in setup.store.events(kind="review-login")] == ["claire"]
    logout = client.post("/logout", data={"csrf": csrf_of(page.text)}, follow_redirects=False)
    assert logout.status_code == 303 and logout.headers["location"] == "/login"
    # The old cookie no longer opens anything: the session ended on the server.
    client.cookies.set(COOKIE_NAME, session_cookie)
    assert client.get("/queue", follow_redirects=False).status_code == 303


def test_session_id_changes_at_login_and_forged_cookie_is_ignored(setup, client):
    client.get("/login")
    anonymous = client.cookies[COOKIE_NAME]
    log_in(client, "claire")
    assert client.cookies[COOKIE_NAME] != anonymous
    client.cookies.set(COOKIE_NAME, "forged-value")
    assert client.get("/queue", follow_redirects=False).status_code == 303


def test_new_password_or_role_applies_to_open_sessions(setup, client):
    from pipeline.review.auth import hash_password

    token = log_in(client, "claire")
    doc = setup.docs[0]
    setup.store.add_user("claire", setup.store.get_user("claire")["password_hash"], "viewer")  # role only
    response = client.post(f"/documents/{doc.id}/decision", data={"csrf": token, "category": "routes"})
    assert response.status_code == 403
    setup.store.add_user("claire", hash_password("un-tout-nouveau-mot-de-passe"), "supervisor")
    assert client.get("/queue", follow_redirects=False).status_code == 303  # logged out everywhere


@pytest.mark.parametrize("target", ["//evil.example/x", "/\t/evil.example", "/\\evil.example",
                                    "https://evil.example", "/login"])
def test_no_open_redirect_after_login(setup, client, target):
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"csrf": token, "username": "claire",
                                           "password": "motdepasse-superviseur", "suivant": target},
                           follow_redirects=False)
    assert response.headers["location"] == "/queue"


def test_login_is_throttled_after_repeated_failures(setup, client):
    token = csrf_of(client.get("/login").text)
    for _ in range(5):
        client.post("/login", data={"csrf": token, "username": "claire", "password": "faux-mot-de-passe"})
    locked = client.post("/login", data={"csrf": token, "username": "claire", "password": "motdepasse-superviseur"})
    assert locked.status_code == 429 and "Patientez" in locked.text


def test_csrf_token_required_on_every_form(setup, client):
    assert client.post("/login", data={"username": "claire", "password": "motdepasse-superviseur"}).status_code == 403
    token = log_in(client, "claire")
    doc = setup.docs[0]
    form = {"category": "routes", "action": "correct", "sender": "X"}
    for path, data in ((f"/documents/{doc.id}/decision", form),
                       (f"/documents/{doc.id}/rejection", {"reason": "publicité"}),
                       ("/logout", {})):
        assert client.post(path, data=data, follow_redirects=False).status_code == 403, path
        assert client.post(path, data=data | {"csrf": "0" * 64}, follow_redirects=False).status_code == 403, path
    assert setup.store.get_document(doc.id).state == REVIEW
    # A token from another session is worthless here.
    with TestClient(setup.app) as other:
        other_token = log_in(other, "victor")
    assert other_token != token
    response = client.post(f"/documents/{doc.id}/decision", data=form | {"csrf": other_token})
    assert response.status_code == 403
    assert setup.store.get_document(doc.id).state == REVIEW
    assert client.get("/queue", follow_redirects=False).status_code == 200  # still logged in


def test_cross_site_origin_refused(setup, client):
    token = log_in(client, "claire")
    doc = setup.docs[0]
    response = client.post(f"/documents/{doc.id}/decision", headers={"Origin": "https://evil.example"},
                           data={"csrf": token, "category": "routes"})
    assert response.status_code == 403
    assert setup.store.get_document(doc.id).state == REVIEW


def test_documents_outside_the_review_set_are_refused(setup, client):
    token = log_in(client, "claire")
    published = setup.published.id
    for path in (f"/documents/{published}", f"/documents/{published}/pages/1/page", "/documents/L999999-1",
                 "/documents/L999999-1/pages/1/page"):
        assert client.get(path).status_code == 404, path
    # a letter that is no longer waiting: 409, it has been handled (an unknown one: 404); nothing changes
    response = client.post(f"/documents/{published}/decision", data={"csrf": token, "category": "routes"})
    assert response.status_code == 409 and "Ce courrier a déjà été traité par" in response.text
    assert setup.store.get_document(published).state == PUBLISHED
    assert client.post(f"/documents/{published}/rejection", data={"csrf": token, "reason": "x"}).status_code == 409
    assert client.post("/documents/L999999-1/decision", data={"csrf": token, "category": "routes"}).status_code == 404


def test_no_path_traversal(setup, client):
    log_in(client, "claire")
    doc = setup.docs[0]
    (setup.config.work_dir / "previews").mkdir(parents=True, exist_ok=True)
    for path in ("/documents/..%2F..%2Fmailroom.sqlite3", "/documents/..%2Fwork/pages/1/page",
                 f"/documents/{doc.id}/pages/1/..%2F..%2F..%2Fmailroom.sqlite3",
                 f"/documents/{doc.id}/pages/1/..", f"/documents/{doc.id}/pages/0/page",
                 f"/documents/{doc.id}/pages/7/page", f"/documents/{doc.id}/pages/-1/page",
                 f"/documents/{doc.id}/pages/1/%2Fetc%2Fpasswd", "/static/..%2Fapp.py", "/static/../app.py",
                 "/static/%2E%2E/auth.py"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"SQLite" not in response.content and b"def create_app" not in response.content
    assert client.get(f"/documents/{doc.id}/pages/1/page").headers["content-type"] == "image/png"
    assert client.get(f"/documents/{setup.docs[1].id}/pages/2/zoom").status_code == 200
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and "Page introuvable" in missing.text


def test_viewer_cannot_decide(setup, client):
    token = log_in(client, "victor")
    doc = setup.docs[0]
    page = client.get(f"/documents/{doc.id}")
    assert page.status_code == 200 and "Lecture seule" in page.text
    assert 'value="accept"' not in page.text and "/rejection" not in page.text
    for path, data in ((f"/documents/{doc.id}/decision", {"category": "routes", "action": "correct"}),
                       (f"/documents/{doc.id}/rejection", {"reason": "publicité"})):
        response = client.post(path, data=data | {"csrf": token})
        assert response.status_code == 403 and "lecture seule" in response.text
    assert setup.store.get_document(doc.id).state == REVIEW
    assert client.get("/dashboard").status_code == 200


def test_queue_urgent_first_then_oldest(setup, client):
    log_in(client, "claire")
    page = client.get("/queue").text
    ancien, urgent, recent = (d.id for d in setup.docs)
    order = [page.index(f'class="open" href="/documents/{i}"') for i in (urgent, ancien, recent)]
    assert order == sorted(order)
    assert setup.published.id not in page
    assert "Urgent" in page and "55\u202f%" in page and "Routes départementales" in page
    assert "71\u202f%" in page or "72\u202f%" in page  # OCR confidence


def test_correction_publishes_journals_and_labels(setup, client):
    token = log_in(client, "claire")
    ancien, urgent, recent = setup.docs
    page = client.get(f"/documents/{urgent.id}")
    assert "Valider" in page.text and "Corriger" in page.text and "Rejeter" in page.text
    assert "Signes d'urgence" in page.text and "mise en demeure" in page.text
    response = client.post(f"/documents/{urgent.id}/decision", follow_redirects=False, data={
        "csrf": token, "action": "correct", "category": "enfance-famille", "sender": "Marie Martin",
        "letter_date": "2026-03-14", "ref_kind": ["dossier", ""], "ref_value": ["ASE-77", ""], "urgent": "on"})
    assert response.status_code == 303
    assert response.headers["location"] == f"/documents/{ancien.id}"  # the next one in the queue opens
    doc = setup.store.get_document(urgent.id)
    assert doc.state == PUBLISHED and doc.category == "enfance-famille"
    sidecar = json.loads(open(doc.destination + ".json", encoding="utf-8").read())
    assert sidecar["category_id"] == "enfance-famille" and sidecar["sender"] == "Marie Martin"
    assert sidecar["references"] == [{"kind": "dossier", "value": "ASE-77"}]
    reviewed = setup.store.events(document_id=urgent.id, kind="reviewed")
    assert reviewed and reviewed[-1].actor == "claire"
    assert reviewed[-1].details["before"]["category"] == "rsa-insertion"
    assert reviewed[-1].details["after"]["category"] == "enfance-famille"
    assert [e["category"] for e in setup.store.examples() if e["document_id"] == urgent.id] == ["enfance-famille"]
    assert "publié" in client.get(response.headers["location"]).text


def test_valider_accepts_the_top_guess(setup, client):
    token = log_in(client, "claire")
    recent = setup.docs[2]
    response = client.post(f"/documents/{recent.id}/decision", follow_redirects=False,
                           data={"csrf": token, "action": "accept", "category": "cabinet", "sender": "SARL Dupond"})
    assert response.status_code == 303
    assert setup.store.get_document(recent.id).category == "factures"
    assert setup.store.get_document(recent.id).state == PUBLISHED


def test_bad_form_values_are_refused_and_kept(setup, client):
    token = log_in(client, "claire")
    doc = setup.docs[0]
    unknown = client.post(f"/documents/{doc.id}/decision", data={"csrf": token, "category": "../etc",
                                                                 "sender": "Garder ceci"})
    assert unknown.status_code == 400 and "Choisissez une catégorie" in unknown.text
    assert 'value="Garder ceci"' in unknown.text
    bad_date = client.post(f"/documents/{doc.id}/decision",
                           data={"csrf": token, "category": "routes", "letter_date": "31/02/2026"})
    assert bad_date.status_code == 400 and "date" in bad_date.text
    no_reason = client.post(f"/documents/{doc.id}/rejection", data={"csrf": token, "reason": "   "})
    assert no_reason.status_code == 400 and "Indiquez pourquoi" in no_reason.text
    assert 'value="Jean Dupont"' in no_reason.text  # the decision form keeps the document's values
    assert re.search(r'id="cat-routes"[^>]*checked', no_reason.text)
    assert setup.store.get_document(doc.id).state == REVIEW


def test_reject_quarantines_with_reason(setup, client):
    token = log_in(client, "claire")
    doc = setup.docs[2]
    response = client.post(f"/documents/{doc.id}/rejection", follow_redirects=False,
                           data={"csrf": token, "reason": "Publicité, pas un courrier"})
    assert response.status_code == 303
    rejected = setup.store.get_document(doc.id)
    assert rejected.state == REJECTED and rejected.reason == "Publicité, pas un courrier"
    assert setup.store.events(document_id=doc.id, kind="rejected")[-1].actor == "claire"
    board = client.get("/dashboard").text
    assert "Publicité, pas un courrier" in board


def test_unexpected_failure_keeps_the_supervisor_in_the_app(setup, client, monkeypatch):
    from pipeline.decisions import Decisions

    def broken(*args, **kwargs):
        raise OSError("disque plein")

    monkeypatch.setattr(Decisions, "decide", broken)
    token = log_in(client, "claire")
    doc = setup.docs[0]
    response = client.post(f"/documents/{doc.id}/decision", data={"csrf": token, "category": "routes"})
    assert response.status_code == 200 and "Erreur inattendue" in response.text
    assert setup.store.get_document(doc.id).state == REVIEW


def test_a_refused_decision_is_explained(setup, client, monkeypatch):
    from pipeline.decisions import Decisions
    from pipeline.errors import DecisionError

    def refused(*args, **kwargs):
        raise DecisionError("unknown-category", category="x")

    monkeypatch.setattr(Decisions, "decide", refused)
    token = log_in(client, "claire")
    response = client.post(f"/documents/{setup.docs[0].id}/decision", data={"csrf": token, "category": "routes"})
    assert response.status_code == 200 and "Décision non enregistrée" in response.text


def test_decision_on_an_already_decided_document_is_refused(setup, client):
    token = log_in(client, "claire")
    doc = setup.docs[0]
    data = {"csrf": token, "category": "routes", "action": "correct"}
    assert client.post(f"/documents/{doc.id}/decision", data=data, follow_redirects=False).status_code == 303
    again = client.post(f"/documents/{doc.id}/decision", data=data | {"category": "colleges"})
    assert again.status_code == 409
    assert "Ce courrier a déjà été traité par claire à" in again.text
    assert setup.store.get_document(doc.id).category == "routes"


def test_dashboard(setup, client):
    log_in(client, "claire")
    token = csrf_of(client.get("/queue").text)
    client.post(f"/documents/{setup.docs[0].id}/decision", data={"csrf": token, "category": "routes"})
    page = client.get("/dashboard").text
    assert "Tableau de bord" in page and "Revus par un superviseur" in page
    assert "Routes départementales" in page and "Cabinet du Président" in page
    assert "Le plus ancien" in page and "Quarantaine" in page and "Échecs de publication" in page


def test_users_add_reads_stdin_and_hashes(setup, monkeypatch, capsys):
    store = setup.store
    args = types.SimpleNamespace(name="agathe", role="viewer", categories=None)
    monkeypatch.setattr("sys.stdin", io.StringIO("court\n"))
    assert commands.add_user(setup.config, args) == 2
    assert "trop court" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("un-mot-de-passe-long\n"))
    assert commands.add_user(setup.config, args) == 0
    user = store.get_user("agathe")
    assert user["role"] == "viewer" and user["password_hash"].startswith("$argon2id$")
    assert "un-mot-de-passe-long" not in user["password_hash"]
    bad_name = types.SimpleNamespace(name="../x", role="supervisor", categories=None)
    monkeypatch.setattr("sys.stdin", io.StringIO("un-mot-de-passe-long\n"))
    assert commands.add_user(setup.config, bad_name) == 2


def test_users_add_on_a_terminal_asks_twice(setup):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    answers = iter(["premier-mot-de-passe", "autre-mot-de-passe"])
    with pytest.raises(commands.AccountError):
        commands.read_password(Terminal(), prompt=lambda _: next(answers))
    same = iter(["premier-mot-de-passe"] * 2)
    assert commands.read_password(Terminal(), prompt=lambda _: next(same)) == "premier-mot-de-passe"


def test_secret_key_created_private_and_reused(setup):
    path = secret_key_path(setup.config)
    assert path == setup.config.home / "review.key"
    key = load_secret_key(setup.config)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert load_secret_key(setup.config) == key and len(key) >= 32


def test_cli_parser_registers_review_and_users():
    import argparse

    parser = argparse.ArgumentParser()
    commands.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["review", "--host", "0.0.0.0", "--port", "8080"])
    assert (args.host, args.port, args.handler) == ("0.0.0.0", 8080, commands.run_review)
    args = parser.parse_args(["users", "add", "claire", "--role", "viewer"])
    assert (args.name, args.role, args.handler) == ("claire", "viewer", commands.add_user)


def test_publish_failure_is_reported_and_listed(home):
    blocker = home / "not-a-folder"
    blocker.write_text("a file where the library should be")
    (home / "mailroom.toml").write_text(f'[publish]\nlibrary_dir = "{blocker}/library"\n', encoding="utf-8")
    config, store = make_home(home)
    doc = add_review_document(config, store, "x", "Facture", [("factures", 0.6)])
    with TestClient(create_app(config, store)) as http:
        token = log_in(http, "claire")
        response = http.post(f"/documents/{doc.id}/decision", data={"csrf": token, "action": "accept"})
        assert "la publication a échoué" in response.text
        assert store.get_document(doc.id).state == "publish-failed"
        board = http.get("/dashboard").text
        assert doc.id in board and "mailroom retry --failed" in board
