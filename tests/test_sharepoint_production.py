"""What a département's tenant does that a small test site does not: two installations in one site,
libraries past the 5,000-item list view threshold, a site time zone with summer time, minor versions and
content approval, and throttling that asks for minutes."""
from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import unquote

import pytest

from pipeline.config import load_config
from pipeline.publish import PublishError, make_publisher
from tests.support.sp_emulator import (FakeClock, SharePointEmulator, default_libraries, emulator,  # noqa: F401
                                       make_document, write_config)


def pdf(tmp_path: Path, name: str, size: int = 2500) -> Path:
    path = tmp_path / name
    path.write_bytes(b"%PDF-1.4\n" + os.urandom(size))
    return path


def home_config(tmp_path: Path, name: str, server, **settings):
    home = tmp_path / name
    home.mkdir()
    return load_config(home, write_config(home, server, **settings))


def test_two_installations_never_touch_each_others_files(emulator, tmp_path):
    """Both databases start at L000001-01; each letter lands once with its own bytes and columns."""
    first, second = home_config(tmp_path, "a", emulator), home_config(tmp_path, "b", emulator)
    letters = {}
    for config, sender in ((first, "Dupont Jean"), (second, "Dupont Jean")):
        publisher = make_publisher(config)
        for n, category in ((1, "routes"), (2, "factures")):
            doc = make_document(f"L00000{n}-01", category=category, sender=sender, uid=str(uuid.uuid4()),
                                sha=os.urandom(32).hex())
            path = pdf(tmp_path, f"{config.home.name}-{n}.pdf")
            letters[doc.uid] = (doc, path.read_bytes(), publisher.publish(doc, path, config.categories[category]))
        if config is first:
            before = {f.unique_id: (f.content, dict(f.values), f.versions)
                      for title in ("Routes", "Factures") for f in emulator.files_in(title)}
    stored = [f for title in ("Routes", "Factures") for f in emulator.files_in(title)]
    assert len(stored) == 4
    for file in stored:
        doc, content, result = letters[emulator.field_values(file)["Identifiant"]]
        assert file.content == content and emulator.field_values(file)["Empreinte SHA-256"] == doc.source_sha256
        assert unquote(result.destination).endswith(file.path)
    names = sorted(f.name for f in emulator.files_in("Routes"))
    assert names == ["2026-03-12 Routes départementales - Dupont Jean (2).pdf",
                     "2026-03-12 Routes départementales - Dupont Jean.pdf"]
    # Nothing of the first installation was modified by the second.
    for unique_id, (content, values, versions) in before.items():
        file = next(f for f in stored if f.unique_id == unique_id)
        assert (file.content, file.values, file.versions) == (content, values, versions)
    # The second installation finds its own letter again, never its namesake.
    again = make_publisher(second)
    doc, content, result = next(v for v in letters.values() if v[0].id == "L000001-01"
                                and "(2)" in unquote(v[2].destination))
    assert again.publish(doc, Path(tmp_path / "b-1.pdf"), second.categories["routes"]).destination == result.destination


def test_a_library_past_the_list_view_threshold(emulator, tmp_path):
    """5,001 letters in one folder: a listing is refused, the publisher still finds and files."""
    emulator.seed("Routes", "Courrier entrant/2026/03", 5001, Identifiant="seed-{n}")
    config = home_config(tmp_path, "a", emulator)
    publisher = make_publisher(config)
    doc = make_document()
    path = pdf(tmp_path, "new.pdf")
    result = publisher.publish(doc, path, config.categories["routes"])
    again = make_publisher(config).publish(doc, path, config.categories["routes"])
    assert again.already_there and again.destination == result.destination
    assert len(emulator.files_in("Routes")) == 5002
    assert not emulator.requests(r"/Files$", "GET") and not emulator.requests(r"\$expand=ListItemAllFields$")
    assert all("RowLimit" not in r.path for r in emulator.requests("GetItems"))  # the query is in the body
    # A listing of that folder is what SharePoint refuses.
    from office365.sharepoint.client_context import ClientContext
    ctx = ClientContext(emulator.url).with_access_token(
        lambda: {"access_token": "test-token", "token_type": "Bearer", "expires_in": 3600})
    with pytest.raises(Exception, match="list view threshold"):
        ctx.web.get_folder_by_server_relative_url("/sites/courrier/Routes/Courrier entrant/2026/03").files.get() \
            .execute_query()


def test_an_unindexed_identity_column_is_named_not_retried(emulator, tmp_path):
    library = emulator.libraries["routes"]
    column = next(f for f in library.fields if f.title == "Identifiant")
    column.indexed = column.unique = False
    emulator.seed("Routes", "Courrier entrant", 5001)
    config = home_config(tmp_path, "a", emulator)
    publisher = make_publisher(config)
    assert any("Identifiant" in w and "indexée" in w for w in publisher.inspect()[0].warnings
               + [w for r in publisher.inspect() for w in r.warnings])
    with pytest.raises(PublishError) as caught:
        publisher.publish(make_document(), pdf(tmp_path, "a.pdf"), config.categories["routes"])
    assert not caught.value.transient and "seuil" in str(caught.value)


@pytest.mark.parametrize("received, stored", [
    ("2026-03-29T01:30:00+01:00", "2026-03-29T00:30:00Z"),   # just before the change to summer time
    ("2026-03-29T03:30:00+02:00", "2026-03-29T01:30:00Z"),   # just after: UTC+2
    ("2026-10-25T01:30:00+02:00", "2026-10-24T23:30:00Z"),   # the night summer time ends
    ("2026-07-14T08:05:00Z", "2026-07-14T08:05:00Z"),
])
def test_instants_land_right_in_a_fr_fr_site_around_dst(emulator, tmp_path, received, stored):
    emulator.accepts_dates_in_utc = False  # SharePoint Server 2016 refuses the parameter: we never send it
    config = home_config(tmp_path, "a", emulator)
    make_publisher(config).publish(make_document(received_at=received), pdf(tmp_path, "a.pdf"),
                                   config.categories["routes"])
    [file] = emulator.files_in("Routes")
    assert emulator.field_values(file)["Date de réception"] == stored
    assert emulator.field_values(file)["Date du courrier"] == "2026-03-10T00:00:00Z"  # a day stays that day
    assert not any("datesInUTC" in (r.path or "") for r in emulator.log)


def test_a_minor_version_library_ends_visible_to_readers(tmp_path, monkeypatch):
    server = SharePointEmulator().start()
    try:
        default_libraries(server, settings={"Routes": {"minor_versions": True, "draft_visibility": 2}})
        monkeypatch.setenv("MAILROOM_SHAREPOINT_TOKEN", "test-token")
        config = home_config(tmp_path, "a", server)
        make_publisher(config).publish(make_document(), pdf(tmp_path, "a.pdf"), config.categories["routes"])
        [file] = server.files_in("Routes", visible_only=True)
        assert (file.major, file.minor) == (1, 0)
        assert len(server.requests(r"/Publish\(", "POST")) == 1
    finally:
        server.stop()


def test_an_approval_library_says_the_letter_awaits_approval(tmp_path, monkeypatch, capsys):
    from pipeline.publish.sharepoint_commands import run_check

    server = SharePointEmulator().start()
    try:
        default_libraries(server, settings={"Routes": {"moderation": True, "minor_versions": True}})
        monkeypatch.setenv("MAILROOM_SHAREPOINT_TOKEN", "test-token")
        config = home_config(tmp_path, "a", server)
        publisher = make_publisher(config)
        publisher.publish(make_document(), pdf(tmp_path, "a.pdf"), config.categories["routes"])
        assert server.files_in("Routes", visible_only=True) == []   # pending: readers do not see it yet
        [file] = server.files_in("Routes")
        assert file.moderation == 2 and (file.major, file.minor) == (1, 0)
        assert list(publisher.approvals.all()) == [file.path]
        run_check(config, None)
        assert "en attente d'approbation" in capsys.readouterr().out
        server.approve(file)
        assert publisher.refresh_approvals() == 0 and publisher.approvals.all() == {}
    finally:
        server.stop()


def test_a_300_second_retry_after_holds_every_letter_and_no_request_leaves_early(tmp_path, monkeypatch):
    clock = FakeClock()
    server = SharePointEmulator(clock=clock).start()
    try:
        default_libraries(server)
        monkeypatch.setenv("MAILROOM_SHAREPOINT_TOKEN", "test-token")
        config = home_config(tmp_path, "a", server)
        publisher = make_publisher(config)
        clock.install(publisher.connection)
        category = config.categories["routes"]
        publisher.library("Routes")
        server.throttle(300)
        with pytest.raises(PublishError) as caught:
            publisher.publish(make_document("L000001-01"), pdf(tmp_path, "1.pdf"), category)
        assert caught.value.transient and caught.value.retry_after == pytest.approx(300, abs=1)
        assert "nouvel essai dans 300 s" in str(caught.value)
        sent = len(server.log)
        for elapsed in (1, 120, 290):   # other letters come and go during the pause: nothing is sent
            clock.now = server.throttled_until - 300 + elapsed
            with pytest.raises(PublishError):
                publisher.publish(make_document("L000002-01"), pdf(tmp_path, "2.pdf"), category)
        assert len(server.log) == sent and clock.sleeps == []
        # A new process (`mailroom retry`) reads the same pause from the home.
        other = make_publisher(config)
        clock.install(other.connection)
        with pytest.raises(PublishError):
            other.publish(make_document("L000002-01"), pdf(tmp_path, "2.pdf"), category)
        assert len(server.log) == sent
        clock.now = server.throttled_until
        publisher.publish(make_document("L000001-01"), pdf(tmp_path, "1.pdf"), category)
        publisher.publish(make_document("L000002-01"), pdf(tmp_path, "2.pdf"), category)
        assert len(server.files_in("Routes")) == 2
        assert all(r.status != 429 for r in server.log[sent:])
    finally:
        server.stop()


def test_ratelimit_headers_pause_the_connection(emulator, tmp_path):
    clock = FakeClock()
    config = home_config(tmp_path, "a", emulator)
    publisher = make_publisher(config)
    clock.install(publisher.connection)
    publisher.library("Routes")
    emulator.rate_limit = {"RateLimit-Limit": "1200", "RateLimit-Remaining": "0", "RateLimit-Reset": "3"}
    publisher.publish(make_document(), pdf(tmp_path, "1.pdf"), config.categories["routes"])
    assert clock.sleeps and all(s == pytest.approx(3, abs=0.01) for s in clock.sleeps)
    assert len(emulator.files_in("Routes")) == 1


def test_check_creates_the_columns_then_the_probe_reads_them_back(tmp_path, monkeypatch, capsys):
    import argparse

    from pipeline.publish.sharepoint_commands import run_check
    from tests.support.sp_emulator import Field

    server = SharePointEmulator().start()
    try:
        default_libraries(server, force_checkout=("Factures",))
        for library in server.libraries.values():   # a site set up before uids and redirections existed
            library.fields = [f for f in library.fields if f.title not in ("Réorienter vers", "Remarque mailroom")]
            identity = next(f for f in library.fields if f.title == "Identifiant")
            identity.indexed = identity.unique = False
        del server.libraries["routes"].fields[-1]  # « Identifiant » missing altogether in one library
        server.seed("Colleges", f"Courrier entrant/{__import__('datetime').date.today():%Y/%m}", 4100)
        monkeypatch.setenv("MAILROOM_SHAREPOINT_TOKEN", "test-token")
        config = home_config(tmp_path, "a", server)
        assert run_check(config, argparse.Namespace(create_columns=False, probe=False)) == 1
        out = capsys.readouterr().out
        assert "créez la colonne « Identifiant »" in out and "doit être indexée" in out

        assert run_check(config, argparse.Namespace(create_columns=True, probe=True)) == 0
        out = capsys.readouterr().out
        assert "colonne « Identifiant » créée (indexée, valeurs uniques)" in out
        assert "colonne « Identifiant » indexée, valeurs uniques exigées" in out
        assert "colonne « Réorienter vers » créée (indexée)" in out
        assert "Europe/Paris" in out and "contient 4100 éléments" in out
        assert "ÉCART" not in out and out.count("OK  « Date de réception »") == len(server.libraries)
        routes = server.libraries["routes"]
        redirect = next(f for f in routes.fields if f.title == "Réorienter vers")
        assert redirect.type == "Choice" and "Collèges" in redirect.choices and redirect.indexed
        assert next(f for f in routes.fields if f.title == "Identifiant").unique
        assert all(server.files_in(t.title) == [] for t in server.libraries.values() if t.title != "Colleges")
    finally:
        server.stop()


def test_namesakes_cost_a_few_requests_not_one_per_namesake(emulator, tmp_path):
    """« expéditeur inconnu », same day, same category: the n-th namesake does not probe n names."""
    config = home_config(tmp_path, "a", emulator)
    category = config.categories["routes"]
    publisher = make_publisher(config)
    for n in range(1, 21):
        before = len(emulator.log)
        publisher.publish(make_document(f"L{n:06d}-01", sender=""), pdf(tmp_path, f"{n}.pdf", 300), category)
        if n > 2:
            assert len(emulator.log) - before == 3  # find by uid, upload, columns
    fresh = make_publisher(config)  # a new process knows none of the names
    fresh.library("Routes"), fresh.regional(), fresh.ensure_folder(fresh.library("Routes"), "Courrier entrant/2026/03")
    before = len(emulator.log)
    result = fresh.publish(make_document("L000021-01", sender=""), pdf(tmp_path, "21.pdf", 300), category)
    assert unquote(result.destination).endswith("expéditeur inconnu (21).pdf")
    assert len(emulator.log) - before <= 15  # a few existence checks, not twenty uploads
