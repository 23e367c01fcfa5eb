"""One authenticated office365 ClientContext and a retry loop around each logical operation.

Why our own loop rather than the client's: after a failure the client replays
whatever is left in its queue, its incremental retry reorders requests, and its
auto-retry ignores Retry-After. Here every attempt clears the queue and builds
its request afresh, so a retry sends exactly what the first attempt meant.

Throttling is shared by the whole connection: a Retry-After (or RateLimit-*
headers saying the quota is spent) sets one pause, kept in
$MAILROOM_HOME/sharepoint/pause.json so that `mailroom retry` honours it too.
No request leaves before it ends. A pause up to `sharepoint.max_wait_seconds`
is waited in place; a longer one raises a transient SharePointFailure carrying
`retry_after`, so that the letter waits in publish-failed while `serve` goes on
(watcher, OCR, review app); the runner's later retry meets the same pause.

Secrets (tokens, passwords, private keys) are read from the environment, a
command or a file at the moment they are needed and never put in a message.
"""
from __future__ import annotations

import email.utils
import json
import logging
import os
import random
import threading
import time
import types
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, TypeVar

import requests

from .. import __version__
from ..config import SharePointConfig
from ..files import write_atomically
from . import PublishError
from .sharepoint_auth import AuthenticationFailed, TokenSource

log = logging.getLogger("pipeline.publish.sharepoint")
T = TypeVar("T")

DIGEST_EXPIRED = "-2130575251"
BACKOFF_CEILING = 30.0
AUTH_PAUSE = 300.0                # after a configuration fault of the authority, ask again this much later
DROPPED = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


def user_agent(settings: SharePointConfig) -> str:
    """Microsoft's convention for traffic it can attribute: NONISV|<organisation>|<app>/<version>."""
    return f"NONISV|{settings.organisation.strip()}|mailroom/{__version__}"


class SharePointFailure(PublishError):
    """A request SharePoint answered with an error (or not at all); its HTTP status and SharePoint's own
    error code (``server_code``, e.g. ``-2130575257``) kept for callers; ``code`` stays mailroom's.

    `retry_after` (seconds) is set when SharePoint asked to wait: no retry makes sense before."""

    code = "sharepoint-failed"

    def __init__(self, code: str, transient: bool, status: int | None = None, server_code: str = "",
                 retry_after: float | None = None, **params):
        super().__init__(code, transient=transient, **params)
        self.status = status
        self.server_code = server_code
        self.retry_after = retry_after


class Pause:
    """The one pause of a connection, on the connection's clock (wall time), kept on disk."""

    def __init__(self, path: Path | None, clock: Callable[[], float]):
        self.path = path
        self.clock = clock
        self.until = 0.0
        self.reason = ""
        self._lock = threading.Lock()
        if path is not None:
            try:
                saved = json.loads(path.read_text(encoding="utf-8"))
                self.until, self.reason = float(saved["until"]), str(saved.get("reason", ""))
            except (OSError, ValueError, KeyError, TypeError):
                pass

    def remaining(self) -> float:
        return max(0.0, self.until - self.clock())

    def extend(self, seconds: float, reason: str) -> None:
        """Nothing leaves before now + seconds (a shorter request never shortens a longer pause)."""
        with self._lock:
            until = self.clock() + seconds
            if until <= self.until:
                return
            self.until, self.reason = until, reason
            if self.path is not None:
                try:
                    write_atomically(self.path, json.dumps({"until": until, "reason": reason}).encode())
                except OSError as error:
                    log.warning("cannot keep the SharePoint pause in %s: %s", self.path, error)

    def ends_at(self) -> str:
        return datetime.fromtimestamp(self.until, timezone.utc).astimezone().strftime("%H:%M:%S")


class ConnectionDropped(SharePointFailure):
    """The connection broke before an answer came: the server may or may not have acted."""

    def __init__(self, what: str, error: str):
        super().__init__("sharepoint-connection-lost", transient=True, what=what, error=error)


def retry_after_seconds(response, now: float | None = None) -> float | None:
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
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def rate_limit_wait(headers) -> float | None:
    """Seconds to hold back when RateLimit-Remaining says the quota is spent (IETF draft headers
    SharePoint Online sends near its limits); None when there is no reason to wait."""
    try:
        remaining = float(headers.get("RateLimit-Remaining"))
        reset = float(headers.get("RateLimit-Reset"))
    except (TypeError, ValueError):
        return None
    if remaining > 0 or reset <= 0:
        return None
    return reset


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


def digest_once(request):
    """The form digest (POST contextInfo) in one attempt.

    The client's own loop sleeps Retry-After up to five times in the caller's thread, which in
    `serve` meant minutes of nothing; a 429 here reaches SharePointConnection.run, which pauses
    the connection (and the letter waits) instead. Same request and parsing as the client's."""
    from office365.runtime.http.http_method import HttpMethod
    from office365.runtime.http.request_options import RequestOptions
    from office365.runtime.odata.request import ODataRequest
    from office365.runtime.odata.v3.json_light_format import JsonLightFormat
    from office365.sharepoint.webs.context_web_information import ContextWebInformation

    client = ODataRequest(request._base_url, JsonLightFormat())
    client._transport = request._transport
    client.beforeExecute += request._authenticate_request
    options = RequestOptions(f"{request.service_root_url}/contextInfo")
    options.method = HttpMethod.Post
    response = client.execute_request_direct(options)
    answer = JsonLightFormat()
    answer.function = "GetContextWebInformation"
    information = ContextWebInformation()
    client.map_json(response.json(), information, answer)
    return information


class PinnedSession(requests.Session):
    """A session whose own `verify` (sharepoint.ca_file, or verify_tls = false) wins over
    REQUESTS_CA_BUNDLE, which requests otherwise prefers for callers that pass no verify (MSAL)."""

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        merged = super().merge_environment_settings(url, proxies, stream, verify, cert)
        if self.verify is not True and verify in (None, True):
            merged["verify"] = self.verify
        return merged


class SharePointConnection:
    """Builds the ClientContext for the configured auth mode and runs operations with retries."""

    backoff_base = 1.0  # seconds; tests lower it

    def __init__(self, settings: SharePointConfig, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.time, pause_file: Path | None = None):
        self.settings = settings
        self.sleep = sleep
        self.clock = clock
        self.pause = Pause(pause_file, lambda: self.clock())  # tests swap the clock
        self._context = None
        self._session_ = None
        self._tokens: TokenSource | None = None
        self._auth_refusal: tuple[float, AuthenticationFailed] | None = None

    def _session(self) -> requests.Session:
        if self._session_ is not None:
            return self._session_
        session = PinnedSession()
        session.headers["User-Agent"] = user_agent(self.settings)
        session.verify = self.settings.ca_file or self.settings.verify_tls
        if self.settings.auth == "ntlm":
            try:
                from requests_ntlm import HttpNtlmAuth
            except ImportError:
                raise PublishError("ntlm-package-missing", transient=False) from None
            password = os.environ.get(self.settings.password_env, "")
            if not self.settings.username or not password:
                raise PublishError("ntlm-credentials-missing", env=self.settings.password_env)
            session.auth = HttpNtlmAuth(self.settings.username, password)
        self._session_ = session
        return session

    def tokens(self) -> TokenSource:
        if self._tokens is None:
            self._tokens = TokenSource(self.settings, self._session())
        return self._tokens

    def _token(self) -> dict:
        """What the client calls for a token; a configuration fault is remembered, not retried per letter."""
        if self._auth_refusal is not None:
            since, refusal = self._auth_refusal
            if self.clock() - since < AUTH_PAUSE:
                raise refusal
            self._auth_refusal = None
        try:
            return self.tokens()()
        except AuthenticationFailed as error:
            if not error.transient:
                self._auth_refusal = (self.clock(), error)
            raise

    def _build(self):
        from office365.sharepoint.client_context import ClientContext

        settings = self.settings
        context = ClientContext(settings.site_url.rstrip("/"))
        session = self._session()
        context.with_transport(session=session, verify=session.verify,
                               timeout=(min(10.0, settings.timeout_seconds), settings.timeout_seconds))
        if settings.auth in ("token", "certificate"):
            context.with_access_token(self._token)
        request = context.pending_request()
        request.afterExecute += self._after_response
        request._fetch_context_web_information = types.MethodType(digest_once, request)
        return context

    def _after_response(self, response) -> None:
        """Pace on RateLimit-* headers: when the quota is spent, pause until it resets."""
        wait = rate_limit_wait(response.headers)
        if wait is not None:
            self.pause.extend(wait, "RateLimit-Remaining: 0")

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

    def wait_for_pause(self, what: str) -> None:
        """Wait out a short shared pause; a long one becomes a transient failure (no request is sent)."""
        remaining = self.pause.remaining()
        if remaining <= 0:
            return
        if remaining > self.settings.max_wait_seconds:
            raise SharePointFailure("sharepoint-pause", True, status=429, retry_after=remaining, what=what,
                                    until=self.pause.ends_at(), why=self.pause.reason, seconds=remaining)
        log.info("%s: waiting %.1f s as SharePoint asked (%s)", what, remaining, self.pause.reason)
        self.sleep(remaining)

    def run(self, what: str, build: Callable[[object], T], retry_dropped: bool = True) -> T:
        """Run one logical operation: `build(ctx)` queues its request(s) and returns the result object.

        429/503 pause the whole connection for Retry-After; 408/5xx and dropped
        connections back off with jitter; an expired digest or token is renewed.
        `retry_dropped=False` raises ConnectionDropped instead, for requests that
        must not be blindly resent.
        """
        from office365.runtime.client_request_exception import ClientRequestException

        attempts = max(1, self.settings.max_attempts)
        renewed_token = False
        last = ""
        for attempt in range(1, attempts + 1):
            self.wait_for_pause(what)
            if self._context is not None and self._context.has_pending_request:
                self.reset()  # never let a stale query ride along with this one
            try:
                context = self.context()
                result = build(context)
                context.execute_query()
                return result
            except AuthenticationFailed:
                self.reset()
                raise
            except ClientRequestException as error:
                response = getattr(error, "response", None)
                status = getattr(response, "status_code", None)
                # What is left in the queue would be replayed, and a new token or digest needs a new
                # context (ClientContext.clear() would also drop auth and transport): rebuild then.
                # A plain refusal (400, 404, 409) with nothing left queued keeps the context and its digest.
                if status not in (400, 404, 409) or context.has_pending_request:
                    self.reset()
                last = describe(error)
                delay = 0.0
                if status == 401 and not renewed_token:
                    renewed_token = True  # the new context asks for a new token
                    self.tokens().invalidate()
                elif status == 401:
                    raise SharePointFailure("sharepoint-token-refused", transient=False, status=401, what=what,
                                            detail=last) from None
                elif status == 403 and error_code(error).startswith(DIGEST_EXPIRED):
                    pass  # the new context fetches a new digest
                elif status in (429, 503):
                    wait = retry_after_seconds(response, self.clock())
                    self.pause.extend(wait if wait is not None else self.backoff(attempt),
                                      f"HTTP {status}" + (f", Retry-After {wait:.0f} s" if wait is not None else ""))
                elif status == 500 and "SPQueryThrottledException" in error_code(error):
                    raise SharePointFailure("sharepoint-list-threshold", transient=False, status=500,
                                            server_code=error_code(error), what=what, detail=last) from None
                elif status in (408, 500, 502, 504) or status is None:
                    delay = self.backoff(attempt)
                else:
                    raise SharePointFailure("sharepoint-refused", transient=status != 400, status=status,
                                            server_code=error_code(error), what=what, detail=last) from None
            except requests.exceptions.SSLError as error:
                self.reset()
                raise SharePointFailure("sharepoint-tls", transient=False, what=what, site=self.settings.site_url,
                                        error=type(error).__name__) from None
            except DROPPED as error:
                self.reset()
                last = f"connexion perdue ({type(error).__name__})"
                if not retry_dropped:
                    raise ConnectionDropped(what, last) from None
                delay = self.backoff(attempt)
            except ValueError as error:  # the client's own "credentials are missing or invalid"
                self.reset()
                raise AuthenticationFailed("sharepoint-auth-impossible", transient=False, error=f"{what}: {error}") \
                    from None
            if attempt < attempts:
                log.info("%s: %s; attempt %d of %d in %.1f s", what, last, attempt + 1, attempts, delay)
                if delay:
                    self.sleep(delay)
        if self.pause.remaining() > 0:
            self.wait_for_pause(what)  # raises with retry_after when the pause is long
        raise SharePointFailure("sharepoint-still-failing", transient=True, what=what, attempts=attempts, detail=last)
