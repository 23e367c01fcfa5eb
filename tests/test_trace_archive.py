"""SEDA 2.2 transfer packages, retention of local copies, the description of the process."""
import hashlib
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from lxml import etree

from pipeline.cli import main
from pipeline.records import PUBLISHED, REVIEW
from pipeline.trace.retention import plan, purge
from pipeline.trace.verify import verify
from tests.support.proof_home import publish_letters
from tests.support.seda_schema import seda_schema
from tests.support.tsa import LocalTsa

SEDA = {"s": "fr:gouv:culture:archivesdefrance:seda:v2.2"}


@pytest.fixture
def tsa(tmp_path):
    authority = LocalTsa(tmp_path / "tsa")
    yield authority
    authority.stop()


def cli(capsys, home, *args):
    capsys.readouterr()
    code = main(["--home", str(home), *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def with_agencies(text: str) -> str:
    return (text.replace('archival_agency = ""', 'archival_agency = "FRAD076"')
            .replace('transferring_agency = ""', 'transferring_agency = "CD76-COURRIER"'))


def test_archive_export_writes_a_seda_2_2_package_that_the_schema_accepts(home, tsa, tmp_path, capsys):
    from tests.support.proof_home import trace_config_text

    (home / "mailroom.toml").write_text(with_agencies(trace_config_text(tsa)), encoding="utf-8")
    march = publish_letters(home, tsa, count=2)
    publish_letters(home, tsa, count=1, received_at="2026-04-02T10:00:00+02:00", first_input=3)
    publish_letters(home, tsa, count=1, category="colleges", first_input=4)
    out = tmp_path / "sip.zip"
    code, stdout, err = cli(capsys, home, "archive", "export", "--from", "2026-03-01", "--to", "2026-03-31",
                            "--category", "routes", "--out", str(out))
    assert code == 0, err
    with zipfile.ZipFile(out) as package:
        manifest = etree.fromstring(package.read("manifest.xml"))
        files = {name: package.read(name) for name in package.namelist() if name != "manifest.xml"}
    schema = seda_schema(tmp_path / "xsd")
    assert schema.validate(manifest), schema.error_log
    assert manifest.tag == "{fr:gouv:culture:archivesdefrance:seda:v2.2}ArchiveTransfer"
    letters = manifest.findall(".//s:ArchiveUnit/s:ArchiveUnit", SEDA)
    assert [u.findtext("s:Content/s:OriginatingSystemId", namespaces=SEDA) for u in letters] == \
        [d.id for d in march.documents]
    assert [e.text for e in letters[0].iterfind("s:Content/s:OriginatingSystemId", SEDA)] == \
        [march.documents[0].id, march.documents[0].uid]
    assert letters[0].findtext("s:Content/s:Sender/s:FullName", namespaces=SEDA) == "Mairie numéro 1"
    assert "RFC 3161" in " ".join(e.text for e in letters[0].iterfind(".//s:EventDetail", SEDA))
    for binary in manifest.iterfind(".//s:BinaryDataObject", SEDA):
        data = files[binary.findtext("s:Uri", namespaces=SEDA)]
        assert binary.findtext("s:MessageDigest", namespaces=SEDA) == hashlib.sha256(data).hexdigest()
        assert int(binary.findtext("s:Size", namespaces=SEDA)) == len(data)
    assert len(files) == 2
    assert manifest.findtext("s:ArchivalAgency/s:Identifier", namespaces=SEDA) == "FRAD076"


def test_archive_export_says_what_is_missing(home, tsa, tmp_path, capsys):
    publish_letters(home, tsa, count=1)
    code, _, err = cli(capsys, home, "archive", "export", "--from", "2026-03-01", "--to", "2026-03-31",
                       "--out", str(tmp_path / "sip.zip"))
    assert code == 2 and "set [trace] archival_agency" in err
    assert not (tmp_path / "sip.zip").exists()


def test_purge_removes_only_published_verified_timestamped_copies_past_retention(home, tsa, capsys):
    old = publish_letters(home, tsa, count=2, received_at="2014-03-03T09:00:00+01:00")
    recent = publish_letters(home, tsa, count=1, received_at="2025-06-01T09:00:00+02:00", first_input=3)
    store, config = old.store, old.config
    # an old letter still waiting for a supervisor
    waiting = publish_letters(home, tsa, count=1, received_at="2014-03-04T09:00:00+01:00", first_input=4,
                              review=True)
    assert waiting.documents[0].state == REVIEW
    tsa.down = True  # an old letter that never got its timestamp
    untimed = publish_letters(home, tsa, count=1, received_at="2014-03-05T09:00:00+01:00", first_input=5)
    assert untimed.documents[0].timestamp is None

    assert [r for r in plan(config, store) if r.what == "original"] == []  # never verified yet
    report = verify(config, store)
    assert report.problems == []
    code, stdout, _ = cli(capsys, home, "purge", "--dry-run")
    assert code == 0
    planned = {line.split(":")[0].split()[-1] for line in stdout.splitlines() if "original" in line}
    assert planned == {"L000001", "L000002"}
    assert all(Path(store.get_input(i).spool_path).is_file() for i in planned)  # dry run

    code, stdout, _ = cli(capsys, home, "purge")
    for input_id in ("L000001", "L000002"):
        assert not Path(store.get_input(input_id).spool_path).exists()
        event = store.events(input_id=input_id, kind="purged")[0]
        assert event.details["what"] == "original" and len(event.details["sha256"]) == 64
    for input_id in ("L000003", "L000004", "L000005"):  # too recent, unpublished, untimestamped
        assert Path(store.get_input(input_id).spool_path).is_file()
    assert verify(config, store).problems == []  # a purged original is not a missing one
    assert all(Path(d.destination).is_file() for d in old.documents + recent.documents)  # the copies stay
    assert (home / old.documents[0].timestamp["token"]).is_file()


def test_an_original_found_changed_is_never_purged(home, tsa):
    letters = publish_letters(home, tsa, count=1, received_at="2014-03-03T09:00:00+01:00")
    verify(letters.config, letters.store)
    Path(letters.documents[0].destination).write_bytes(b"%PDF-1.7 altered")
    assert verify(letters.config, letters.store).problems
    assert [r for r in purge(letters.config, letters.store) if r.what == "original"] == []


def test_work_intermediates_go_after_the_configured_delay(home, tsa):
    letters = publish_letters(home, tsa, count=1)
    folder = letters.config.work_dir / letters.documents[0].id
    assert folder.is_dir()
    assert purge(letters.config, letters.store) == []  # finished just now
    later = datetime.now().astimezone() + timedelta(hours=25)
    removed = purge(letters.config, letters.store, now=later)
    assert [(r.what, r.subject) for r in removed] == [("work", "L000001-01")] and not folder.exists()
    assert letters.store.events(document_id="L000001-01", kind="purged")[0].details["what"] == "work"
    assert verify(letters.config, letters.store).problems == []


def test_retention_years_per_category(home, tsa):
    from tests.support.proof_home import trace_config_text

    text = trace_config_text(tsa).replace('library = "Routes"\n', 'library = "Routes"\nretention_years = 30\n')
    (home / "mailroom.toml").write_text(text, encoding="utf-8")
    letters = publish_letters(home, tsa, count=1, received_at="2014-03-03T09:00:00+01:00")
    verify(letters.config, letters.store)
    assert letters.config.retention_years_for("routes") == 30
    assert [r for r in plan(letters.config, letters.store) if r.what == "original"] == []


def test_status_shows_disk_use_per_folder_and_the_trace_state(home, tsa, capsys):
    publish_letters(home, tsa, count=1)
    code, stdout, _ = cli(capsys, home, "status")
    assert "Timestamps: time-stamping authority http://127.0.0.1:" in stdout
    assert "Last verify: never" in stdout
    assert "archive " in stdout and "library " in stdout and "proofs " in stdout


def test_without_a_tsa_status_and_doctor_say_so(home, capsys):
    (home / "mailroom.toml").write_text("[trace]\nenabled = true\n", encoding="utf-8")
    code, stdout, _ = cli(capsys, home, "status")
    assert "no time-stamping authority configured ([trace] tsa_url)" in stdout
    from pipeline.config import load_config
    from pipeline.trace.report import doctor_check

    ok, what, fix = doctor_check(load_config(home))
    assert not ok and "no time-stamping authority configured" in what and "tsa_url" in fix


def test_doctor_asks_the_tsa_for_a_real_token(home, tsa):
    from pipeline.config import load_config
    from pipeline.trace.report import doctor_check
    from tests.support.proof_home import trace_config_text

    (home / "mailroom.toml").write_text(trace_config_text(tsa), encoding="utf-8")
    assert doctor_check(load_config(home))[0] is True
    tsa.down = True
    ok, what, _ = doctor_check(load_config(home))
    assert not ok and "HTTP 503" in what


def test_process_description_is_a_french_pdf_from_the_effective_configuration(home, tsa, tmp_path, capsys):
    import subprocess

    from tests.support.proof_home import trace_config_text

    (home / "mailroom.toml").write_text(trace_config_text(tsa).replace("threshold = 0.80", "threshold = 0.87"),
                                        encoding="utf-8")
    out = tmp_path / "description.pdf"
    code, _, err = cli(capsys, home, "process-description", "--out", str(out))
    assert code == 0, err
    text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True).stdout
    for expected in ("Description du processus de numérisation", "0,87", "Routes départementales",
                     "horodatage", tsa.url, "SHA-256", "10 ans", "superviseur", "PDF/A-2b"):
        assert expected in text, expected


def test_serve_seals_daily_verifies_the_days_documents_nightly_and_asks_again_for_timestamps(home, tsa):
    from pipeline.trace.service import TraceService

    tsa.down = True
    letters = publish_letters(home, tsa, count=2)
    service = TraceService(letters.config, letters.store)
    morning = (datetime.now().astimezone() + timedelta(days=1)).replace(hour=1, minute=0)  # tomorrow, 1 am
    service.tick(now=morning, force=True)  # before verify_hour: seal only; the TSA is still down
    assert len(letters.store.events(kind="sealed")) == 1 and not letters.store.events(kind="verified")
    assert letters.store.events(kind="seal-timestamp-failed")

    tsa.down = False
    Path(letters.documents[1].destination).write_bytes(b"%PDF-1.7 replaced")
    night = morning.replace(hour=5)  # past the back-off and past verify_hour
    service.tick(now=night, force=True)
    assert letters.store.get_document("L000001-01").timestamp is not None   # asked again, got it
    assert letters.store.events(kind="seal-timestamped")                     # the seal too
    seals = len(letters.store.events(kind="sealed"))
    run = letters.store.events(kind="verified")[-1].details
    assert run["nightly"] is True and run["documents"] == 2 and run["problems"] >= 1
    checks = letters.store.checks()
    assert checks["L000001-01"]["ok"] and not checks["L000002-01"]["ok"]
    assert "file changed" in checks["L000002-01"]["problems"][0]
    service.tick(now=night + timedelta(hours=1), force=True)  # the same night again: nothing more
    assert len([e for e in letters.store.events(kind="verified") if e.details.get("nightly")]) == 1
    assert len(letters.store.events(kind="sealed")) == seals


def test_the_dashboard_shows_the_last_integrity_check(home, tsa):
    from fastapi.testclient import TestClient

    from pipeline.review.app import create_app
    from tests.support.review_client import log_in
    from tests.support.review_data import make_home

    letters = publish_letters(home, tsa, count=2)
    make_home(home)
    Path(letters.documents[1].destination).write_bytes(b"%PDF-1.7 replaced")
    verify(letters.config, letters.store)
    with TestClient(create_app(letters.config, letters.store)) as client:
        log_in(client, "victor")
        page = client.get("/dashboard").text
    assert "Copie fiable" in page and "Tous les courriers publiés sont horodatés." in page
    assert "2 documents, 1 anomalie." in page and "Anomalies sur : L000002-01" in page


def test_the_running_service_seals_the_journal_and_asks_again_for_a_timestamp(home, tsa):
    from pipeline.store import Store
    from tests.support.service import Service, wait_for

    tsa.down = True
    publish_letters(home, tsa, count=1)
    tsa.down = False
    service = Service(home, "watch")
    try:
        store = Store(home / "mailroom.sqlite3")
        wait_for(lambda: store.events(kind="seal-timestamped"), timeout=60, interval=0.5, what="a timestamped seal")
        assert store.get_document("L000001-01").timestamp is None  # its back-off has not passed yet
    finally:
        assert service.terminate() == 0
