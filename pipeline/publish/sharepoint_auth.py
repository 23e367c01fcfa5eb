"""Bearer tokens for SharePoint: Entra ID app-only with a certificate (MSAL), or a token from outside.

MSAL reports a refused request as a dict (``error``, ``error_description`` with an
AADSTS code) and a key it cannot open as a ValueError; the office365 client turns
the first into a ValueError as well, which used to escape every handler and end
`serve`. Here both become a PublishError whose French message names the AADSTS
code and what to do. Configuration faults (wrong tenant, unknown application,
certificate refused or expired) are not transient: a retry cannot fix them, so
the connection stops asking the authority for a while instead of sending one
request per letter.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import threading
from pathlib import Path
from urllib.parse import urlsplit

import requests

from ..config import SharePointConfig
from . import PublishError

# AADSTS codes whose meaning messages.py says (code « aadsts-NNN »), and whether asking again may work.
AADSTS = {"700027": False, "7000222": False, "7000215": False, "700016": False, "90002": False, "900023": False,
          "700024": False, "500011": False, "7000112": False}


class AuthenticationFailed(PublishError):
    """A token could not be obtained; `aadsts` is the authority's code when it gave one."""

    def __init__(self, code: str, transient: bool, aadsts: str = "", **params):
        super().__init__(code, transient=transient, **params)
        self.aadsts = aadsts


def explain(error: str, description: str) -> AuthenticationFailed:
    """The authority's refusal in French, from its AADSTS code."""
    match = re.search(r"AADSTS(\d+)", description or "")
    code = match.group(1) if match else ""
    said = (description[match.start():] if match else description) or error or "?"
    first_line = said.splitlines()[0].split('"')[0][:200]
    if code in AADSTS:
        return AuthenticationFailed(f"aadsts-{code}", transient=AADSTS[code], aadsts=code, said=first_line)
    return AuthenticationFailed("entra-refused", transient=error in ("temporarily_unavailable", "server_error"),
                                aadsts=code, label=f"AADSTS{code} : " if code else "", error=error, said=first_line)


def unreachable(authority: str, error: Exception) -> AuthenticationFailed:
    if isinstance(error, requests.exceptions.SSLError):
        return AuthenticationFailed("authority-tls", transient=False, authority=authority)
    return AuthenticationFailed("authority-unreachable", transient=True, authority=authority,
                                error=type(error).__name__)


class TokenSource:
    """Gives the office365 client a token dict; `invalidate()` makes the next call ask afresh."""

    def __init__(self, settings: SharePointConfig, session: requests.Session):
        self.settings = settings
        self.session = session
        self._app = None
        self._lock = threading.Lock()

    def invalidate(self) -> None:
        with self._lock:
            self._app = None  # a new MSAL application has an empty token cache

    def __call__(self) -> dict:
        if self.settings.auth == "certificate":
            return self._certificate()
        return self._external()

    # ------------------------------------------------------------ a token from outside
    def _external(self) -> dict:
        """The bearer token, read afresh: from token_command when set, else from the environment."""
        settings = self.settings
        token = ""
        if settings.token_command:
            try:
                result = subprocess.run(shlex.split(settings.token_command), capture_output=True, text=True,
                                        timeout=60, check=False)
            except (OSError, subprocess.TimeoutExpired) as error:
                raise PublishError("token-command-not-run", error=type(error).__name__) from None
            if result.returncode != 0:
                raise PublishError("token-command-failed", status=result.returncode)
            token = result.stdout.strip()
        if not token:
            token = os.environ.get(settings.token_env, "").strip()
        if not token:
            raise AuthenticationFailed("token-missing", transient=False, env=settings.token_env)
        # Re-read every five minutes: a token rotated outside is picked up without a restart.
        return {"access_token": token, "token_type": "Bearer", "expires_in": 300}

    # ------------------------------------------------------------ certificate (Entra ID app-only)
    def _application(self):
        import msal

        settings = self.settings
        missing = [name for name in ("tenant", "client_id", "thumbprint", "key_file") if not getattr(settings, name)]
        if missing:
            raise AuthenticationFailed("certificate-settings-missing", transient=False,
                                       missing=", ".join(f"sharepoint.{name}" for name in missing))
        try:
            key = Path(settings.key_file).read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as error:
            raise AuthenticationFailed("key-file-unreadable", transient=False, error=type(error).__name__) from None
        passphrase = os.environ.get(settings.key_passphrase_env, "")
        try:
            from cryptography.hazmat.primitives.serialization import load_pem_private_key

            load_pem_private_key(key.encode(), passphrase.encode() if passphrase else None)
        except (ValueError, TypeError) as error:  # encrypted without (or with a wrong) passphrase, or not a key
            raise AuthenticationFailed("key-wrong-passphrase" if passphrase else "key-needs-passphrase",
                                       transient=False, env=settings.key_passphrase_env) from error
        credential = {"private_key": key, "thumbprint": settings.thumbprint.replace(":", "")}
        if passphrase:
            credential["passphrase"] = passphrase
        try:
            return msal.ConfidentialClientApplication(
                settings.client_id, authority=f"{settings.authority.rstrip('/')}/{settings.tenant}",
                client_credential=credential, http_client=self.session,
                instance_discovery=urlsplit(settings.authority).hostname == "login.microsoftonline.com")
        except ValueError as error:  # MSAL's tenant discovery failed: its message carries the AADSTS code
            chain, cause = [], error
            while cause is not None and len(chain) < 5:  # MSAL wraps the discovery error that has the code
                chain.append(str(cause))
                cause = cause.__cause__ or cause.__context__
            said = next((text for text in chain if "AADSTS" in text), chain[0])
            raise explain("invalid_tenant", said) from None
        except requests.RequestException as error:
            raise unreachable(settings.authority, error) from None

    def _certificate(self) -> dict:
        with self._lock:
            if self._app is None:
                self._app = self._application()
            app = self._app
        host = urlsplit(self.settings.site_url)
        try:
            result = app.acquire_token_for_client(scopes=[f"{host.scheme}://{host.netloc}/.default"])
        except requests.RequestException as error:
            raise unreachable(self.settings.authority, error) from None
        except ValueError as error:  # MSAL's own complaints (an authority that is not one, a bad answer)
            raise AuthenticationFailed("sharepoint-auth-impossible", transient=False, error=str(error)) from None
        if "access_token" not in result:
            raise explain(str(result.get("error", "")), str(result.get("error_description", "")))
        return {"access_token": result["access_token"], "token_type": result.get("token_type", "Bearer"),
                "expires_in": int(result.get("expires_in") or 3600)}
