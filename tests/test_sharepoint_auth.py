"""Certificate app-only authentication against a local Entra ID authority, over HTTPS with
certificates made at test time: AADSTS refusals, passphrases, tokens that expire mid-batch, TLS."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from pipeline.config import load_config
from pipeline.publish import PublishError, make_publisher
from pipeline.publish.sharepoint_commands import run_check
from tests.support.fake_authority import FakeAuthority
from tests.support.sp_emulator import SharePointEmulator, default_libraries, make_document, write_config
from tests.support.tls import make_certificate

TENANT = "contoso.onmicrosoft.com"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
PASSPHRASE = "correct horse battery"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    directory = tmp_path_factory.mktemp("certificates")
    return {"server": make_certificate(directory, "server"),
            "app": make_certificate(directory, "app", passphrase=PASSPHRASE),
            "other": make_certificate(directory, "other")}


@pytest.fixture
def site(certificates):
    """The emulator over HTTPS and an authority that knows the application and its certificate."""
    server = SharePointEmulator(token="unused").start(tls=(str(certificates["server"].cert_file),
                                                           str(certificates["server"].key_file)))
    default_libraries(server)
    authority = FakeAuthority(certificates["server"], TENANT, CLIENT_ID, certificates["app"], server).start()
    yield server, authority
    authority.stop()
    server.stop()


def certificate_config(home: Path, server, authority, certificates, **overrides):
    settings = dict(auth="certificate", tenant=TENANT, client_id=CLIENT_ID,
                    thumbprint=certificates["app"].thumbprint, key_file=str(certificates["app"].key_file),
                    authority=authority.url, ca_file=str(certificates["server"].cert_file), max_attempts=3)
    return load_config(home, write_config(home, server, **(settings | overrides)))


def pdf(tmp_path: Path, name: str = "doc.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(b"%PDF-1.4\n" + os.urandom(2000))
    return path


def test_certificate_with_a_passphrase_over_https(site, certificates, home, tmp_path, monkeypatch):
    server, authority = site
    monkeypatch.setenv("MAILROOM_SHAREPOINT_KEY_PASSPHRASE", PASSPHRASE)
    config = certificate_config(home, server, authority, certificates, organisation="CD Exemple")
    result = make_publisher(config).publish(make_document(), pdf(tmp_path), config.categories["routes"])
    assert result.destination.startswith("https://127.0.0.1:")
    assert len(server.files_in("Routes")) == 1 and len(authority.issued) == 1
    assert {r.headers["authorization"] for r in server.log} == {f"Bearer {authority.issued[0]}"}
    assert {r.headers["user-agent"] for r in server.log} == {"NONISV|CD Exemple|mailroom/0.1.0"}


def test_a_token_that_expires_mid_batch_is_renewed(site, certificates, home, tmp_path, monkeypatch):
    server, authority = site
    monkeypatch.setenv("MAILROOM_SHAREPOINT_KEY_PASSPHRASE", PASSPHRASE)
    config = certificate_config(home, server, authority, certificates)
    publisher = make_publisher(config)
    category = config.categories["routes"]
    publisher.publish(make_document("L000001-01"), pdf(tmp_path, "1.pdf"), category)
    server.expire_tokens()  # MSAL still holds it as valid for an hour: SharePoint answers 401
    publisher.publish(make_document("L000002-01", sender="Martin"), pdf(tmp_path, "2.pdf"), category)
    assert len(server.files_in("Routes")) == 2
    assert len(authority.issued) == 2 and [r.status for r in server.log].count(401) == 1


def test_a_refused_certificate_is_a_french_configuration_error_not_retried(site, certificates, home, tmp_path,
                                                                             monkeypatch, capsys):
    server, authority = site
    authority.registered = certificates["other"]  # the certificate was rotated in Entra ID, not here
    monkeypatch.setenv("MAILROOM_SHAREPOINT_KEY_PASSPHRASE", PASSPHRASE)
    config = certificate_config(home, server, authority, certificates)
    publisher = make_publisher(config)
    for name in ("L000001-01", "L000002-01"):
        with pytest.raises(PublishError) as caught:
            publisher.publish(make_document(name), pdf(tmp_path), config.categories["routes"])
        assert not caught.value.transient
        assert "AADSTS700027" in str(caught.value) and "certificat" in str(caught.value)
    assert authority.refusals == ["AADSTS700027"]  # the second letter did not ask again: no storm
    assert server.files_in("Routes") == []
    # `sharepoint check` says it in words, without a traceback.
    assert run_check(config, None) == 1
    out = capsys.readouterr().out
    assert "AADSTS700027" in out and "Traceback" not in out


@pytest.mark.parametrize("code, words", [("AADSTS7000222", "secret client"), ("AADSTS90002", "locataire")])
def test_other_aadsts_codes_are_explained(site, certificates, home, tmp_path, monkeypatch, code, words):
    server, authority = site
    authority.next_error = ("invalid_client", f"{code}: something the authority says.\r\nTrace ID: 1")
    monkeypatch.setenv("MAILROOM_SHAREPOINT_KEY_PASSPHRASE", PASSPHRASE)
    config = certificate_config(home, server, authority, certificates)
    with pytest.raises(PublishError) as caught:
        make_publisher(config).publish(make_document(), pdf(tmp_path), config.categories["routes"])
    assert code in str(caught.value) and words in str(caught.value) and not caught.value.transient


def test_an_unknown_tenant_and_a_wrong_passphrase(site, certificates, home, tmp_path, monkeypatch):
    server, authority = site
    monkeypatch.setenv("MAILROOM_SHAREPOINT_KEY_PASSPHRASE", "wrong")
    config = certificate_config(home, server, authority, certificates)
    with pytest.raises(PublishError) as caught:
        make_publisher(config).publish(make_document(), pdf(tmp_path), config.categories["routes"])
    assert "phrase secrète" in str(caught.value) and not caught.value.transient

    monkeypatch.setenv("MAILROOM_SHAREPOINT_KEY_PASSPHRASE", PASSPHRASE)
    (home / "b").mkdir()
    config = certificate_config(home / "b", server, authority, certificates, tenant="elsewhere.onmicrosoft.com")
    with pytest.raises(PublishError) as caught:
        make_publisher(config).publish(make_document(), pdf(tmp_path), config.categories["routes"])
    assert not caught.value.transient and "AADSTS90002" in str(caught.value)


def test_verify_tls_refuses_an_unknown_certificate(site, certificates, home, tmp_path, monkeypatch):
    server, _ = site
    server.add_token("test-token")
    monkeypatch.setenv("MAILROOM_SHAREPOINT_TOKEN", "test-token")
    config = load_config(home, write_config(home, server, max_attempts=2))  # system CAs only
    with pytest.raises(PublishError) as caught:
        make_publisher(config).publish(make_document(), pdf(tmp_path), config.categories["routes"])
    assert "certificat TLS" in str(caught.value) and not caught.value.transient
    assert server.log == []  # no request got through the handshake

    (home / "b").mkdir()
    relaxed = load_config(home / "b", write_config(home / "b", server, verify_tls=False))
    assert make_publisher(relaxed).publish(make_document(), pdf(tmp_path), relaxed.categories["routes"]).destination
