"""Registration numbers, processing deadlines, acknowledgements of receipt (CRPA) and the register."""
from __future__ import annotations

import csv
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pikepdf
import pytest

from pipeline.config import ConfigError, load_config
from pipeline.records import PUBLISHED
from pipeline.registration.acknowledgement import Acknowledger, postal_addressee, sender_email
from pipeline.registration.deadlines import Calendar, processing_deadline
from pipeline.registration.numbers import register_pending
from pipeline.registration.register import write_register
from pipeline.stages import finish_pdf
from pipeline.store import Store
from tests.support.registration import SmtpSink, add_input, config_and_store, move_to, write_config
from tests.support.review_data import make_pdf

REPO = Path(__file__).resolve().parents[1]


def pdftotext(path: Path) -> str:
    text = subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True).stdout
    return " ".join(text.split())


# -- deadlines ------------------------------------------------------------------------------------

@pytest.mark.parametrize("received, days, expected", [
    ("2026-05-13T16:00:00+02:00", 1, "2026-05-15"),   # Ascension Thursday 14 May is skipped
    ("2026-05-13T09:00:00+02:00", 5, "2026-05-21"),   # Ascension, then a weekend
    ("2026-05-22T10:00:00+02:00", 1, "2026-05-26"),   # Friday → weekend → Whit Monday 25 May → Tuesday
    ("2026-07-10T10:00:00+02:00", 2, "2026-07-15"),   # Friday → weekend → Monday 13 → 14 July → Wednesday
    ("2026-05-12T10:00:00+02:00", 30, "2026-06-25"),  # 30 working days across Ascension and Whit Monday
])
def test_working_day_deadlines_skip_weekends_and_french_holidays(home, received, days, expected):
    config = load_config(home)
    category = config.categories["rsa-insertion"]
    category = type(category)(**{**category.__dict__, "deadline_days": days})
    assert processing_deadline(received, category, False, Calendar()).isoformat() == expected


def test_deadline_kinds_urgent_and_local_closures(home):
    base = load_config(home).categories["routes"]
    calendar = type(base)(**{**base.__dict__, "deadline_kind": "calendar", "deadline_days": 30})
    assert processing_deadline("2026-05-13T09:00:00+02:00", calendar, False, Calendar()) == date(2026, 6, 12)
    assert processing_deadline("2026-07-10T09:00:00+02:00", base, True, Calendar()) == date(2026, 7, 23)  # 8 days, 14 July
    closed = Calendar(("2026-07-15",))  # a local closure the day after 14 July
    assert processing_deadline("2026-07-13T09:00:00+02:00",
                               type(base)(**{**base.__dict__, "deadline_days": 1}), False, closed) == date(2026, 7, 16)
    # The arrival date is the mail room's: 00:30 in Paris on 13 May (22:30 UTC on the 12th) is 13 May.
    assert processing_deadline("2026-05-13T00:30:00+02:00", type(base)(**{**base.__dict__, "deadline_days": 1}),
                               False, Calendar()) == date(2026, 5, 15)


# -- configuration ----------------------------------------------------------------------------------

def test_acknowledging_category_without_service_address_is_refused_at_load(home):
    (home / "mailroom.toml").write_text(
        '[categories.rsa-insertion]\nlabel = "RSA"\nlibrary = "RSA"\nacknowledge = "svr"\n'
        'service_name = "Service RSA"\n[categories.autre]\nlabel = "Autre"\nlibrary = "A"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"categories\.rsa-insertion\.service_address: is required"):
        load_config(home)
    (home / "mailroom.toml").write_text('[registration]\nextra_closed_days = ["2026-13-01"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"registration\.extra_closed_days\[0\]"):
        load_config(home)
    (home / "mailroom.toml").write_text('[registration]\nnumber_format = "{annee}-{seq}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"registration\.number_format"):
        load_config(home)
    (home / "mailroom.toml").write_text('[transmission.bodies.caf]\nname = "CAF"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"transmission\.bodies\.caf\.address is required"):
        load_config(home)
    (home / "mailroom.toml").write_text('[categories.autre-administration]\nlabel = "A"\nlibrary = "T"\ntransmit = true\n'
                                        'acknowledge = "simple"\nservice_name = "S"\nservice_address = "A"\n'
                                        '[categories.autre]\nlabel = "Autre"\nlibrary = "A"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"categories\.autre-administration\.acknowledge: must be \"none\""):
        load_config(home)


# -- numbers ------------------------------------------------------------------------------------------

def test_numbers_follow_claim_order_and_wait_for_an_earlier_unsplit_scan(home):
    config, store = config_and_store(home)
    first = add_input(store, "a.pdf", "2026-05-13T09:00:00+02:00", documents=2)
    waiting = add_input(store, "b.pdf", "2026-05-13T09:01:00+02:00", state="received")
    third = add_input(store, "c.pdf", "2026-05-13T09:02:00+02:00")
    assert register_pending(config, store) == ["2026-A-000001", "2026-A-000002"]  # c waits for b
    store.create_documents(waiting[0].input_id, waiting)
    assert register_pending(config, store) == ["2026-A-000003", "2026-A-000004"]
    assert [store.get_document(d.id).registration for d in first + waiting + third] == [
        "2026-A-000001", "2026-A-000002", "2026-A-000003", "2026-A-000004"]
    assert register_pending(config, store) == []  # never twice
    add_input(store, "d.pdf", "2027-01-04T09:00:00+01:00")
    assert register_pending(config, store) == ["2027-A-000001"]  # one sequence per year
    with pytest.raises(Exception, match="never reused"):
        store._db().execute("DELETE FROM registrations")


def _register_forever(database: str, number_format: str) -> None:
    from pipeline.registration.numbers import year_of

    store = Store(Path(database))
    while True:
        store.register_pending(number_format, year_of)


def _claim_and_register(database: str, worker: int, count: int) -> None:
    from pipeline.registration.numbers import year_of

    store = Store(Path(database))
    for n in range(count):
        add_input(store, f"w{worker}-{n}.pdf", "2026-05-13T09:00:00+02:00", documents=2)
        store.register_pending("{year}-A-{seq:06d}", year_of)


def _assert_gap_free(store: Store, expected: int) -> None:
    rows = store.registrations()
    assert [r["seq"] for r in rows] == list(range(1, expected + 1))
    assert len({r["document_id"] for r in rows}) == expected
    documents = {d.id for d in store.documents()}
    assert {r["document_id"] for r in rows} == documents


def test_numbers_unique_and_gap_free_under_concurrent_workers(home):
    config, store = config_and_store(home)
    context = multiprocessing.get_context("forkserver")
    workers = [context.Process(target=_claim_and_register, args=(str(config.database_path), w, 15))
               for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    register_pending(config, store)
    _assert_gap_free(store, 4 * 15 * 2)
    # Numbers follow the order in which the scans were claimed (input sequence), whichever worker split them.
    by_input = [r["input_id"] for r in store.registrations()]
    assert by_input == sorted(by_input)


def test_numbers_stay_gap_free_after_kill_9(home):
    config, store = config_and_store(home)
    for n in range(300):
        add_input(store, f"k{n}.pdf", "2026-05-13T09:00:00+02:00", documents=1)
    code = ("import sys; sys.path.insert(0, %r); from tests.test_registration import _register_forever; "
            "_register_forever(%r, '{year}-A-{seq:06d}')") % (str(REPO), str(config.database_path))
    for _ in range(3):
        worker = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
        time.sleep(1.5)
        for n in range(20):  # scans keep arriving while the worker registers them
            add_input(store, f"k-{worker.pid}-{n}.pdf", "2026-05-13T09:00:00+02:00")
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    register_pending(config, store)
    _assert_gap_free(store, 360)


# -- the stamp ------------------------------------------------------------------------------------------

def test_stamp_adds_a_text_layer_and_leaves_the_scan_untouched(home, tmp_path):
    config, store = config_and_store(home)
    doc = add_input(store, "a.pdf", "2026-05-13T09:05:00+02:00")[0]
    register_pending(config, store)
    doc = store.get_document(doc.id)
    from PIL import Image
    image = tmp_path / "scan.pdf"
    Image.new("L", (600, 840), 255).save(image, resolution=72)
    doc.pdf = str(image)
    before = pikepdf.open(image)
    original = [bytes(v.read_raw_bytes()) for v in before.pages[0].images.values()]
    original_bytes = image.read_bytes()
    finish_pdf(doc, config, store)  # the one write after routing: stamp, metadata, uid
    stamped = image
    assert image.read_bytes() != original_bytes
    assert "Reçu le 13/05/2026 à 09:05 — N° 2026-A-000001 — Département de Seine-Maritime" in pdftotext(stamped)
    with pikepdf.open(stamped) as after:
        images = [bytes(v.read_raw_bytes()) for v in after.pages[0].images.values()]
        fonts = [f for f in after.pages[0].Resources.XObject.values() if "/Resources" in f]
        assert images == original  # the scanned image is the same stream, byte for byte
    finish_pdf(doc, config, store)  # a publication retried after a crash writes the PDF again: no second stamp
    assert pdftotext(stamped).count("N° 2026-A-000001") == 1
    assert fonts


# -- the acknowledgement letter ---------------------------------------------------------------------------

@pytest.mark.parametrize("category, kind_mentions", [
    ("rsa-insertion", ["réputée rejetée le 12 juillet 2026", "deux mois", "recours gracieux", "recours hiérarchique",
                       "tribunal administratif", "Télérecours"]),
    ("routes", ["réputée acceptée le 12 juillet 2026", "attestation", "L232-3"]),
    ("colleges", ["traité par ce service au plus tard le"]),
])
def test_every_r112_5_mention_is_in_the_letter(home, category, kind_mentions):
    config, store = config_and_store(home)
    doc = add_input(store, "a.pdf", "2026-05-13T09:05:00+02:00", category=category)[0]
    register_pending(config, store)
    doc = move_to(store, store.get_document(doc.id), PUBLISHED)
    doc.deadline = "2026-06-25"
    acknowledger = Acknowledger(config, store)
    doc = acknowledger.plan(doc, reviewed=False)
    text = pdftotext(acknowledger.render(doc))
    for mention in ["reçu le 13 mai 2026", "2026-A-000001", "demande de révision de mon RSA",  # receipt, number, object
                    "Direction de l'insertion — service RSA", "2 rue de la Préfecture, 76000 Rouen",
                    "rsa@departement.example.fr", "02 35 00 00 00", "L114-5", "Jeanne Martin", "12 rue des Lilas",
                    "76100 Rouen", *kind_mentions]:
        assert mention in text, mention
    if category == "colleges":
        assert "réputée" not in text


def test_sender_email_is_the_letterheads_never_the_departements_nor_the_body(home):
    config, store = config_and_store(home, smtp_port=25)
    doc = add_input(store, "a.pdf", "2026-05-13T09:05:00+02:00")[0]
    assert sender_email(doc, config) == "jeanne.martin@example.org"
    doc.fields["emails"] = ["agent.dupont@departement.example.fr"]
    assert sender_email(doc, config) is None
    doc.text = "\n".join(["Jeanne Martin"] + ["ligne"] * 20 + ["écrire à quelqu.un@example.org svp"] + ["x"] * 12)
    doc.fields["emails"] = ["quelqu.un@example.org"]
    assert sender_email(doc, config) is None  # only in the body
    assert postal_addressee(add_input(store, "b.pdf", "2026-05-13T09:05:00+02:00")[0])[:3] == [
        "Jeanne Martin", "12 rue des Lilas", "76100 Rouen"]


def _published(config, store, name="a.pdf", text=None):
    kwargs = {"text": text} if text else {}
    doc = add_input(store, name, "2026-05-13T09:05:00+02:00", category="rsa-insertion", **kwargs)[0]
    register_pending(config, store)
    return move_to(store, store.get_document(doc.id), PUBLISHED)


def test_email_acknowledgement_arrives_once_with_the_pdf(home):
    with SmtpSink() as smtp:
        config, store = config_and_store(home, smtp_port=smtp.port)
        acknowledger = Acknowledger(config, store)
        doc = acknowledger.plan(_published(config, store), reviewed=False)
        assert doc.acknowledgement["channel"] == "email"
        assert acknowledger.send_due() == 1
        assert acknowledger.send_due() == 0
        assert Acknowledger(config, store).deliver(doc.id) is None  # a second worker gets nothing to send
    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message["To"] == "jeanne.martin@example.org"
    assert "2026-A-000001" in message["Subject"]
    attachment = next(message.iter_attachments())
    assert attachment.get_content_type() == "application/pdf" and attachment.get_content()[:5] == b"%PDF-"
    ack = store.get_document(doc.id).acknowledgement
    assert ack["state"] == "sent" and ack["sent_at"] and ack["to"] == "jeanne.martin@example.org"
    assert [e.kind for e in store.events(doc.id) if e.kind.startswith("acknowledgement")] == [
        "acknowledgement-planned", "acknowledgement-sent"]


def test_paper_acknowledgements_land_in_the_days_batch(home):
    config, store = config_and_store(home)  # no SMTP server configured: every one is on paper
    acknowledger = Acknowledger(config, store)
    for name in ("a.pdf", "b.pdf"):
        acknowledger.plan(_published(config, store, name), reviewed=False)
    assert acknowledger.send_due() == 2
    batch = home / "acknowledgements" / f"{date.today().isoformat()}.pdf"
    with pikepdf.open(batch) as pdf:
        assert len(pdf.pages) == 2
    text = pdftotext(batch)
    assert text.index("2026-A-000001") < text.index("2026-A-000002")
    doc = store.documents()[0]
    assert doc.acknowledgement["channel"] == "paper" and doc.acknowledgement["state"] == "batched"
    assert doc.report_line()["acknowledgement"]["file"].endswith("2026-A-000001.pdf")


def test_failed_send_is_retried_with_back_off_and_never_blocks(home):
    config, store = config_and_store(home, smtp_port=1)  # nothing listens there
    acknowledger = Acknowledger(config, store)
    doc = acknowledger.plan(_published(config, store), reviewed=False)
    acknowledger.send_due()
    ack = store.get_document(doc.id).acknowledgement
    assert ack["state"] == "failed" and ack["attempts"] == 1 and ack["retry_after"] and "envoi impossible" in ack["error"]
    assert acknowledger.send_due() == 0  # not before the back-off delay
    assert store.get_document(doc.id).state == PUBLISHED
    from pipeline.cli import status_data
    [waiting] = status_data(store)["acknowledgements_waiting"]
    assert waiting["id"] == doc.id and waiting["state"] == "failed" and waiting["attempts"] == 1


def test_a_crash_between_sending_and_journaling_does_not_send_twice(home, monkeypatch):
    with SmtpSink() as smtp:
        config, store = config_and_store(home, smtp_port=smtp.port, smtp_timeout_seconds=1)
        acknowledger = Acknowledger(config, store)
        doc = acknowledger.plan(_published(config, store), reviewed=False)
        real = store.update_acknowledgement

        def crash_on_sent(document_id, expected, changes, *args, **kwargs):
            if changes.get("state") == "sent":
                raise KeyboardInterrupt("killed after the SMTP server accepted the message")
            return real(document_id, expected, changes, *args, **kwargs)

        monkeypatch.setattr(store, "update_acknowledgement", crash_on_sent)
        with pytest.raises(KeyboardInterrupt):
            acknowledger.send_due()
        monkeypatch.undo()
        assert len(smtp.messages) == 1
        restarted = Acknowledger(config, store)
        restarted.send_due()  # too soon: another worker could still be sending
        import pipeline.registration.acknowledgement as module
        later = module._now() + module.timedelta(minutes=5)
        monkeypatch.setattr(module, "_now", lambda: later)
        restarted.send_due()
        restarted.send_due()
    assert len(smtp.messages) == 1
    assert store.get_document(doc.id).acknowledgement["state"] == "unconfirmed"


def test_cancel_and_force(home):
    config, store = config_and_store(home)
    acknowledger = Acknowledger(config, store)
    doc = acknowledger.plan(_published(config, store), reviewed=False)
    assert acknowledger.cancel(doc.id, "claire").acknowledgement["state"] == "cancelled"
    assert acknowledger.send_due() == 0
    forced = acknowledger.force(doc.id, "claire")
    assert forced.acknowledgement["state"] == "batched" and forced.acknowledgement["forced"]
    kinds = [(e.kind, e.actor) for e in store.events(doc.id) if e.kind.startswith("acknowledgement")]
    assert kinds == [("acknowledgement-planned", "mailroom"), ("acknowledgement-cancelled", "claire"),
                     ("acknowledgement-forced", "claire"), ("acknowledgement-planned", "claire"),
                     ("acknowledgement-sent", "claire")]


# -- the register ------------------------------------------------------------------------------------------

def test_register_as_csv_and_pdf(home, tmp_path):
    config, store = config_and_store(home)
    acknowledger = Acknowledger(config, store)
    doc = _published(config, store)
    doc.deadline = "2026-06-25"
    store.save_document(doc)
    acknowledger.plan(doc, reviewed=False)
    acknowledger.send_due()
    add_input(store, "b.pdf", "2026-05-14T10:00:00+02:00")
    add_input(store, "c.pdf", "2026-05-20T10:00:00+02:00")
    register_pending(config, store)
    target = tmp_path / "registre.csv"
    assert write_register(config, store, target, end=date(2026, 5, 14)) == 2
    raw = target.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(raw.decode("utf-8-sig").splitlines(), delimiter=";"))
    assert rows[0][:3] == ["N° d'enregistrement", "Reçu le", "Heure"]
    assert rows[1][:9] == ["2026-A-000001", "13/05/2026", "09:05", "Jeanne Martin", "demande de révision de mon RSA",
                           "RSA et insertion", "1", "classé", "25/06/2026"]
    assert rows[1][9].startswith("à poster (lot papier) le")
    assert rows[2][0] == "2026-A-000002" and rows[2][7] == "en traitement"
    pdf = tmp_path / "registre.pdf"
    assert write_register(config, store, pdf) == 3
    with pikepdf.open(pdf) as document:
        box = document.pages[0].mediabox
        assert float(box[2]) > float(box[3])  # landscape
    text = pdftotext(pdf)
    assert "Registre du courrier arrivé" in text and "2026-A-000003" in text and "Jeanne Martin" in text
