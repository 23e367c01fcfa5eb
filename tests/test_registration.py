"""Registration numbers, processing deadlines, acknowledgements of receipt (CRPA) and the register."""
from __future__ import annotations

import csv
import io
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
from pipeline.records import PUBLISHED, Document
from pipeline.registration.acknowledgement import Acknowledger, postal_addressee, sender_email
from pipeline.registration.deadlines import Calendar, processing_deadline
from pipeline.registration.numbers import register_pending
from pipeline.registration.register import write_register
from pipeline.stages import finish_pdf
from pipeline.store import Store
from tests.support.registration import LETTER, SmtpSink, add_input, config_and_store, move_to, write_config
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


def test_the_bundled_configuration_acknowledges_requests_from_the_public(home):
    config = load_config(home)  # no mailroom.toml: the bundled defaults
    kinds = {category_id: category.acknowledge for category_id, category in config.categories.items()}
    assert kinds == {"rsa-insertion": "svr", "autonomie-personnes-agees": "sva", "autonomie-handicap": "svr",
                     "enfance-famille": "simple", "routes": "svr", "colleges": "simple", "factures": "none",
                     "marches-publics": "none", "ressources-humaines": "none", "cabinet": "simple",
                     "juridique": "none", "subventions-associations": "svr", "autre-administration": "none",
                     "autre": "none"}
    assert config.categories["autonomie-handicap"].implicit_decision_days == 120  # four months (CASF R241-33)
    store = Store(config.database_path)
    acknowledger = Acknowledger(config, store)
    for number, category in enumerate(["autonomie-personnes-agees", "autonomie-handicap"], start=1):
        service = config.categories[category]
        assert service.service_email.endswith("@departement76.fr") and service.service_phone
        doc = add_input(store, f"{category}.pdf", "2026-05-13T09:05:00+02:00", category=category)[0]
        register_pending(config, store)
        doc = acknowledger.plan(move_to(store, store.get_document(doc.id), PUBLISHED), reviewed=False)
        assert doc.acknowledgement["channel"] == "paper"  # no SMTP server in the bundled configuration
        text = pdftotext(acknowledger.render(doc))
        for mention in [service.service_name, "Quai Jean Moulin", "76101 Rouen Cedex", service.service_email,
                        service.service_phone, f"2026-A-{number:06d}", "reçu le 13 mai 2026"]:
            assert mention in text, mention
        assert ("réputée acceptée le 12 juillet 2026" if number == 1 else "réputée rejetée le 10 septembre 2026") in text


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


def _run_workers(target, arguments: list[tuple]) -> None:
    """One process per tuple of arguments, all at once; each must end well."""
    context = multiprocessing.get_context("forkserver")
    workers = [context.Process(target=target, args=args) for args in arguments]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0


def _assert_gap_free(store: Store, expected: int) -> None:
    rows = store.registrations()
    assert [r["seq"] for r in rows] == list(range(1, expected + 1))
    assert len({r["document_id"] for r in rows}) == expected
    documents = {d.id for d in store.documents()}
    assert {r["document_id"] for r in rows} == documents


def test_numbers_unique_and_gap_free_under_concurrent_workers(home):
    config, store = config_and_store(home)
    _run_workers(_claim_and_register, [(str(config.database_path), w, 15) for w in range(4)])
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


def test_a_scan_quarantined_before_its_split_keeps_its_number_and_the_next_ones_follow(home, tmp_path):
    from pipeline.errors import BadInput
    from pipeline.quarantine import quarantine_input

    config, store = config_and_store(home)
    first = add_input(store, "a.pdf", "2026-05-13T09:00:00+02:00")
    corrupt = add_input(store, "b.pdf", "2026-05-13T09:01:00+02:00", state="received")[0]
    third = add_input(store, "c.pdf", "2026-05-13T09:02:00+02:00")
    assert register_pending(config, store) == ["2026-A-000001"]  # c waits for b's split
    quarantine_input(config, store, store.get_input(corrupt.input_id), BadInput("pdf-truncated"))
    assert store.get_document(third[0].id).registration == "2026-A-000003"  # the quarantine let c go
    [scan_event] = store.events(input_id=corrupt.input_id, kind="registered")
    assert scan_event.details["number"] == "2026-A-000002" and scan_event.document_id is None
    [line] = [r for r in csv_rows(config, store, tmp_path) if r[0] == "2026-A-000002"]
    assert line[7].startswith(f"en quarantaine, lot {corrupt.input_id} (b.pdf) : {BadInput('pdf-truncated')}"[:60])
    # `mailroom retry`, split again into letters: they get numbers of their own, the scan's line says which
    from pipeline.quarantine import release_input
    config.spool_dir.mkdir(parents=True, exist_ok=True)
    Path(store.get_input(corrupt.input_id).spool_path).write_bytes(b"%PDF-1.4")
    release_input(config, store, store.get_input(corrupt.input_id))
    add_input(store, "d.pdf", "2026-05-13T09:03:00+02:00")
    assert register_pending(config, store) == ["2026-A-000004"]  # the retried scan does not stop the numbering
    corrupt.id = f"{corrupt.input_id}-01"
    store.create_documents(corrupt.input_id, [corrupt])
    assert register_pending(config, store) == ["2026-A-000005"]
    [line] = [r for r in csv_rows(config, store, tmp_path) if r[0] == "2026-A-000002"]
    assert line[7] == f"lot {corrupt.input_id} (b.pdf) relancé : courriers N° 2026-A-000005"
    assert first[0].id in {r["document_id"] for r in store.registrations()}


def csv_rows(config, store, tmp_path) -> list[list[str]]:
    target = tmp_path / "registre.csv"
    write_register(config, store, target)
    return list(csv.reader(target.read_text(encoding="utf-8-sig").splitlines(), delimiter=";"))[1:]


def test_registration_is_a_move_of_the_lifecycle_with_its_event(home):
    from pipeline.records import DOCUMENT_TRANSITIONS, REGISTERED

    config, store = config_and_store(home)
    doc = add_input(store, "a.pdf", "2026-05-13T09:00:00+02:00")[0]
    doc = move_to(store, doc, "review")
    assert REGISTERED in DOCUMENT_TRANSITIONS[("review", "review")]
    assert register_pending(config, store) == ["2026-A-000001"]
    [event] = store.events(doc.id, kind=REGISTERED)
    assert event.details == {"number": "2026-A-000001", "year": 2026, "seq": 1,
                             "received_at": "2026-05-13T09:00:00+02:00"}
    body = store._db().execute("SELECT body FROM documents WHERE id = ?", (doc.id,)).fetchone()["body"]
    assert '"registration": "2026-A-000001"' in body and store.get_document(doc.id).state == "review"
    with pytest.raises(ValueError, match="register_pending"):  # never a number-less « registered » event
        store.transition(doc.id, "review", "review", REGISTERED)
    assert store.last_move(doc.id, "review")[0] == "mailroom"  # who put it in review, not the numbering


def _split_in_this_order(database: str, input_ids: list[str]) -> None:
    from pipeline.registration.numbers import year_of

    store = Store(Path(database))
    for input_id in input_ids:
        row = store.get_input(input_id)
        docs = [Document(id=f"{input_id}-{n:02d}", input_id=input_id, source=row.original_name,
                         source_sha256=row.sha256, source_pages=[n], received_at=row.received_at, batch=input_id)
                for n in (1, 2)]
        store.create_documents(input_id, docs)
        store.register_pending("{year}-A-{seq:06d}", year_of)


def test_numbers_follow_claim_order_when_concurrent_workers_split_out_of_order(home):
    import random

    config, store = config_and_store(home)
    claimed = [add_input(store, f"s{n}.pdf", "2026-05-13T09:00:00+02:00", state="received")[0].input_id
               for n in range(48)]
    shuffled = random.Random(14).sample(claimed, len(claimed))  # splits complete in no particular order
    _run_workers(_split_in_this_order, [(str(config.database_path), shuffled[w::4]) for w in range(4)])
    _assert_gap_free(store, 96)
    assert [r["document_id"] for r in store.registrations()] == [f"{i}-{n:02d}" for i in claimed for n in (1, 2)]


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
        real = store.update_delivery

        def crash_on_sent(document_id, path, expected, changes, *args, **kwargs):
            if changes.get("state") == "sent":
                raise KeyboardInterrupt("killed after the SMTP server accepted the message")
            return real(document_id, path, expected, changes, *args, **kwargs)

        monkeypatch.setattr(store, "update_delivery", crash_on_sent)
        with pytest.raises(KeyboardInterrupt):
            acknowledger.send_due()
        monkeypatch.undo()
        assert len(smtp.messages) == 1
        restarted = Acknowledger(config, store)
        restarted.send_due()  # too soon: another worker could still be sending
        import pipeline.registration.delivery as module
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


def test_a_cancel_racing_a_stage_that_writes_the_whole_letter_is_not_lost(home):
    config, store = config_and_store(home)
    doc = add_input(store, "a.pdf", "2026-05-13T09:05:00+02:00", category="rsa-insertion")[0]
    register_pending(config, store)
    doc = move_to(store, store.get_document(doc.id), "review")
    held_by_a_stage = store.get_document(doc.id)  # read before the supervisor acts…
    Acknowledger(config, store).cancel(doc.id, "claire")
    held_by_a_stage.fields["sender"] = "Jeanne Martin (corrigé)"
    store.save_document(held_by_a_stage)  # …written back whole after: the cancel stands
    moved = store.transition(doc.id, "review", "routed", "reviewed", "claire", document=held_by_a_stage).doc
    moved = store.transition(doc.id, "routed", PUBLISHED, "published", document=moved).doc
    assert moved.acknowledgement["state"] == "cancelled" and moved.fields["sender"] == "Jeanne Martin (corrigé)"
    planned = Acknowledger(config, store).plan(held_by_a_stage, reviewed=True)  # a stale copy plans nothing
    assert planned.acknowledgement["state"] == store.get_document(doc.id).acknowledgement["state"] == "cancelled"


# -- transmissions to another administration (L114-2) ----------------------------------------------------------

def _transmitted(config, store, name, body, text=None):
    from pipeline.registration import steps

    kwargs = {"text": text} if text else {}
    doc = add_input(store, name, "2026-05-13T09:05:00+02:00", category="autre-administration", **kwargs)[0]
    doc.fields["transmitted_to"] = body
    store.save_document(doc)
    register_pending(config, store)
    doc = move_to(store, store.get_document(doc.id), PUBLISHED)
    letter = make_pdf(home_of(config) / "work" / f"{doc.id}.pdf", ["Objet : ma demande d'aide au logement"], 2)
    steps.after_filing(config, store, doc, letter, "claire")
    return store.get_document(doc.id)


def home_of(config):
    return config.home


def test_transmission_slip_and_notice_go_by_email_once_with_their_pdf(home):
    with SmtpSink() as smtp:
        config, store = config_and_store(home, smtp_port=smtp.port)
        doc = _transmitted(config, store, "a.pdf", "caf")
        from pipeline.registration.commands import RegistrationDuties
        RegistrationDuties(config, store).tick()  # nothing left to send: each went once
    assert sorted(m["To"] for m in smtp.messages) == ["courrier@caf76.example.fr", "jeanne.martin@example.org"]
    slip = next(m for m in smtp.messages if m["To"] == "courrier@caf76.example.fr")
    notice = next(m for m in smtp.messages if m["To"] == "jeanne.martin@example.org")
    assert "L114-2" in slip["Subject"] and doc.registration in slip["Subject"]
    assert slip["Message-ID"].strip() == f"<transmission.{doc.uid}@departement.example.fr>"  # keyed by the uid
    assert notice["Message-ID"].strip() == f"<avis-transmission.{doc.uid}@departement.example.fr>"
    with pikepdf.open(io.BytesIO(next(slip.iter_attachments()).get_content())) as pdf:
        assert len(pdf.pages) == 1 + 2  # the slip, then the letter
    assert "Caisse d'allocations familiales" in notice.get_body().get_content()
    t = doc.transmission
    assert (t["slip"]["state"], t["slip"]["channel"], t["notice"]["state"], t["notice"]["channel"]) == (
        "sent", "email", "sent", "email")
    assert doc.acknowledgement["state"] == "transmitted"  # no acknowledgement of our own
    kinds = [e.kind for e in store.events(doc.id) if e.kind.startswith("transmi")]
    assert kinds == ["transmitted", "transmission-slip-sent", "transmission-notice-sent"]
    assert not (home / "acknowledgements").exists()


def test_transmission_without_addresses_goes_to_the_days_paper_batch_and_failures_show(home, tmp_path):
    config, store = config_and_store(home)  # no SMTP: the slip and the notice are both posted
    (home / "mailroom.toml").write_text((home / "mailroom.toml").read_text(encoding="utf-8") +
                                        '[transmission.bodies.mairie]\nname = "Mairie de Rouen"\n'
                                        'address = "Place du Général de Gaulle\\n76000 Rouen"\n', encoding="utf-8")
    config = load_config(home)
    doc = _transmitted(config, store, "a.pdf", "mairie")
    t = doc.transmission
    assert t["slip"]["state"] == t["notice"]["state"] == "batched"
    batch = home / "transmissions" / f"{date.today().isoformat()}.pdf"
    assert t["slip"]["batch"] == t["notice"]["batch"] == str(batch)
    with pikepdf.open(batch) as pdf:
        assert len(pdf.pages) == 1 + 2 + 1  # slip + the letter, then the notice
    text = pdftotext(batch)
    assert "Bordereau de transmission" in text and "Mairie de Rouen" in text and "vous en accusera réception" in text
    rows = csv_rows(config, store, tmp_path)
    assert rows[0][9] == "transmis (L114-2) à Mairie de Rouen ; bordereau à poster (lot papier) ; avis à l'expéditeur à poster (lot papier)"
    # An SMTP server that does not answer: retried with back-off, listed by `status`, never blocking the filing.
    (tmp_path / "other").mkdir()
    failing, store2 = config_and_store(tmp_path / "other", smtp_port=1)
    late = _transmitted(failing, store2, "b.pdf", "caf")
    assert late.state == PUBLISHED and late.transmission["slip"]["state"] == "failed"
    from pipeline.cli import status_data
    waiting = status_data(store2)["transmissions_waiting"]
    assert [(w["part"], w["state"], w["attempts"]) for w in waiting] == [("slip", "failed", 1), ("notice", "failed", 1)]
    from tests.support.service import mailroom
    shown = mailroom(tmp_path / "other", "status").stdout
    assert "Transmissions not sent (2):" in shown and f"{late.registration} slip to Caisse d'allocations" in shown


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


# -- numbers through the coordinator: a letter is filed only with its number ------------------------------------

class HeldSplits:
    """The executor interface with splits held until the test releases them (in any order); OCR at once."""

    def __init__(self):
        from tests.test_lifecycle import FakeOcr

        self.ocr, self.splits = FakeOcr(), {}

    def submit_split(self, path, mode, config, key):
        from concurrent.futures import Future

        self.splits[key] = (Future(), path, mode, config)
        return self.splits[key][0]

    def release(self, key):
        from pipeline.executor import split_task

        future, *args = self.splits.pop(key)
        try:
            future.set_result(split_task(*args))
        except Exception as error:
            future.set_exception(error)

    def submit_ocr(self, source, page, config, workdir, key):
        from concurrent.futures import Future

        future = Future()
        future.set_result(self.ocr(source, page, config, Path(workdir)))
        return future

    def shutdown(self, wait=True):
        pass


def test_splits_completing_out_of_order_still_number_and_file_in_claim_order(home):
    import hashlib

    from pipeline import coordinator as module
    from pipeline.coordinator import Coordinator
    from pipeline.stages import StageContext
    from tests.support.review_data import make_pdf
    from tests.support.service import write_test_config

    write_test_config(home)
    config = load_config(home)
    store = Store(config.database_path)
    executor = HeldSplits()
    coordinator = Coordinator(StageContext(config, store), executor)
    rows = []
    for n in range(4):
        scan = config.spool_dir / f"lettre{n}.pdf"
        if n == 2:  # a corrupt scan between them: quarantined before any split
            scan.parent.mkdir(parents=True, exist_ok=True)
            scan.write_bytes(b"%PDF-1.4\n1 0 obj garbage")
        else:
            make_pdf(scan, [f"Objet : nid de poule sur la RD {n}", "Madame, Monsieur,"])
        rows.append(store.add_input(hashlib.sha256(scan.read_bytes()).hexdigest(), scan.name, str(scan),
                                    f"2026-05-13T09:0{n}:00+02:00", split_mode="none"))
        coordinator.submit(rows[-1].id)
    executor.release(rows[3].id)  # the last scan claimed is split first, OCRed, classified, routed…
    for _ in range(3):
        coordinator.step(timeout=0.1)
    [last] = store.documents(input_id=rows[3].id)
    assert last.state == "routed" and last.registration is None  # …and waits for its number: nothing filed
    assert not list(config.library_dir.rglob("*.pdf")) and coordinator.busy
    executor.release(rows[2].id)  # quarantined: its number is taken, the others still wait for scans 0 and 1
    executor.release(rows[1].id)
    coordinator.step(timeout=0.1)
    coordinator.step(timeout=0.1)
    assert store.get_document(last.id).registration is None
    executor.release(rows[0].id)
    coordinator.run_until_idle()
    owners = [r["document_id"] for r in store.registrations()]
    assert owners == [f"{rows[0].id}-01", f"{rows[1].id}-01", rows[2].id, f"{rows[3].id}-01"]
    _assert_gap_free_numbers(store, 4)
    assert all(d.state == PUBLISHED for d in store.documents())
    assert store.get_input(rows[2].id).state == "quarantined"
    # A scan left unsplit by a process that died holds the numbering only until someone splits it.
    stuck = make_pdf(config.spool_dir / "abandonne.pdf", ["Objet : demande de permission de voirie"])
    row = store.add_input(hashlib.sha256(stuck.read_bytes()).hexdigest(), stuck.name, str(stuck),
                          "2026-05-13T10:00:00+02:00", split_mode="none")
    later = make_pdf(config.spool_dir / "suivant.pdf", ["Objet : élagage en bord de RD 5"])
    coordinator.submit(store.add_input(hashlib.sha256(later.read_bytes()).hexdigest(), later.name, str(later),
                                       "2026-05-13T10:01:00+02:00", split_mode="none").id)
    executor.release(next(iter(executor.splits)))
    coordinator.step(timeout=0.1)
    coordinator.step(timeout=0.1)
    assert coordinator.busy and row.id not in executor.splits
    module.STALE_SPLIT_SECONDS = 0.0
    try:
        coordinator.step(timeout=0.1)  # the waiting coordinator takes the abandoned scan on
    finally:
        module.STALE_SPLIT_SECONDS = 60.0
    executor.release(row.id)
    coordinator.run_until_idle()
    assert [r["document_id"][:7] for r in store.registrations()][-2:] == [row.id, f"L{int(row.id[1:]) + 1:06d}"]
    assert all(d.state == PUBLISHED for d in store.documents(input_id=row.id))


def _assert_gap_free_numbers(store: Store, expected: int) -> None:
    assert [r["seq"] for r in store.registrations()] == list(range(1, expected + 1))


def test_a_letter_decided_while_an_earlier_scan_was_unsplit_is_filed_by_serve_once_numbered(home, monkeypatch):
    from pipeline import coordinator as module
    from pipeline.errors import BadInput
    from pipeline.quarantine import quarantine_input
    from pipeline.service import MailroomService
    from tests.support.review_data import add_review_document, make_home

    write_config(home)
    config, store = make_home(home)
    blocker = add_input(store, "a.pdf", "2026-05-13T09:00:00+02:00", state="received")[0]
    doc = add_review_document(config, store, "b", LETTER, guesses=[("colleges", 0.6)])
    store.transition_input(doc.input_id, "received", "split", "split")
    service = MailroomService(config, store)
    decided = service.decide(doc.id, "colleges", {}, "claire")
    assert decided.state == "routed" and decided.registration is None  # filed only with its number
    quarantine_input(config, store, store.get_input(blocker.input_id), BadInput("pdf-truncated"))
    assert service.coordinator.retry_due_publications() == 0  # its own process may still be filing it
    monkeypatch.setattr(module, "ORPHAN_SECONDS", 0.0)
    assert service.coordinator.retry_due_publications() == 1
    filed = store.get_document(doc.id)
    assert filed.state == PUBLISHED and filed.registration == "2026-A-000002"
    assert filed.acknowledgement["state"] == "batched"  # colleges acknowledges: on paper
    service.close()
