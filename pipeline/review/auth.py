"""Accounts, sessions and CSRF tokens of the review app.

Passwords are hashed with Argon2id (slow on purpose). Sessions live on the
server so that logging out really ends them; the browser only holds a signed
random id. CSRF tokens are an HMAC of that id, so they need no storage and an
anonymous visitor (the login form) gets one too.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..config import Config

ROLES = ("supervisor", "viewer")
ROLE_LABELS = {"supervisor": "superviseur", "viewer": "lecture seule"}
MIN_PASSWORD_LENGTH = 10
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
COOKIE_NAME = "mailroom_session"
IDLE_SECONDS = 8 * 3600        # a working day without a click ends the session
ABSOLUTE_SECONDS = 12 * 3600   # and no session outlives a long day
MAX_FAILURES = 5               # failed logins per user before a pause
LOCK_SECONDS = 60

_hasher = PasswordHasher()
# Verified against for unknown users, so that a wrong name costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash("mailroom-dummy-password")


class AccountError(ValueError):
    """A name, role or password that cannot be accepted; the message is French, for the operator."""


def check_new_account(name: str, password: str, role: str) -> None:
    if not USER_NAME.match(name):
        raise AccountError("nom d'utilisateur invalide : lettres, chiffres, « . _ @ - », 64 caractères au plus")
    if role not in ROLES:
        raise AccountError(f"rôle inconnu « {role} » (rôles : {', '.join(ROLES)})")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"mot de passe trop court : {MIN_PASSWORD_LENGTH} caractères au moins")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def secret_key_path(config: Config) -> Path:
    return Path(config.review.secret_key_file).expanduser() if config.review.secret_key_file \
        else config.home / "review.key"


def load_secret_key(config: Config) -> bytes:
    """The app's signing key, created (mode 0600) on first start so that sessions survive restarts."""
    path = secret_key_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip()
        if len(key) < 32:
            raise RuntimeError(f"{path}: clé secrète trop courte, supprimez le fichier pour en recréer une")
        return key.encode()
    key = secrets.token_hex(32)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key + "\n")
    return key.encode()


def credential_fingerprint(password_hash: str) -> str:
    """Ties a session to the password it was opened with: `users add` on the same name ends it."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:32]


@dataclass
class Session:
    id: str
    user: str
    role: str
    credential: str = ""
    created: float = field(default_factory=time.time)
    seen: float = field(default_factory=time.time)
    flash: list[str] = field(default_factory=list)

    @property
    def can_decide(self) -> bool:
        return self.role == "supervisor"


class Sessions:
    """Server-side sessions and login throttling, shared by the app's threads."""

    def __init__(self, secret: bytes):
        self._secret = secret
        self._signer = URLSafeTimedSerializer(secret, salt="mailroom-review-session")
        self._sessions: dict[str, Session] = {}
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    # -- cookie --------------------------------------------------------------
    def new_id(self) -> str:
        return secrets.token_urlsafe(32)

    def cookie_value(self, session_id: str) -> str:
        return self._signer.dumps(session_id)

    def id_from_cookie(self, value: str | None) -> str | None:
        if not value:
            return None
        try:
            session_id = self._signer.loads(value, max_age=ABSOLUTE_SECONDS)
        except BadSignature:
            return None
        return session_id if isinstance(session_id, str) else None

    def csrf_token(self, session_id: str) -> str:
        return hmac.new(self._secret, b"csrf:" + session_id.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session_id: str | None, token: str | None) -> bool:
        return bool(session_id and token) and hmac.compare_digest(self.csrf_token(session_id), str(token))

    # -- sessions ------------------------------------------------------------
    def open(self, user: str, role: str, password_hash: str) -> Session:
        session = Session(id=self.new_id(), user=user, role=role, credential=credential_fingerprint(password_hash))
        with self._lock:
            self._expire()
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        now = time.time()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if now - session.seen > IDLE_SECONDS or now - session.created > ABSOLUTE_SECONDS:
                del self._sessions[session_id]
                return None
            session.seen = now
            return session

    def close(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def close_user(self, user: str) -> None:
        with self._lock:
            for session_id in [s.id for s in self._sessions.values() if s.user == user]:
                del self._sessions[session_id]

    def _expire(self) -> None:
        now = time.time()
        for session_id in [s.id for s in self._sessions.values()
                           if now - s.seen > IDLE_SECONDS or now - s.created > ABSOLUTE_SECONDS]:
            del self._sessions[session_id]

    # -- throttling ------------------------------------------------------------
    def locked(self, user: str) -> bool:
        now = time.time()
        with self._lock:
            recent = [t for t in self._failures.get(user.lower(), []) if now - t < LOCK_SECONDS]
            self._failures[user.lower()] = recent
            return len(recent) >= MAX_FAILURES

    def failed(self, user: str) -> None:
        with self._lock:
            if len(self._failures) > 10_000:  # names sprayed by a robot: forget rather than grow
                self._failures.clear()
            self._failures.setdefault(user.lower(), []).append(time.time())

    def succeeded(self, user: str) -> None:
        with self._lock:
            self._failures.pop(user.lower(), None)
