"""One authenticated office365 ClientContext and a retry loop around each logical operation.

Why our own loop rather than the client's: after a failure the client replays
whatever is left in its queue, its incremental retry reorders requests, and its
auto-retry ignores Retry-After. Here every attempt clears the queue and builds
its request afresh, so a retry sends exactly what the first attempt meant.

Secrets (tokens, passwords, private keys) are read from the environment, a
command or a file at the moment they are needed and never put in a message.
"""
from __future__ import annotations

import email.utils
import logging
import os
import random
import shlex
import subprocess
import time
from typing import Callable, TypeVar

import requests

from ..config import SharePointConfig
from . import PublishError

log = logging.getLogger("pipeline.publish.sharepoint")
T = TypeVar("T")

USER_AGENT = "NONISV|Mailroom|mailroom/0.1"
DIGEST_EXPIRED = "-2130575251"
RETRY_AFTER_CEILING = 120.0       # longer waits are left to the queue's later retry
BACKOFF_CEILING = 30.0
DROPPED = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


class SharePointFailure(PublishError):
    """A request SharePoint answered with an error (or not at all); status and code kept for callers."""

    def __init__(self, message: str, transient: bool, status: int | None = None, code: str = ""):
        super().__init__(message, transient=transient)
        self.status = status
        self.code = code


class ConnectionDropped(SharePointFailure):
    """The connection broke before an answer came: the server may or may not have acted."""

    def __init__(self, message: str):
        super().__init__(message, transient=True)


def retry_after_seconds(response) -> float | None:
    """Retry-After as seconds, from either its delta-seconds or its HTTP-date form."""
    value = (response.headers.get("Retry-After") or "").strip() if response is not None else ""
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def error_code(error) -> str:
    return str(getattr(error, "code", "") or "")


def describe(error) -> str:
    """A short, secret-free account of a failed request."""
    response = getattr(error, "response", None)
    status = getattr(response, "status_code", None)
    message = getattr(error, "message", None) or ""
    if isinstance(message, dict):
        message = message.get("value", "")
    text = f"HTTP {status}" if status else type(error).__name__
    return f"{text}: {message}".strip().rstrip(":") if message else text


class SharePointConnection:
    """Builds the ClientContext for the configured auth mode and runs operations with retries."""

    backoff_base = 1.0  # seconds; tests lower it

    def __init__(self, settings: SharePointConfig, sleep: Callable[[float], None] = time.sleep):
        self.settings = settings
        self.sleep = sleep
        self._context = None

    # ------------------------------------------------------------ authentication
    def _token(self) -> dict:
        """The bearer token, read afresh: from token_command when set, else from the environment."""
        settings = self.settings
        token = ""
        if settings.token_command:
            try:
                result = subprocess.run(shlex.split(settings.token_command), capture_output=True, text=True,
                                        timeout=60, check=False)
            except (OSError, subprocess.TimeoutExpired) as error:
                raise PublishError(f"sharepoint.token_command could not run ({type(error).__name__})") from None
            if result.returncode != 0:
                raise PublishError(f"sharepoint.token_command failed with exit code {result.returncode}")
            token = result.stdout.strip()
        if not token:
            token = os.environ.get(settings.token_env, "").strip()
        if not token:
            raise PublishError(f"no SharePoint token: set the environment variable {settings.token_env}"
                               " or sharepoint.token_command")
        # Re-read every five minutes: a token rotated outside is picked up without a restart.
        return {"access_token": token, "token_type": "Bearer", "expires_in": 300}

    def _session(self) -> requests.Session:
        session = requests.Session()
        session.headers["User-Agent"] = USER_AGENT
        if self.settings.auth == "ntlm":
            try:
                from requests_ntlm import HttpNtlmAuth
            except ImportError:
                raise PublishError("sharepoint.auth = \"ntlm\" needs the requests-ntlm package", transient=False) \
                    from None
            password = os.environ.get(self.settings.password_env, "")
            if not self.settings.username or not password:
                raise PublishError(f"NTLM needs sharepoint.username and the environment variable "
                                   f"{self.settings.password_env}")
            session.auth = HttpNtlmAuth(self.settings.username, password)
        return session

    def _build(self):
        from office365.sharepoint.client_context import ClientContext

        settings = self.settings
        context = ClientContext(settings.site_url.rstrip("/"))
        context.with_transport(session=self._session(), verify=settings.verify_tls,
                               timeout=(min(10.0, settings.timeout_seconds), settings.timeout_seconds))
        if settings.auth == "token":
            context.with_access_token(self._token)
        elif settings.auth == "certificate":
            missing = [name for name in ("tenant", "client_id", "thumbprint", "key_file")
                       if not getattr(settings, name)]
            if missing:
                raise PublishError("certificate authentication needs " +
                                   ", ".join(f"sharepoint.{name}" for name in missing))
            if not os.access(settings.key_file, os.R_OK):
                raise PublishError("the private key file named by sharepoint.key_file cannot be read")
            context.with_client_certificate(settings.tenant, settings.client_id, settings.thumbprint,
                                            cert_path=settings.key_file)
        return context

    def context(self):
        if self._context is None:
            self._context = self._build()
        return self._context

    def reset(self) -> None:
        """Forget the context: the next operation gets a new token and a new digest."""
        self._context = None

    # ------------------------------------------------------------ retries
    def backoff(self, attempt: int) -> float:
        return min(BACKOFF_CEILING, self.backoff_base * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)

    def run(self, what: str, build: Callable[[object], T], retry_dropped: bool = True) -> T:
        """Run one logical operation: `build(ctx)` queues its request(s) and returns the result object.

        429/503 wait for Retry-After; 408/5xx and dropped connections back off with
        jitter; an expired digest or token is renewed. `retry_dropped=False` raises
        ConnectionDropped instead, for requests that must not be blindly resent.
        """
        from office365.runtime.client_request_exception import ClientRequestException

        attempts = max(1, self.settings.max_attempts)
        renewed_token = False
        last = ""
        for attempt in range(1, attempts + 1):
            if self._context is not None and self._context.has_pending_request:
                self.reset()  # never let a stale query ride along with this one
            context = self.context()
            try:
                result = build(context)
                context.execute_query()
                return result
            except ClientRequestException as error:
                # ClientContext.clear() would also drop auth and transport: rebuild instead.
                self.reset()
                response = getattr(error, "response", None)
                status = getattr(response, "status_code", None)
                last = describe(error)
                if status == 401 and not renewed_token:
                    renewed_token = True  # the new context reads a new token
                    delay = 0.0
                elif status == 403 and error_code(error).startswith(DIGEST_EXPIRED):
                    delay = 0.0  # the new context fetches a new digest
                elif status in (429, 503):
                    wait = retry_after_seconds(response)
                    if wait is not None and wait > RETRY_AFTER_CEILING:
                        raise SharePointFailure(f"{what}: SharePoint asks to wait {wait:.0f} s ({last}); "
                                                "the document will be retried later", True, status) from None
                    delay = wait if wait is not None else self.backoff(attempt)
                elif status in (408, 500, 502, 504) or status is None:
                    delay = self.backoff(attempt)
                else:
                    raise SharePointFailure(f"{what}: {last}", transient=status != 400, status=status,
                                            code=error_code(error)) from None
            except DROPPED as error:
                self.reset()
                last = f"connection lost ({type(error).__name__})"
                if not retry_dropped:
                    raise ConnectionDropped(f"{what}: {last}") from None
                delay = self.backoff(attempt)
            if attempt < attempts:
                log.info("%s: %s; attempt %d of %d in %.1f s", what, last, attempt + 1, attempts, delay)
                self.sleep(delay)
        raise SharePointFailure(f"{what}: still failing after {attempts} attempts ({last})", transient=True)
