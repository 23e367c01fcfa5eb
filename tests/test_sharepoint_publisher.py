"""The SharePoint publisher against the local emulator, through the real office365 client over HTTP."""
from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

from pipeline.config import load_config
from pipeline.publish import PublishError, make_publisher
from pipeline.publish.sharepoint import SharePointPublisher
from pipeline.publish.sharepoint_commands import register, run_check
from tests.support.sp_emulator import (Field, SharePointEmulator, emulator, make_document, publisher,  # noqa: F401
                                       sp_config, write_config)

FOLDER = "/sites/courrier/Routes/Courrier entrant/2026/03"


def pdf_file(tmp_path: Path, size: int = 3000, name: str = "doc.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(b"%PDF-1.4\n" + os.urandom(size))
    return path


def test_make_publisher_builds_the_sharepoint_publisher(sp_config):
    assert isinstance(make_publisher(sp_config), SharePointPublisher)


def test_publish_files_the_document_with_its_columns(emulator, publisher, sp_config, tmp_path):
    pdf = pdf_file(tmp_path)
    doc = make_document()
    doc.registration, doc.deadline = "2026-A-000042", "2026-04-23"
    result = publisher.publish(doc, pdf, sp_config.categories["routes"])

    name = "2026-03-12 Routes départementales - Dupont Jean.pdf"
    assert not result.already_there
    assert unquote(result.destination) == f"{emulator.origin}{FOLDER}/{name}"
    assert result.destination.startswith("http://127.0.0.1:") and " " not in result.destination
    [stored] = emulator.files_in("Routes")
    assert stored.path == f"{FOLDER}/{name}" and stored.content == pdf.read_bytes()
    assert emulator.field_values(stored) == {
        "Title": "in1-1", "Catégorie": "Routes départementales", "Confiance": 0.873, "Expéditeur": "Dupont Jean",
        "Date du courrier": "2026-03-10T00:00:00Z", "Date de réception": "2026-03-12T08:14:00Z",
        "Références": "RD 12; PR 4", "Urgent": True, "Pages": 2.0, "Empreinte SHA-256": "ab" * 32, "Lot": "in1",
        "N° d'enregistrement": "2026-A-000042", "Date limite de traitement": "2026-04-23T00:00:00Z",
        "Identifiant": doc.uid}
    # Upload then columns in one ValidateUpdateListItem: a single version, as SharePoint counts them.
    assert stored.versions == 1
    # Every request carried the bearer token and, except contextinfo, a request digest.
    for request in emulator.log:
        assert request.headers["authorization"] == "Bearer test-token"
        assert request.path.lower() == "contextinfo" or request.headers.get("x-requestdigest")
        assert request.headers["user-agent"].startswith("NONISV|")


def test_a_second_publication_finds_the_file_by_checksum(emulator, sp_config, tmp_path):
    pdf = pdf_file(tmp_path)
    doc = make_document()
    first = make_publisher(sp_config).publish(doc, pdf, sp_config.categories["routes"])
    again = make_publisher(sp_config).publish(doc, pdf, sp_config.categories["routes"])  # a new run
    assert again.already_there and again.destination == first.destination
    assert len(emulator.files_in("Routes")) == 1
    assert len(emulator.requests(r"Files/add", "POST")) == 1


def test_name_clashes_get_a_suffix_and_documents_stay_apart(emulator, publisher, sp_config, tmp_path):
    category = sp_config.categories["routes"]
    results = [publisher.publish(make_document(f"in1-{i}", sha="cd" * 32), pdf_file(tmp_path, name=f"{i}.pdf"),
                                 category) for i in (1, 2, 3)]
    names = [unquote(r.destination).rsplit("/", 1)[1] for r in results]
    assert names == ["2026-03-12 Routes départementales - Dupont Jean.pdf",
                     "2026-03-12 Routes départementales - Dupont Jean (2).pdf",
                     "2026-03-12 Routes départementales - Dupont Jean (3).pdf"]
    titles = sorted(emulator.field_values(f)["Title"] for f in emulator.files_in("Routes"))
    assert titles == ["in1-1", "in1-2", "in1-3"]
    # Each document finds its own file again, not its namesake's.
    assert publisher.publish(make_document("in1-2", sha="cd" * 32), tmp_path / "2.pdf",
                             category).destination == results[1].destination


def test_a_name_taken_by_someone_else_is_not_overwritten(emulator, publisher, sp_config, tmp_path):
    library = publisher.library("Routes")
    publisher.ensure_folder(library, "Courrier entrant/2026/03")
    # Another user dropped a file with our name (no listing is ever read: the upload itself tells).
    emulator.add_file(emulator.folders[FOLDER.lower()], "2026-03-12 Routes départementales - Dupont Jean.pdf",
                      False, b"theirs")
    remote = publisher.upload_new(make_document().uid, library, FOLDER,
                                  "2026-03-12 Routes départementales - Dupont Jean", b"%PDF ours")
    assert remote.name.endswith(" (2).pdf")
    assert emulator.files[f"{FOLDER}/2026-03-12 Routes départementales - Dupont Jean.pdf".lower()].content == b"theirs"
    assert not emulator.requests(r"/Files$", "GET")


def test_sharepoint_name_rules(emulator, publisher, sp_config, tmp_path):
    doc = make_document(sender=' CON: "Société" <A&B> #1 50% ~$x _vti_ {y}|z. ')
    result = publisher.publish(doc, pdf_file(tmp_path), sp_config.categories["routes"])
    name = unquote(result.destination).rsplit("/", 1)[1]
    assert not set('"*:<>?/\\|#%&{}~') & set(name)
    assert "_vti_" not in name.lower() and not name.endswith(". .pdf")
    assert len(emulator.files_in("Routes")) == 1


def test_long_names_fit_sharepoint_path_limit(emulator, publisher, sp_config, tmp_path):
    doc = make_document(sender="Établissement " * 40)
    result = publisher.publish(doc, pdf_file(tmp_path), sp_config.categories["routes"])
    path = unquote(result.destination)[len(emulator.origin):]
    name = path.rsplit("/", 1)[1]
    assert len(path) <= 400 and len(name) <= 128 and name.endswith(".pdf")


def test_folder_is_ensured_once_per_run(emulator, publisher, sp_config, tmp_path):
    for i in range(3):
        publisher.publish(make_document(f"in2-{i}", sender=f"Expéditeur {i}"), pdf_file(tmp_path, name=f"{i}.pdf"),
                          sp_config.categories["routes"])
    assert len(emulator.requests(r"Folders/Add", "POST")) == 3  # Courrier entrant, 2026, 03: once each
    assert len(emulator.requests(r"\?\$select=Exists")) == 1
    assert len(emulator.requests(r"GetByTitle\('Routes'\)/Fields")) == 1


def test_checkout_library_gets_the_file_checked_in_with_columns(emulator, publisher, sp_config, tmp_path):
    result = publisher.publish(make_document(category="factures"), pdf_file(tmp_path), sp_config.categories["factures"])
    [stored] = emulator.files_in("Factures", visible_only=True)
    assert not stored.checked_out and stored.major == 1 and stored.minor == 0
    assert emulator.field_values(stored)["Empreinte SHA-256"] == "ab" * 32
    assert unquote(result.destination).endswith("/Factures/Courrier entrant/2026/03/2026-03-12 Factures - Dupont Jean.pdf")
    assert len(emulator.requests(r"/checkin\(", "POST")) == 1


def test_large_files_go_up_in_chunks(emulator, publisher, sp_config, tmp_path):
    pdf = pdf_file(tmp_path, size=9 * 1024 * 1024)  # above the 4 MiB default chunk
    publisher.publish(make_document(category="factures"), pdf, sp_config.categories["factures"])
    [stored] = emulator.files_in("Factures")
    assert hashlib.sha256(stored.content).digest() == hashlib.sha256(pdf.read_bytes()).digest()
    assert len(emulator.requests(r"startUpload")) == 1
    assert len(emulator.requests(r"continueUpload")) == 1
    assert len(emulator.requests(r"finishUpload")) == 1
    assert max(r.body_size for r in emulator.log) <= 4 * 1024 * 1024
    assert not stored.checked_out and emulator.field_values(stored)["Title"] == "in1-1"


def test_internal_names_are_discovered_not_guessed(emulator, publisher):
    library = publisher.library("Routes")
    internal = {key: column.internal for key, column in library.columns.items()}
    assert internal["sender"] == "Sender"                      # renamed column
    assert internal["urgent"] == "Urgent"                      # not the hidden namesake
    assert internal["received_at"] == "Date_x0020_de_x0020_r_x00e9_cept"  # encoded and cut to 32
    assert internal["category"] == "Cat_x00e9_gorie"


def test_columns_in_a_site_with_another_regional_format(emulator, publisher, sp_config, tmp_path):
    emulator.regional.update(DateFormat=0, DecimalSeparator=".", Time24=False)  # en-US
    publisher.publish(make_document(), pdf_file(tmp_path), sp_config.categories["routes"])
    values = emulator.field_values(emulator.files_in("Routes")[0])
    assert values["Date de réception"] == "2026-03-12T08:14:00Z" and values["Confiance"] == 0.873


def test_per_field_errors_in_a_200_answer_fail_the_publication(emulator, publisher, sp_config, tmp_path):
    emulator.regional.update(DecimalSeparator=".")  # the site changed its locale after we read it
    publisher.regional()
    emulator.regional.update(DecimalSeparator=",")
    with pytest.raises(PublishError) as caught:
        publisher.publish(make_document(), pdf_file(tmp_path), sp_config.categories["routes"])
    assert caught.value.transient and "Confiance" in str(caught.value)


def test_check_reports_what_to_create(home, monkeypatch, capsys):
    server = SharePointEmulator().start()
    monkeypatch.setenv("MAILROOM_SHAREPOINT_TOKEN", "test-token")
    try:
        config = load_config(home, write_config(home, server))
        libraries = sorted({c.library for c in config.categories.values()})
        for title in libraries:
            if title == "Routes":
                columns = [Field("Catégorie", "Text"), Field("Confiance", "DateTime")]
                server.add_library(title, columns=columns)
            elif title != "Cabinet":
                server.add_library(title)
        problems = make_publisher(config).check()
        assert any("créez la bibliothèque de documents « Cabinet »" in p for p in problems)
        assert any("« Routes » : créez la colonne « Expéditeur » de type « Une ligne de texte »" in p for p in problems)
        assert any("« Confiance » est de type « Date et heure »" in p and "Nombre" in p for p in problems)
        assert not any("Juridique" in p for p in problems)

        assert run_check(config, None) == 1
        out = capsys.readouterr().out
        assert "OK   « Juridique »" in out and "À FAIRE « Routes »" in out and "À FAIRE « Cabinet »" in out
        assert "test-token" not in out
    finally:
        server.stop()


def test_check_passes_when_everything_exists(emulator, sp_config, capsys):
    assert make_publisher(sp_config).check() == []
    assert run_check(sp_config, None) == 0
    assert "Tout est prêt." in capsys.readouterr().out


def test_check_command_is_registered():
    import argparse

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sharepoint", "check"])
    assert args.handler is run_check


def test_check_command_through_the_cli(emulator, home):
    import subprocess

    config = write_config(home, emulator)
    env = dict(os.environ, MAILROOM_SHAREPOINT_TOKEN="test-token")
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "--home", str(home), "--config", str(config),
                           "sharepoint", "check"], capture_output=True, text=True, env=env, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Tout est prêt." in done.stdout
    env["MAILROOM_SHAREPOINT_TOKEN"] = "wrong-secret-token"
    done = subprocess.run([sys.executable, "-m", "pipeline.cli", "--home", str(home), "--config", str(config),
                           "sharepoint", "check"], capture_output=True, text=True, env=env, timeout=120,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 1 and "401" in done.stdout
    assert "wrong-secret-token" not in done.stdout + done.stderr


def test_missing_library_is_a_transient_publish_error(emulator, publisher, sp_config, tmp_path):
    del emulator.libraries["routes"]
    with pytest.raises(PublishError) as caught:
        publisher.publish(make_document(), pdf_file(tmp_path), sp_config.categories["routes"])
    assert caught.value.transient and "« Routes » n'existe pas" in str(caught.value)


def test_unreadable_pdf_is_not_transient(publisher, sp_config, tmp_path):
    with pytest.raises(PublishError) as caught:
        publisher.publish(make_document(), tmp_path / "missing.pdf", sp_config.categories["routes"])
    assert not caught.value.transient


def test_token_from_a_command_and_no_secret_in_errors(emulator, home, monkeypatch, tmp_path):
    monkeypatch.delenv("MAILROOM_SHAREPOINT_TOKEN")
    script = tmp_path / "token.sh"
    script.write_text("#!/bin/sh\necho test-token\n")
    script.chmod(0o755)
    config = load_config(home, write_config(home, emulator, token_command=str(script)))
    result = make_publisher(config).publish(make_document(), pdf_file(tmp_path), config.categories["routes"])
    assert result.destination

    script.write_text("#!/bin/sh\necho super-secret-value\n")
    with pytest.raises(PublishError) as caught:
        make_publisher(config).publish(make_document("in9-1"), pdf_file(tmp_path), config.categories["routes"])
    assert "401" in str(caught.value) and "super-secret-value" not in str(caught.value)


def test_no_token_at_all_says_where_to_put_one(emulator, home, monkeypatch, tmp_path):
    monkeypatch.delenv("MAILROOM_SHAREPOINT_TOKEN")
    config = load_config(home, write_config(home, emulator))
    with pytest.raises(PublishError) as caught:
        make_publisher(config).publish(make_document(), pdf_file(tmp_path), config.categories["routes"])
    assert "MAILROOM_SHAREPOINT_TOKEN" in str(caught.value)


def test_certificate_mode_names_missing_settings(emulator, home, tmp_path):
    config = load_config(home, write_config(home, emulator, auth="certificate", tenant="contoso"))
    problems = make_publisher(config).check()
    assert problems and "sharepoint.client_id" in problems[0] and "sharepoint.key_file" in problems[0]


def test_ntlm_uses_the_password_from_the_environment(emulator, home, monkeypatch):
    from requests_ntlm import HttpNtlmAuth

    monkeypatch.setenv("MAILROOM_SHAREPOINT_PASSWORD", "pw-from-env")
    config = load_config(home, write_config(home, emulator, auth="ntlm", username="CD\\courrier"))
    session = make_publisher(config).connection._session()
    assert isinstance(session.auth, HttpNtlmAuth) and session.auth.username == "CD\\courrier"
    monkeypatch.delenv("MAILROOM_SHAREPOINT_PASSWORD")
    problems = make_publisher(config).check()
    assert problems and "MAILROOM_SHAREPOINT_PASSWORD" in problems[0] and "pw-from-env" not in problems[0]


def test_ntlm_handshake_against_a_server_on_premises(emulator, home, monkeypatch, tmp_path):
    """SharePoint Server: NTLM on the connection (pyspnego as the acceptor), no bearer token at all."""
    emulator.enable_ntlm(tmp_path, "CD\\courrier", "S3cret!")
    monkeypatch.setenv("NTLM_USER_FILE", str(emulator.ntlm_users))
    monkeypatch.delenv("MAILROOM_SHAREPOINT_TOKEN")
    monkeypatch.setenv("MAILROOM_SHAREPOINT_PASSWORD", "S3cret!")
    config = load_config(home, write_config(home, emulator, auth="ntlm", username="CD\\courrier"))
    result = make_publisher(config).publish(make_document(), pdf_file(tmp_path), config.categories["routes"])
    assert result.destination and len(emulator.files_in("Routes")) == 1
    assert any(r.headers.get("authorization", "").startswith("NTLM ") for r in emulator.log)
    assert not any("Bearer" in r.headers.get("authorization", "") for r in emulator.log)

    monkeypatch.setenv("MAILROOM_SHAREPOINT_PASSWORD", "wrong-password")
    with pytest.raises(PublishError) as caught:
        make_publisher(config).publish(make_document("in2-1"), pdf_file(tmp_path), config.categories["routes"])
    assert "401" in str(caught.value) and "wrong-password" not in str(caught.value)


def test_choice_category_column(home, monkeypatch, tmp_path):
    server = SharePointEmulator().start()
    monkeypatch.setenv("MAILROOM_SHAREPOINT_TOKEN", "test-token")
    try:
        config = load_config(home, write_config(home, server))
        for title in sorted({c.library for c in config.categories.values()}):
            server.add_library(title)
        routes = server.libraries["routes"]
        category = next(f for f in routes.fields if f.title == "Catégorie")
        category.type, category.choices = "Choice", ["Collèges"]
        problems = make_publisher(config).check()
        assert problems == ["bibliothèque « Routes » : ajoutez à la colonne de choix « Catégorie » les valeurs : "
                            "Routes départementales"]
        category.choices.append("Routes départementales")
        ready = make_publisher(config)
        assert ready.check() == []
        ready.publish(make_document(), pdf_file(tmp_path), config.categories["routes"])
        assert server.field_values(server.files_in("Routes")[0])["Catégorie"] == "Routes départementales"
    finally:
        server.stop()


def test_library_whose_url_differs_from_its_title(home, monkeypatch, tmp_path):
    server = SharePointEmulator().start()
    monkeypatch.setenv("MAILROOM_SHAREPOINT_TOKEN", "test-token")
    try:
        config = load_config(home, write_config(home, server))
        server.add_library("Routes", url_name="RoutesDepartementales")
        result = make_publisher(config).publish(make_document(), pdf_file(tmp_path), config.categories["routes"])
        assert "/sites/courrier/RoutesDepartementales/Courrier%20entrant/2026/03/" in result.destination
    finally:
        server.stop()


def test_folders_made_by_someone_else_on_a_server_that_refuses_re_adding(emulator, publisher, sp_config, tmp_path):
    emulator.folder_add_idempotent = False
    root = emulator.folders["/sites/courrier/routes"]
    emulator.add_folder(emulator.add_folder(root, "Courrier entrant"), "2026")  # "03" is still missing
    publisher.publish(make_document(), pdf_file(tmp_path), sp_config.categories["routes"])
    assert [r.status for r in emulator.requests(r"Folders/Add", "POST")] == [400, 400, 200]
    assert len(emulator.files_in("Routes")) == 1
