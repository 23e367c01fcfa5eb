"""Timestamps from a local RFC 3161 authority, mailroom verify after each kind of tampering, the proof file."""
import hashlib
import json
import shutil
import sqlite3
import subprocess
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.records import PUBLISHED
from pipeline.trace.stamp import record_rewrite, retry_due_timestamps, seal_journal
from pipeline.trace.verify import verify
from tests.support.proof_home import attack, publish_letters, trace_config_text
from pipeline.cli import main
from tests.support.tsa import LocalTsa


@pytest.fixture
def tsa(tmp_path):
    authority = LocalTsa(tmp_path / "tsa")
    yield authority
    authority.stop()


@pytest.fixture
def letters(home, tsa):
    return publish_letters(home, tsa, count=2)


def cli(capsys, home, *args):
    """The command in this process (a subprocess costs seconds of start-up on a loaded machine)."""
    capsys.readouterr()
    code = main(["--home", str(home), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def run_verify(home, *ids, capsys):
    code, out, _ = cli(capsys, home, "verify", *ids)
    return code, out.splitlines()


def test_published_letters_are_timestamped_and_openssl_accepts_the_tokens(letters, tsa):
    for doc in letters.documents:
        assert doc.state == PUBLISHED and doc.timestamp is not None
        assert set(doc.timestamp) == {"time", "serial", "token"}
        token = letters.home / doc.timestamp["token"]
        assert token.parent == letters.home / "proofs" / doc.id
        checked = tsa.openssl_verify(token, Path(doc.destination))
        assert checked.returncode == 0 and "Verification: OK" in checked.stdout
        stamped = letters.store.events(document_id=doc.id, kind="timestamped")[0].details
        assert stamped["serial"] == doc.timestamp["serial"] and stamped["pdf_sha256"] == doc.pdf_sha256
        assert doc.pdf_sha256 == hashlib.sha256(Path(doc.destination).read_bytes()).hexdigest()
    assert letters.documents[0].timestamp["serial"] != letters.documents[1].timestamp["serial"]


def test_verify_passes_on_a_clean_home(letters, tsa, capsys):
    code, out, _ = cli(capsys, letters.home, "seal")
    assert code == 0 and out.startswith("sealed event ")
    [seal] = letters.store.events(kind="sealed")
    stamped = letters.store.events(kind="seal-timestamped")[0].details
    assert tsa.openssl_verify(letters.home / stamped["token"], letters.home / seal.details["file"]).returncode == 0
    assert cli(capsys, letters.home, "seal")[1] == "nothing new to seal\n"
    code, lines = run_verify(letters.home, capsys=capsys)
    assert (code, lines) == (0, [])


def test_one_byte_changed_in_a_published_pdf(letters, capsys):
    target = Path(letters.documents[1].destination)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    code, lines = run_verify(letters.home, capsys=capsys)
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith("L000002-01: file changed: published PDF")


def test_one_byte_changed_in_an_archived_scan(letters, capsys):
    archived = Path(letters.store.get_input("L000001").spool_path)
    assert archived.is_relative_to(letters.home / "archive")
    data = bytearray(archived.read_bytes())
    data[-10] ^= 0x20
    archived.write_bytes(bytes(data))
    code, lines = run_verify(letters.home, "L000001-01", capsys=capsys)
    assert code == 1 and len(lines) == 1 and lines[0].startswith("L000001: file changed: original scan")


def test_an_event_row_edited_with_sqlite3(letters, capsys):
    attack(letters.config.database_path,
           "UPDATE events SET actor = 'quelquun' WHERE kind = 'routed' AND document_id = 'L000001-01'")
    code, lines = run_verify(letters.home, capsys=capsys)
    assert code == 1
    assert any(line.startswith("L000001-01: event changed:") and "routed" in line for line in lines)


def test_an_event_deleted(letters, capsys):
    attack(letters.config.database_path, "DELETE FROM events WHERE kind = 'fingerprinted' AND document_id = 'L000002-01'")
    code, lines = run_verify(letters.home, capsys=capsys)
    assert code == 1
    assert any(line.startswith("L000002-01: event missing:") for line in lines)


def test_a_token_swapped(letters, capsys):
    first, second = (letters.home / d.timestamp["token"] for d in letters.documents)
    shutil.copyfile(second, first)
    code, lines = run_verify(letters.home, capsys=capsys)
    assert code == 1
    assert lines == [line for line in lines if line.startswith("L000001-01: timestamp invalid:")] and lines


def test_a_rehashed_journal_is_caught_by_the_timestamped_seal(letters, capsys):
    """The attacker recomputes every hash after editing: only the seal made earlier can tell."""
    from pipeline.trace.chain import event_hash, subject

    seal_journal(letters.config, letters.store)
    attack(letters.config.database_path, "SELECT 1")
    db = sqlite3.connect(letters.config.database_path)
    db.row_factory = sqlite3.Row
    rows = [dict(r) for r in db.execute("SELECT * FROM events ORDER BY id")]
    previous, last_of = "0" * 64, {}
    for row in rows:
        if row["kind"] == "routed":
            row["details"] = json.dumps({"library": "Cabinet"})
        row["prev_hash"] = previous
        key = subject(row)
        row["prev_doc_hash"] = last_of.get(key, "0" * 64) if key else None
        row["hash"] = event_hash(row)
        db.execute("UPDATE events SET details = ?, prev_hash = ?, prev_doc_hash = ?, hash = ? WHERE id = ?",
                   (row["details"], row["prev_hash"], row["prev_doc_hash"], row["hash"], row["id"]))
        previous = row["hash"]
        if key:
            last_of[key] = row["hash"]
    db.commit()
    db.close()
    code, lines = run_verify(letters.home, capsys=capsys)
    assert code == 1 and any(line.startswith("journal: event changed:") and "seal" in line for line in lines)


def test_verify_of_an_unknown_id_cannot_check(letters, capsys):
    code, _, err = cli(capsys, letters.home, "verify", "L000099-01")
    assert code == 2 and "unknown document or input id: L000099-01" in err


def test_a_tsa_that_is_down_delays_the_timestamp_never_the_filing(home, tsa, capsys):
    tsa.down = True
    letters = publish_letters(home, tsa, count=1)
    doc = letters.store.get_document("L000001-01")
    assert doc.state == PUBLISHED and Path(doc.destination).is_file()  # filed all the same
    assert doc.timestamp is None and doc.timestamp_attempts == 1
    failed = letters.store.events(document_id=doc.id, kind="timestamp-failed")[0].details
    assert "HTTP 503" in failed["error"]
    retry_after = datetime.fromisoformat(doc.timestamp_retry_after)
    assert retry_after > datetime.now(timezone.utc) + timedelta(seconds=50)
    status = json.loads(cli(capsys, home, "status", "--json")[1])
    assert status["trace"]["timestamps_pending"] == 1

    assert retry_due_timestamps(letters.config, letters.store) == 0  # not before its back-off
    tsa.down = False
    later = datetime.now(timezone.utc) + timedelta(seconds=61)
    assert retry_due_timestamps(letters.config, letters.store, now=later) == 1
    doc = letters.store.get_document("L000001-01")
    assert doc.timestamp and tsa.openssl_verify(home / doc.timestamp["token"], Path(doc.destination)).returncode == 0


def test_a_pdf_rewritten_after_publication_is_fingerprinted_and_timestamped_again(letters, tsa, capsys):
    import pikepdf

    doc = letters.documents[0]
    before = doc.pdf_sha256
    path = Path(doc.destination)
    with pikepdf.open(path, allow_overwriting_input=True) as pdf:  # metadata refreshed in place
        pdf.docinfo["/Subject"] = "Routes départementales (corrigé)"
        pdf.save(path)
    doc = record_rewrite(letters.config, letters.store, doc, reason="metadata refreshed")
    assert doc.pdf_sha256 != before and doc.timestamp
    changed = letters.store.events(document_id=doc.id, kind="fingerprint-changed")[0].details
    assert (changed["before"], changed["after"]) == (before, doc.pdf_sha256)
    assert len(letters.store.events(document_id=doc.id, kind="timestamped")) == 2  # both kept
    assert tsa.openssl_verify(letters.home / doc.timestamp["token"], path).returncode == 0
    assert run_verify(letters.home, capsys=capsys) == (0, [])


def test_the_proof_file_checks_with_standard_tools(letters, tmp_path, capsys):
    out = tmp_path / "preuve.zip"
    code, _, err = cli(capsys, letters.home, "proof", "L000001-01", "--out", str(out))
    assert code == 0, err
    folder = tmp_path / "preuve"
    with zipfile.ZipFile(out) as archive:
        archive.extractall(folder)
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert {"document.pdf", "original/scan1.pdf", "metadonnees.json", "contexte-numerisation.json",
            "journal.jsonl", "journal-canonique.txt", "LISEZMOI.txt", "SHA256SUMS",
            "horodatages/autorite-ca.pem"} <= names
    sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=folder, capture_output=True, text=True)
    assert sums.returncode == 0 and sums.stdout.count(": OK") == len(names) - 2
    token = next(n for n in names if n.endswith(".tsr"))
    checked = subprocess.run(["openssl", "ts", "-verify", "-in", token, "-data", "document.pdf",
                              "-CAfile", "horodatages/autorite-ca.pem"], cwd=folder, capture_output=True, text=True)
    assert "Verification: OK" in checked.stdout
    events = [json.loads(line) for line in (folder / "journal.jsonl").read_text().splitlines()]
    canon = (folder / "journal-canonique.txt").read_bytes().splitlines()
    assert [hashlib.sha256(line).hexdigest() for line in canon] == [e["hash"] for e in events]
    assert {"received", "routed", "published", "fingerprinted", "timestamped"} <= {e["kind"] for e in events}
    meta = json.loads((folder / "metadonnees.json").read_text())
    assert meta["expediteur"] == "Mairie numéro 1" and meta["categorie"] == "routes"
    assert meta["decision"]["how"] == "classement automatique"
    context = json.loads((folder / "contexte-numerisation.json").read_text())
    assert context["images"][0]["dpi"] == 200 and context["images"][0]["colour"] == "niveaux de gris"
    assert context["pdfa_2b"] is True and len(context["empreinte_configuration_sha256"]) == 64
    readme = (folder / "LISEZMOI.txt").read_text()
    assert "sha256sum -c SHA256SUMS" in readme and f"openssl ts -verify -in {token}" in readme


def test_trace_enabled_makes_pdfa_the_default_unless_said_otherwise(home):
    (home / "mailroom.toml").write_text("[trace]\nenabled = true\n")
    assert load_config(home).ocr.pdfa is True
    (home / "mailroom.toml").write_text("[trace]\nenabled = true\n[ocr]\npdfa = false\n")
    assert load_config(home).ocr.pdfa is False
    (home / "mailroom.toml").write_text("")
    assert load_config(home).ocr.pdfa is False


@pytest.mark.parametrize("text, message", [
    ('tsa_url = "ftp://tsa"', "trace.tsa_url: must be the time-stamping authority's http(s) URL"),
    ('tsa_ca_file = "/nowhere/ca.pem"', "trace.tsa_ca_file: no such file"),
    ("retention_years = 0", "trace.retention_years: must be at least 1"),
    ("verify_hour = 24", "trace.verify_hour"),
    ("tsa_timeout = 3", "unknown key trace.tsa_timeout"),
])
def test_trace_configuration_errors_name_the_key(home, text, message):
    from pipeline.config import ConfigError

    (home / "mailroom.toml").write_text(f"[trace]\n{text}\n")
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_config(home)


def test_verify_remote_downloads_the_published_pdf_from_sharepoint(home, tsa, monkeypatch, capsys):
    from tests.support.sp_emulator import SharePointEmulator, default_libraries

    server = SharePointEmulator().start()
    try:
        default_libraries(server)
        monkeypatch.setenv("MAILROOM_SHAREPOINT_TOKEN", "test-token")
        text = trace_config_text(tsa).replace('[publish]\nbackend = "local"', '[publish]\nbackend = "sharepoint"')
        (home / "mailroom.toml").write_text(text.replace('site_url = ""', f'site_url = "{server.url}"'))
        letters = publish_letters(home, tsa, count=2)
        assert all(d.destination.startswith(server.origin) and d.timestamp for d in letters.documents)
        assert run_verify(home, "--remote", capsys=capsys) == (0, [])
        stored = next(f for f in server.files_in("Routes") if f.content == Path(letters.documents[0].pdf).read_bytes())
        middle = len(stored.content) // 2  # someone edited the copy in the library
        stored.content = stored.content[:middle] + bytes([stored.content[middle] ^ 1]) + stored.content[middle + 1:]
        code, lines = run_verify(home, "--remote", capsys=capsys)
        assert code == 1 and len(lines) == 1 and lines[0].startswith("L000001-01: file changed: published PDF http")
        assert run_verify(home, capsys=capsys)[0] == 0  # without --remote only the local work copy is read
    finally:
        server.stop()
