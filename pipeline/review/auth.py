"""Accounts, sessions, login throttling and CSRF tokens of the review app.

Passwords are hashed with Argon2id (slow on purpose). Sessions live on the
server, in the state database, so that logging out really ends them and a
restart does not: the browser holds a signed random id, the table only its
SHA-256. CSRF tokens are an HMAC of that id, so they need no storage and an
anonymous visitor (the login form) gets one too.

Failed logins slow down the client address that made them (progressive
delays) and, past a rate, everyone a little; never an account, so nobody can
lock a supervisor out and a wrong name is treated exactly like a wrong password.
"""
from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import re
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..config import Config
from ..errors import ExitCode, MailroomError
from ..store import Store

ROLES = ("supervisor", "viewer", "admin")
ROLE_LABELS = {"supervisor": "superviseur", "viewer": "lecture seule", "admin": "administrateur"}
MIN_PASSWORD_LENGTH = 10
USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
COOKIE_NAME = "mailroom_session"
TOUCH_SECONDS = 60             # last-seen time is written at most once a minute per session
CLIENT_FREE_FAILURES = 5       # failed logins from one address before it must wait
CLIENT_MAX_WAIT = 15 * 60      # its wait doubles with each further failure, up to this
CLIENT_FORGET = 3600           # an address that stops failing is forgotten after this
GLOBAL_FREE_PER_MINUTE = 60    # failures per minute, all addresses together, before everyone is slowed
GLOBAL_MAX_DELAY = 3.0         # seconds added to each login at worst

_hasher = PasswordHasher()
# Verified against for unknown users, so that a wrong name costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash("mailroom-dummy-password")


class AccountError(MailroomError):
    """A name, role, category or password that cannot be accepted; the message is French, for the operator."""

    code = "account-refused"
    exit_code = ExitCode.USAGE


def check_new_account(name: str, password: str, role: str) -> None:
    if not USER_NAME.match(name):
        raise AccountError("nom d'utilisateur invalide : lettres, chiffres, « . _ @ - », 64 caractères au plus")
    check_role(role)
    check_password(password)


def check_role(role: str) -> None:
    if role not in ROLES:
        raise AccountError(f"rôle inconnu « {role} » (rôles : {', '.join(ROLES)})")


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"mot de passe trop court : {MIN_PASSWORD_LENGTH} caractères au moins")


def parse_categories(text: str, known: Iterable[str]) -> list[str]:
    """'a, b' → ['a', 'b'], each checked against the configured categories; '' → [] (every category)."""
    known = list(known)
    chosen = [c.strip() for c in text.split(",") if c.strip()]
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise AccountError(f"catégorie inconnue « {unknown[0]} » (catégories : {', '.join(known)})")
    return list(dict.fromkeys(chosen))


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
    categories: list[str] = field(default_factory=list)  # empty: every category
    credential: str = ""
    created: float = field(default_factory=time.time)
    seen: float = field(default_factory=time.time)
    flash: list[str] = field(default_factory=list)
    stored_flash: list[str] = field(default_factory=list)  # as read from the database, to save only changes

    @property
    def can_decide(self) -> bool:
        return self.role in ("supervisor", "admin")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def may_see(self, categories: Iterable[str | None]) -> bool:
        """Need-to-know: an account limited to some categories sees a letter only when one of them is the
        letter's current or proposed category."""
        return not self.categories or any(c in self.categories for c in categories if c)


def _hash_id(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class Sessions:
    """Server-side sessions in the state database; the cookie only carries a signed random id."""

    def __init__(self, secret: bytes, store: Store, idle_seconds: float = 8 * 3600,
                 absolute_seconds: float = 12 * 3600):
        self._secret = secret
        self._signer = URLSafeTimedSerializer(secret, salt="mailroom-review-session")
        self._store = store
        self.idle_seconds, self.absolute_seconds = idle_seconds, absolute_seconds
        self._last_expiry = 0.0

    @classmethod
    def for_config(cls, config: Config, store: Store) -> "Sessions":
        return cls(load_secret_key(config), store, idle_seconds=config.review.session_idle_minutes * 60,
                   absolute_seconds=config.review.session_hours * 3600)

    # -- cookie --------------------------------------------------------------
    def new_id(self) -> str:
        return secrets.token_urlsafe(32)

    def cookie_value(self, session_id: str) -> str:
        return self._signer.dumps(session_id)

    def id_from_cookie(self, value: str | None) -> str | None:
        if not value:
            return None
        try:
            session_id = self._signer.loads(value, max_age=self.absolute_seconds)
        except BadSignature:
            return None
        return session_id if isinstance(session_id, str) else None

    def csrf_token(self, session_id: str) -> str:
        return hmac.new(self._secret, b"csrf:" + session_id.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, session_id: str | None, token: str | None) -> bool:
        return bool(session_id and token) and hmac.compare_digest(self.csrf_token(session_id), str(token))

    # -- sessions ------------------------------------------------------------
    def open(self, user: dict) -> Session:
        now = time.time()
        session = Session(id=self.new_id(), user=user["name"], role=user["role"],
                          categories=list(user.get("categories") or []),
                          credential=credential_fingerprint(user["password_hash"]), created=now, seen=now)
        self._expire(now)
        self._store.session_open(_hash_id(session.id), session.user, session.credential, now,
                                 now + self.absolute_seconds)
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of this id with its account re-read (role, categories); None when it ended,
        expired, or its account was removed or given a new password since."""
        if not session_id:
            return None
        id_hash, now = _hash_id(session_id), time.time()
        row = self._store.session_get(id_hash)
        if row is None:
            return None
        if now - row["seen_at"] > self.idle_seconds or now > row["expires_at"]:
            self._store.session_close(id_hash, reason="expired")
            return None
        user = self._store.get_user(row["user"])
        if user is None or credential_fingerprint(user["password_hash"]) != row["credential"]:
            self._store.session_close(id_hash, reason="account changed")
            return None
        if now - row["seen_at"] > TOUCH_SECONDS:
            self._store.session_touch(id_hash, now)
        return Session(id=session_id, user=user["name"], role=user["role"], categories=user["categories"],
                       credential=row["credential"], created=row["created_at"], seen=now,
                       flash=list(row["flash"]), stored_flash=list(row["flash"]))

    def save_flash(self, session: Session) -> None:
        if session.flash != session.stored_flash:
            self._store.session_flash(_hash_id(session.id), session.flash)
            session.stored_flash = list(session.flash)

    def close(self, session_id: str | None) -> None:
        if session_id:
            self._store.session_close(_hash_id(session_id))

    def _expire(self, now: float) -> None:
        if now - self._last_expiry > 600:
            self._last_expiry = now
            self._store.sessions_expire(now - self.idle_seconds, now)


def _network_list(entries: Iterable[str]) -> list:
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


class ClientAddress:
    """Who is asking: the peer address, or what a configured reverse proxy says in X-Forwarded-For."""

    def __init__(self, trusted_proxies: Iterable[str]):
        self._trusted = _network_list(trusted_proxies)

    def trusted(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)

    def of(self, peer: str | None, forwarded_for: str | None) -> str:
        """The first address, from the right, that is not one of our proxies (the proxies append to it)."""
        address = peer or "?"
        if forwarded_for and self.trusted(address):
            for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
                address = hop
                if not self.trusted(hop):
                    break
        return address

    def scheme(self, peer: str | None, forwarded_proto: str | None, scheme: str) -> str:
        if forwarded_proto and self.trusted(peer):
            return forwarded_proto.split(",")[0].strip().lower()
        return scheme


def client_key(address: str) -> str:
    """IPv6 clients are counted per /64 (one machine holds a whole prefix); IPv4 per address."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


@dataclass
class _Client:
    failures: int = 0
    last: float = 0.0
    blocked_until: float = 0.0


class Throttle:
    """Login throttling per client address, plus a gentle global slow-down; never per account."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock  # replaceable, for tests
        self._clients: dict[str, _Client] = {}
        self._recent: deque[float] = deque()  # failure times, every client, last minute
        self._lock = threading.Lock()

    def wait(self, client: str) -> float:
        """Seconds this client must still wait before its next attempt is even checked (0: go ahead)."""
        now = self.clock()
        with self._lock:
            state = self._clients.get(client_key(client))
            return max(0.0, state.blocked_until - now) if state else 0.0

    def global_delay(self) -> float:
        """Seconds every attempt waits while failures from everywhere exceed the free rate."""
        now = self.clock()
        with self._lock:
            while self._recent and now - self._recent[0] > 60:
                self._recent.popleft()
            excess = len(self._recent) - GLOBAL_FREE_PER_MINUTE
        return 0.0 if excess <= 0 else min(GLOBAL_MAX_DELAY, 0.05 * excess)

    def failed(self, client: str) -> float:
        """Record a failure; returns the wait now imposed on this client."""
        now = self.clock()
        with self._lock:
            self._forget(now)
            state = self._clients.setdefault(client_key(client), _Client())
            if now - state.last > CLIENT_FORGET:  # an old run of failures no longer counts
                state.failures = 0
            state.failures += 1
            state.last = now
            self._recent.append(now)
            if state.failures >= CLIENT_FREE_FAILURES:
                state.blocked_until = now + min(CLIENT_MAX_WAIT, 2 ** (state.failures - CLIENT_FREE_FAILURES + 1))
            return max(0.0, state.blocked_until - now)

    def succeeded(self, client: str) -> None:
        with self._lock:
            self._clients.pop(client_key(client), None)

    def _forget(self, now: float) -> None:
        if len(self._clients) > 1000:  # many addresses: drop the ones that stopped failing
            for key in [k for k, s in self._clients.items()
                        if now - s.last > CLIENT_FORGET and s.blocked_until < now]:
                del self._clients[key]
