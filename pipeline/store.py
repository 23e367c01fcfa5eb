"""SQLite state: inputs, documents, the append-only journal, users and labelled examples.

Only this module touches the database. Every process opens its own ``Store``;
WAL mode and a busy timeout let the watcher, the workers and the review app
share one file safely. State changes go through ``transition`` (documents) and
``transition_input`` (inputs): a compare-and-set against the lifecycle table of
``records.py``, with its journal event, in one SQL transaction.
"""
from __future__ import annotations

import json
import os
import secrets
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from .records import DOCUMENT_TRANSITIONS, INPUT_TRANSITIONS, REGISTERED, Document, allowed, new_uid
from .trace import chain

INSTALLATION_FILE = "installation-id"

SCHEMA = """
CREATE TABLE IF NOT EXISTS inputs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    sha256 TEXT NOT NULL,
    original_name TEXT NOT NULL,
    spool_path TEXT NOT NULL,
    inbox TEXT NOT NULL DEFAULT '',
    split_mode TEXT NOT NULL DEFAULT 'separator',
    received_at TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    state TEXT NOT NULL,            -- records.InputState
    reason TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    duplicate_of TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS inputs_sha ON inputs(sha256);
CREATE INDEX IF NOT EXISTS inputs_state ON inputs(state);

CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    input_id TEXT NOT NULL REFERENCES inputs(id),
    seq INTEGER NOT NULL,
    state TEXT NOT NULL,            -- records.DocumentState
    category TEXT,
    updated_at TEXT NOT NULL,
    body TEXT NOT NULL,             -- Document as JSON
    uid TEXT                        -- Document.uid, unique across installations
);
CREATE INDEX IF NOT EXISTS documents_state ON documents(state);
-- what mailroom still has to send (Store.open_deliveries), found without reading every letter
CREATE INDEX IF NOT EXISTS documents_ack_state ON documents(json_extract(body, '$.acknowledgement.state'));
CREATE INDEX IF NOT EXISTS documents_slip_state ON documents(json_extract(body, '$.transmission.slip.state'));
CREATE INDEX IF NOT EXISTS documents_notice_state ON documents(json_extract(body, '$.transmission.notice.state'));
CREATE INDEX IF NOT EXISTS documents_ack_batch ON documents(json_extract(body, '$.acknowledgement.batch'));
CREATE INDEX IF NOT EXISTS documents_deadline ON documents(json_extract(body, '$.deadline'));

CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    input_id TEXT,
    document_id TEXT,
    actor TEXT NOT NULL DEFAULT 'mailroom',
    details TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS events_document ON events(document_id);
CREATE INDEX IF NOT EXISTS events_input ON events(input_id);
CREATE TRIGGER IF NOT EXISTS events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;
CREATE TRIGGER IF NOT EXISTS events_append_only_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;

CREATE TABLE IF NOT EXISTS registrations (
    number TEXT PRIMARY KEY,
    year INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    document_id TEXT UNIQUE NOT NULL,
    input_id TEXT NOT NULL,
    received_at TEXT NOT NULL,
    registered_at TEXT NOT NULL,
    UNIQUE(year, seq)
);
CREATE TRIGGER IF NOT EXISTS registrations_never_reused_update BEFORE UPDATE ON registrations
BEGIN SELECT RAISE(ABORT, 'a registration number is never changed'); END;
CREATE TRIGGER IF NOT EXISTS registrations_never_reused_delete BEFORE DELETE ON registrations
BEGIN SELECT RAISE(ABORT, 'a registration number is never reused'); END;
CREATE TABLE IF NOT EXISTS checks (   -- the last integrity check of each document (mailroom verify)
    document_id TEXT PRIMARY KEY,
    at TEXT NOT NULL,
    ok INTEGER NOT NULL,
    problems TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS sessions (
    id_hash TEXT PRIMARY KEY,       -- SHA-256 of the random id the browser holds; never the id itself
    user TEXT NOT NULL,
    credential TEXT NOT NULL,       -- fingerprint of the password hash the session was opened with
    created_at REAL NOT NULL,       -- epoch seconds
    seen_at REAL NOT NULL,
    expires_at REAL NOT NULL,       -- absolute end; the idle timeout is checked against seen_at
    flash TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX IF NOT EXISTS sessions_user ON sessions(user);

CREATE TABLE IF NOT EXISTS leases (   -- who is doing a one-at-a-time job now (publishing a letter), until when
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,           -- host:pid:thread
    until REAL NOT NULL             -- epoch seconds; a lease past it, or whose process is gone, is free
);

CREATE TABLE IF NOT EXISTS examples (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    document_id TEXT,
    category TEXT NOT NULL,
    text TEXT NOT NULL,
    source TEXT NOT NULL,           -- supervisor | cover-sheet
    actor TEXT,
    at TEXT NOT NULL
);
"""


def now_iso() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


@dataclass
class InputRow:
    id: str
    sha256: str
    original_name: str
    spool_path: str
    inbox: str
    split_mode: str
    received_at: str
    size: int
    state: str
    reason: str | None
    attempts: int
    duplicate_of: str | None


@dataclass
class Transition:
    """The answer of a compare-and-set: ``ok`` when this call made the move.

    Otherwise nothing happened: ``current_state`` is where the record is, ``by`` and ``at`` say who put
    it there and when (from the journal); ``illegal`` when the lifecycle never allows that move."""

    ok: bool
    doc: Any = None                # the Document (or InputRow) as it is now
    current_state: str | None = None
    by: str | None = None
    at: str | None = None
    illegal: bool = False

    def __bool__(self) -> bool:
        return self.ok


@dataclass
class Event:
    id: int
    at: str
    kind: str
    input_id: str | None
    document_id: str | None
    actor: str
    details: dict[str, Any]
    prev_hash: str | None = None
    prev_doc_hash: str | None = None
    hash: str | None = None


CHAIN_COLUMNS = ("prev_hash", "prev_doc_hash", "hash")
APPEND_ONLY_UPDATE = """CREATE TRIGGER IF NOT EXISTS events_append_only_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END"""


class Store:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._db().executescript(SCHEMA)  # executescript manages its own transaction
        self._migrate()
        self._migrate_chain()  # before anything is journaled: every new event is chained
        self._migrate_review()
        self.installation_id = self._installation_id()

    def _migrate(self) -> None:
        """Databases made before documents had a global uid get one per document, once."""
        db = self._db()
        columns = {row["name"] for row in db.execute("PRAGMA table_info(documents)")}
        with self._tx() as db:
            if "uid" not in columns:
                db.execute("ALTER TABLE documents ADD COLUMN uid TEXT")
            for row in db.execute("SELECT id, body FROM documents WHERE uid IS NULL").fetchall():
                body = json.loads(row["body"])
                body["uid"] = body.get("uid") or new_uid()
                db.execute("UPDATE documents SET uid = ?, body = ? WHERE id = ?",
                           (body["uid"], json.dumps(body, ensure_ascii=False), row["id"]))
            db.execute("CREATE UNIQUE INDEX IF NOT EXISTS documents_uid ON documents(uid)")

    def _installation_id(self) -> str:
        """A random id made at the first start of this home, kept in HOME/installation-id; the first event
        of the journal records it."""
        path = self.path.parent / INSTALLATION_FILE
        try:
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            value = ""
            for _ in range(50):  # another process is writing it right now
                value = path.read_text(encoding="ascii").strip()
                if value:
                    break
                time.sleep(0.02)
        else:
            value = secrets.token_hex(16)
            with os.fdopen(handle, "w", encoding="ascii") as out:
                out.write(value + "\n")
                out.flush()
                os.fsync(out.fileno())
        with self._tx() as db:
            if db.execute("SELECT COUNT(*) FROM events").fetchone()[0] == 0:
                self._journal(db, "installation", installation_id=value)
        return value

    def _migrate_review(self) -> None:
        """Review app columns added after a database was created (ALTER TABLE when missing)."""
        with self._tx() as db:
            columns = {row["name"] for row in db.execute("PRAGMA table_info(users)")}
            if "categories" not in columns:
                db.execute("ALTER TABLE users ADD COLUMN categories TEXT NOT NULL DEFAULT ''")

    # -- connection -------------------------------------------------------
    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA busy_timeout=30000")
            self._use_wal(db)
            db.execute("PRAGMA synchronous=FULL")
            self._local.db = db
        return db

    @staticmethod
    def _use_wal(db: sqlite3.Connection) -> None:
        """WAL is a property of the file, set once; switching needs a moment alone with it."""
        deadline = time.monotonic() + 30
        while db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            try:
                db.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError:  # another process has it open right now
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def _migrate_chain(self) -> None:
        """A database made before the journal was chained gets the chain columns; the events it
        already holds are chained once, in order, and the append-only trigger is put back."""
        db = self._db()
        if {"hash"} <= {row["name"] for row in db.execute("PRAGMA table_info(events)")}:
            return
        with self._tx() as db:
            columns = {row["name"] for row in db.execute("PRAGMA table_info(events)")}
            if "hash" in columns:  # another process migrated it meanwhile
                return
            for column in CHAIN_COLUMNS:
                db.execute(f"ALTER TABLE events ADD COLUMN {column} TEXT")
            db.execute("CREATE INDEX IF NOT EXISTS events_hash ON events(hash)")
            rows = [dict(row) for row in db.execute("SELECT * FROM events ORDER BY id")]
            if not rows:
                return
            db.execute("DROP TRIGGER IF EXISTS events_append_only_update")
            previous, last_of = chain.GENESIS, {}
            for row in rows:
                key = chain.subject(row)
                row["prev_hash"], row["prev_doc_hash"] = previous, last_of.get(key, chain.GENESIS) if key else None
                row["hash"] = chain.event_hash(row)
                db.execute("UPDATE events SET prev_hash = ?, prev_doc_hash = ?, hash = ? WHERE id = ?",
                           (row["prev_hash"], row["prev_doc_hash"], row["hash"], row["id"]))
                previous = row["hash"]
                if key:
                    last_of[key] = row["hash"]
            db.execute(APPEND_ONLY_UPDATE)
            self._journal(db, "journal-chained", events=len(rows))

    # -- journal ------------------------------------------------------------
    def _journal(self, db, kind: str, input_id=None, document_id=None, actor="mailroom", **details) -> int:
        """The one place that writes the journal: each event is chained to the one before it."""
        next_id = db.execute("SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0)"
                             " + 1").fetchone()[0]
        last = db.execute("SELECT hash FROM events ORDER BY id DESC LIMIT 1").fetchone()
        event = {"id": next_id, "at": now_iso(), "kind": kind, "input_id": input_id, "document_id": document_id,
                 "actor": actor, "details": json.dumps(details, ensure_ascii=False, default=str),
                 "prev_hash": last["hash"] if last else chain.GENESIS, "prev_doc_hash": None}
        if document_id:
            before = db.execute("SELECT hash FROM events WHERE document_id = ? ORDER BY id DESC LIMIT 1",
                                (document_id,)).fetchone()
        elif input_id:
            before = db.execute("SELECT hash FROM events WHERE input_id = ? AND document_id IS NULL"
                                " ORDER BY id DESC LIMIT 1", (input_id,)).fetchone()
        if document_id or input_id:
            event["prev_doc_hash"] = before["hash"] if before else chain.GENESIS
        event["hash"] = chain.event_hash(event)
        db.execute(
            "INSERT INTO events(id, at, kind, input_id, document_id, actor, details, prev_hash, prev_doc_hash, hash)"
            " VALUES (:id, :at, :kind, :input_id, :document_id, :actor, :details, :prev_hash, :prev_doc_hash, :hash)",
            event)
        return next_id

    def raw_events(self, up_to: int | None = None) -> list[dict[str, Any]]:
        """Every event as stored (details as text), in order: what the chain check reads."""
        query = "SELECT * FROM events" + (" WHERE id <= ?" if up_to is not None else "") + " ORDER BY id"
        return [dict(row) for row in self._db().execute(query, () if up_to is None else (up_to,))]

    def event_by_id(self, event_id: int) -> dict[str, Any] | None:
        row = self._db().execute("SELECT * FROM events WHERE id = ?", (event_id,)).fetchone()
        return dict(row) if row else None

    def journal(self, kind: str, input_id=None, document_id=None, actor="mailroom", **details) -> None:
        with self._tx() as db:
            self._journal(db, kind, input_id, document_id, actor, **details)

    def events(self, document_id: str | None = None, input_id: str | None = None, kind: str | None = None) -> list[Event]:
        query, args = "SELECT * FROM events WHERE 1=1", []
        if document_id:
            query += " AND document_id = ?"
            args.append(document_id)
        if input_id:
            query += " AND input_id = ?"
            args.append(input_id)
        if kind:
            query += " AND kind = ?"
            args.append(kind)
        rows = self._db().execute(query + " ORDER BY id", args).fetchall()
        return [_event(r) for r in rows]

    # -- integrity checks (mailroom verify) -----------------------------------------
    def record_checks(self, results: dict[str, list[str]], **summary) -> None:
        """The outcome of one verify run: per document, and one journal event for the run."""
        at = now_iso()
        with self._tx() as db:
            for document_id, problems in results.items():
                db.execute("INSERT OR REPLACE INTO checks(document_id, at, ok, problems) VALUES (?,?,?,?)",
                           (document_id, at, 0 if problems else 1, json.dumps(problems, ensure_ascii=False)))
            self._journal(db, "verified", documents=len(results),
                          problems=sum(len(p) for p in results.values()), **summary)

    def checks(self) -> dict[str, dict[str, Any]]:
        rows = self._db().execute("SELECT * FROM checks").fetchall()
        return {r["document_id"]: {"at": r["at"], "ok": bool(r["ok"]), "problems": json.loads(r["problems"])}
                for r in rows}

    def last_event(self, kind: str) -> Event | None:
        row = self._db().execute("SELECT * FROM events WHERE kind = ? ORDER BY id DESC LIMIT 1", (kind,)).fetchone()
        return _event(row) if row else None

    # -- inputs ---------------------------------------------------------------
    def add_input(self, sha256: str, original_name: str, spool_path: str, received_at: str,
                  inbox: str = "", split_mode: str = "separator", size: int = 0) -> InputRow:
        """Record a claimed file; a checksum already seen makes it a duplicate."""
        with self._tx() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM inputs").fetchone()[0]
            input_id = f"L{seq:06d}"
            earlier = db.execute(
                "SELECT id FROM inputs WHERE sha256 = ? AND state NOT IN ('duplicate', 'quarantined') ORDER BY seq LIMIT 1",
                (sha256,)).fetchone()
            state = "duplicate" if earlier else "received"
            db.execute(
                "INSERT INTO inputs(seq, id, sha256, original_name, spool_path, inbox, split_mode, received_at, size,"
                " state, duplicate_of, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (seq, input_id, sha256, original_name, spool_path, inbox, split_mode, received_at, size, state,
                 earlier["id"] if earlier else None, now_iso()))
            self._journal(db, "received", input_id, sha256=sha256, name=original_name, size=size,
                          received_at=received_at, inbox=inbox)
            if earlier:
                self._journal(db, "duplicate", input_id, sha256=sha256, duplicate_of=earlier["id"])
        return self.get_input(input_id)

    def get_input(self, input_id: str) -> InputRow | None:
        row = self._db().execute("SELECT * FROM inputs WHERE id = ?", (input_id,)).fetchone()
        return _input_row(row) if row else None

    def inputs(self, *states: str) -> list[InputRow]:
        if states:
            marks = ",".join("?" * len(states))
            rows = self._db().execute(f"SELECT * FROM inputs WHERE state IN ({marks}) ORDER BY seq", states).fetchall()
        else:
            rows = self._db().execute("SELECT * FROM inputs ORDER BY seq").fetchall()
        return [_input_row(r) for r in rows]

    def set_input_state(self, input_id: str, state: str, event: str | None = None, reason: str | None = None,
                        spool_path: str | None = None, **details) -> None:
        """Record where an input's file is now (same state); a change of state goes through the lifecycle."""
        row = self.get_input(input_id)
        if row is not None and row.state != state:
            result = self.transition_input(input_id, row.state, state, event or "", reason=reason,
                                           spool_path=spool_path, **details)
            if not result.ok:
                raise ValueError(f"{input_id}: {row.state} → {state} ({event}) refused; it is {result.current_state}")
            return
        with self._tx() as db:
            db.execute("UPDATE inputs SET spool_path = COALESCE(?, spool_path), updated_at = ? WHERE id = ?",
                       (spool_path, now_iso(), input_id))
            if event:
                self._journal(db, event, input_id, **details)

    def transition_input(self, input_id: str, from_state: str, to_state: str, event: str, actor: str = "mailroom",
                         *, reason: str | None = None, spool_path: str | None = None, **details) -> Transition:
        """Move an input only if it is still in ``from_state``; ``inputs.reason`` becomes ``reason`` (a retry
        clears it). The journal event is written in the same transaction."""
        if event == REGISTERED:
            raise ValueError("registration numbers are allocated by register_pending, in claim order")
        if not allowed(INPUT_TRANSITIONS, from_state, to_state, event):
            row = self.get_input(input_id)
            return Transition(False, row, row.state if row else None, illegal=True)
        with self._tx() as db:
            updated = db.execute(
                "UPDATE inputs SET state = ?, reason = ?, spool_path = COALESCE(?, spool_path), updated_at = ?"
                " WHERE id = ? AND state = ?",
                (str(to_state), reason, spool_path, now_iso(), input_id, str(from_state))).rowcount
            if updated:
                if reason:
                    details["reason"] = reason
                self._journal(db, event, input_id, actor=actor, **details)
        row = self.get_input(input_id)
        if updated:
            return Transition(True, row, row.state)
        by, at = self._last_move(INPUT_TRANSITIONS, row.state if row else None, input_id=input_id)
        return Transition(False, row, row.state if row else None, by, at)

    def count_input_attempt(self, input_id: str) -> int:
        with self._tx() as db:
            db.execute("UPDATE inputs SET attempts = attempts + 1 WHERE id = ?", (input_id,))
            return db.execute("SELECT attempts FROM inputs WHERE id = ?", (input_id,)).fetchone()[0]

    # -- documents --------------------------------------------------------------
    def create_documents(self, input_id: str, documents: list[Document], *, from_state: str = "received",
                         to_state: str = "split", **details) -> bool:
        """Insert the split result of one input and move the input on, in one transaction. False (and
        nothing written) when the input is no longer in ``from_state`` or already has documents."""
        if not allowed(INPUT_TRANSITIONS, from_state, to_state, "split"):
            raise ValueError(f"an input in state {from_state} cannot be split into documents")
        with self._tx() as db:
            if db.execute("SELECT 1 FROM documents WHERE input_id = ? LIMIT 1", (input_id,)).fetchone():
                return False
            moved = db.execute("UPDATE inputs SET state = ?, reason = NULL, updated_at = ? WHERE id = ? AND state = ?",
                               (str(to_state), now_iso(), input_id, str(from_state))).rowcount
            if not moved:
                return False
            for seq, doc in enumerate(documents, start=1):
                db.execute("INSERT INTO documents(id, input_id, seq, state, category, updated_at, body, uid)"
                           " VALUES (?,?,?,?,?,?,?,?)",
                           (doc.id, input_id, seq, str(doc.state), doc.category, now_iso(), doc.to_json(), doc.uid))
            self._journal(db, "split", input_id, documents=[d.id for d in documents],
                          uids=[d.uid for d in documents], source_pages=[d.source_pages for d in documents],
                          **details)
        return True

    def save_document(self, doc: Document, event: str | None = None, actor: str = "mailroom", **details) -> None:
        """Persist a document's body and, in the same transaction, the journal event that explains the change.
        A change of state is refused here: it goes through ``transition``."""
        with self._tx() as db:
            current = db.execute("SELECT state, body FROM documents WHERE id = ?", (doc.id,)).fetchone()
            if current is not None and current["state"] != doc.state:
                raise ValueError(f"{doc.id}: state {current['state']} → {doc.state} must go through transition()")
            if current is not None:
                _keep_deliveries(doc, current["body"])
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM documents WHERE input_id = ?",
                             (doc.input_id,)).fetchone()[0]
            db.execute(
                "INSERT INTO documents(id, input_id, seq, state, category, updated_at, body, uid)"
                " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET category = excluded.category,"
                " updated_at = excluded.updated_at, body = excluded.body",
                (doc.id, doc.input_id, seq, str(doc.state), doc.category, now_iso(), doc.to_json(), doc.uid))
            if event:
                self._journal(db, event, doc.input_id, doc.id, actor, **details)

    def transition(self, doc_id: str, from_state: str, to_state: str, event: str, actor: str = "mailroom",
                   *, document: Document | None = None, example: tuple[str, str] | None = None,
                   **details) -> Transition:
        """Move a document from ``from_state`` to ``to_state`` only if it is still in ``from_state``
        (compare-and-set), writing ``document``'s body (when given), the journal event and, for a person's
        decision, the labelled training ``example`` (``(category, source)``, over the document's text) in the
        same transaction. A lost race or a move the lifecycle does not allow changes nothing."""
        if not allowed(DOCUMENT_TRANSITIONS, from_state, to_state, event):
            current = self.get_document(doc_id)
            return Transition(False, current, current.state if current else None, illegal=True)
        if event == REGISTERED:
            raise ValueError("registration numbers are allocated by register_pending, in claim order")
        with self._tx() as db:
            moved, doc = self._move(db, doc_id, from_state, to_state, event, actor, document, details)
            if moved and example is not None:
                self._add_example(db, example[0], doc.text, example[1], doc_id, actor)
        if moved:
            return Transition(True, doc, str(to_state))
        current = self.get_document(doc_id)
        state = current.state if current else None
        by, at = self._last_move(DOCUMENT_TRANSITIONS, state, document_id=doc_id)
        return Transition(False, current, state, by, at)

    def _move(self, db, doc_id: str, from_state: str, to_state: str, event: str, actor: str,
              document: Document | None, details: dict) -> tuple[bool, Document | None]:
        """The compare-and-set of ``transition`` inside an open transaction: (moved, the document)."""
        row = db.execute("SELECT state, body FROM documents WHERE id = ?", (doc_id,)).fetchone()
        if row is None or row["state"] != from_state:
            return False, None
        doc = document if document is not None else Document.from_json(row["body"])
        _keep_deliveries(doc, row["body"])
        previous = doc.state
        doc.state = to_state
        try:
            db.execute("UPDATE documents SET state = ?, category = ?, updated_at = ?, body = ?"
                       " WHERE id = ? AND state = ?",
                       (str(to_state), doc.category, now_iso(), doc.to_json(), doc_id, str(from_state)))
            self._journal(db, event, doc.input_id, doc_id, actor, **details)
        except BaseException:
            doc.state = previous
            raise
        return True, doc

    def last_move(self, document_id: str, state: str) -> tuple[str | None, str | None]:
        """Who put this document in ``state``, and when."""
        return self._last_move(DOCUMENT_TRANSITIONS, state, document_id=document_id)

    def _last_move(self, table: dict, state: str | None, document_id: str | None = None,
                   input_id: str | None = None) -> tuple[str | None, str | None]:
        """Who made the move that put a record in ``state``, and when (its latest journal event)."""
        kinds = sorted({event for (_, to), events in table.items() if to == state for event in events} - {REGISTERED})
        if not kinds:
            return None, None
        column, value = ("document_id", document_id) if document_id else ("input_id", input_id)
        row = self._db().execute(
            f"SELECT actor, at FROM events WHERE {column} = ? AND kind IN ({','.join('?' * len(kinds))})"
            + (" AND document_id IS NULL" if column == "input_id" else "") + " ORDER BY id DESC LIMIT 1",
            (value, *kinds)).fetchone()
        return (row["actor"], row["at"]) if row else (None, None)

    def get_document(self, document_id: str) -> Document | None:
        row = self._db().execute(_DOCUMENT_SELECT + " WHERE d.id = ?", (document_id,)).fetchone()
        return _document(row) if row else None

    def document_by_uid(self, uid: str) -> Document | None:
        row = self._db().execute("SELECT body FROM documents WHERE uid = ?", (uid,)).fetchone()
        return Document.from_json(row["body"]) if row else None

    def documents(self, *states: str, input_id: str | None = None) -> list[Document]:
        query, args = _DOCUMENT_SELECT + " WHERE 1=1", []
        if states:
            query += f" AND d.state IN ({','.join('?' * len(states))})"
            args.extend(states)
        if input_id:
            query += " AND d.input_id = ?"
            args.append(input_id)
        rows = self._db().execute(query + " ORDER BY d.input_id, d.seq", args).fetchall()
        return [_document(r) for r in rows]

    def document_counts(self) -> dict[str, int]:
        rows = self._db().execute("SELECT state, COUNT(*) FROM documents GROUP BY state").fetchall()
        return {r[0]: r[1] for r in rows}

    def input_counts(self) -> dict[str, int]:
        rows = self._db().execute("SELECT state, COUNT(*) FROM inputs GROUP BY state").fetchall()
        return {r[0]: r[1] for r in rows}

    def update_acknowledgement(self, document_id: str, expected: tuple, changes: dict[str, Any],
                               event: str | None = None, actor: str = "mailroom", **details) -> Document | None:
        """``update_delivery`` of the document's acknowledgement of receipt."""
        return self.update_delivery(document_id, ("acknowledgement",), expected, changes, event, actor, **details)

    def update_delivery(self, document_id: str, path: tuple[str, ...], expected: tuple, changes: dict[str, Any],
                        event: str | None = None, actor: str = "mailroom", **details) -> Document | None:
        """Compare-and-set on one letter mailroom sends (the acknowledgement, a transmission's slip or notice:
        the dict at ``path`` in the document): applied only if its state is one of ``expected``.

        Two workers (or a worker and a supervisor) racing for one of them: one wins, the other gets None.
        Only that dict changes (a stage writing the whole document meanwhile cannot undo it, nor be undone);
        the change and its journal event are one transaction.
        """
        with self._tx() as db:
            row = db.execute(_DOCUMENT_SELECT + " WHERE d.id = ?", (document_id,)).fetchone()
            if row is None:
                return None
            doc = _document(row)
            current = _at(doc, path)
            if current.get("state") not in expected:
                return None
            current.update(changes)
            pointer = "$." + ".".join(path)
            db.execute("UPDATE documents SET body = json_set(body, ?, json(?)), updated_at = ? WHERE id = ?",
                       (pointer, json.dumps(current, ensure_ascii=False), now_iso(), document_id))
            if event:
                self._journal(db, event, doc.input_id, doc.id, actor, state=changes.get("state"), **details)
        return doc

    def open_deliveries(self, paths: list[tuple[str, ...]], states: tuple[str, ...]) -> list[Document]:
        """Filed letters with something to send in one of ``states`` (a query, not a scan of every letter)."""
        marks = ",".join("?" * len(states))
        where = " OR ".join(f"json_extract(body, '$.{'.'.join(path)}.state') IN ({marks})" for path in paths)
        # the expression indexes find them; `+d.state` keeps SQLite from reading every filed letter instead
        rows = self._db().execute(_DOCUMENT_SELECT + " WHERE d.id IN (SELECT id FROM documents WHERE"
                                  f" {where}) AND +d.state = 'published' ORDER BY d.input_id, d.seq",
                                  states * len(paths)).fetchall()
        return [_document(r) for r in rows]

    def documents_by_deadline(self, start: str | None, end: str, limit: int) -> list[Document]:
        """Letters whose processing deadline (ISO date) is within [start, end], nearest first; rejected ones,
        duplicates and quarantined letters excepted (the dashboard's overdue and due-soon lists)."""
        rows = self._db().execute(
            _DOCUMENT_SELECT + " WHERE json_extract(d.body, '$.deadline') BETWEEN ? AND ?"
            " AND d.state NOT IN ('rejected', 'duplicate', 'quarantined')"
            " ORDER BY json_extract(d.body, '$.deadline'), d.input_id, d.seq LIMIT ?",
            (start or "0000-00-00", end, limit)).fetchall()
        return [_document(r) for r in rows]

    def batch_members(self, paths: list[tuple[str, ...]], batch: str) -> list[str]:
        """The files already in one day's print batch (by the ``batch`` recorded with each)."""
        found = []
        for path in paths:
            pointer = "$." + ".".join(path)
            found += [r[0] for r in self._db().execute(
                f"SELECT json_extract(body, '{pointer}.file') FROM documents"
                f" WHERE json_extract(body, '{pointer}.batch') = ?", (batch,))]
        return [f for f in found if f]

    # -- registration --------------------------------------------------------------------
    def register_pending(self, number_format: str, year_of) -> list[str]:
        """The registration transition: numbers for every letter whose turn has come, in claim order.

        Letters are numbered in the order their scans were claimed (the inputs' sequence), one
        after the other in one transaction under SQLite's write lock: never twice, gap-free, and a
        crash before the commit allocates nothing. The letters of a scan are numbered only once
        every scan claimed before it has been split or settled: a scan still waiting to be split
        stops the numbering there (whichever process or worker splits it, and in whatever order
        splits complete). A scan quarantined before it could be split gets a number of its own
        (its register line says what became of it); duplicates are not new letters and get none.
        Each number is a ``registered`` move of the lifecycle (``records``), applied by the same
        compare-and-set as ``transition``, with its event. Returns the numbers allocated.
        """
        allocated = []
        with self._tx() as db:
            blocker = self._registration_blocker(db)
            rows = db.execute(
                "SELECT d.id AS document_id, d.state, i.id AS input_id, i.received_at, i.seq, d.seq AS doc_seq"
                " FROM documents d JOIN inputs i ON i.id = d.input_id"
                " LEFT JOIN registrations r ON r.document_id = d.id"
                " WHERE r.number IS NULL AND d.state != 'duplicate' AND i.state != 'duplicate' AND (? IS NULL OR i.seq < ?)"
                " UNION ALL SELECT NULL, i.state, i.id, i.received_at, i.seq, 0 FROM inputs i"
                " LEFT JOIN registrations r ON r.document_id = i.id"
                " WHERE i.state = 'quarantined' AND r.number IS NULL AND (? IS NULL OR i.seq < ?)"
                " AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.input_id = i.id)"
                " ORDER BY 5, 6", (blocker, blocker, blocker, blocker)).fetchall()
            for row in rows:
                table = DOCUMENT_TRANSITIONS if row["document_id"] else INPUT_TRANSITIONS
                if not allowed(table, row["state"], row["state"], REGISTERED):
                    continue
                year = year_of(row["received_at"])
                seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM registrations WHERE year = ?",
                                 (year,)).fetchone()[0]
                number = number_format.format(year=year, seq=seq)
                details = {"number": number, "year": year, "seq": seq, "received_at": row["received_at"]}
                if row["document_id"] is None:  # a scan that never became letters: the scan itself is registered
                    db.execute("UPDATE inputs SET updated_at = ? WHERE id = ?", (now_iso(), row["input_id"]))
                    self._journal(db, REGISTERED, row["input_id"], **details)
                else:
                    doc = Document.from_json(db.execute("SELECT body FROM documents WHERE id = ?",
                                                        (row["document_id"],)).fetchone()["body"])
                    doc.registration = number
                    self._move(db, doc.id, row["state"], row["state"], REGISTERED, "mailroom", doc, details)
                db.execute("INSERT INTO registrations(number, year, seq, document_id, input_id, received_at,"
                           " registered_at) VALUES (?,?,?,?,?,?,?)",
                           (number, year, seq, row["document_id"] or row["input_id"], row["input_id"],
                            row["received_at"], now_iso()))
                allocated.append(number)
        return allocated

    @staticmethod
    def _registration_blocker(db) -> int | None:
        """The claim sequence of the first scan still waiting to be split (none registered as a scan)."""
        return db.execute("SELECT MIN(i.seq) FROM inputs i WHERE i.state = 'received'"
                          " AND NOT EXISTS (SELECT 1 FROM documents d WHERE d.input_id = i.id)"
                          " AND NOT EXISTS (SELECT 1 FROM registrations r WHERE r.document_id = i.id)").fetchone()[0]

    def registration_blocker(self) -> tuple[str, str] | None:
        """The first scan the numbering waits for: (input id, when it last changed), or None."""
        seq = self._registration_blocker(self._db())
        if seq is None:
            return None
        row = self._db().execute("SELECT id, updated_at FROM inputs WHERE seq = ?", (seq,)).fetchone()
        return row["id"], row["updated_at"]

    def registrations(self) -> list[dict[str, Any]]:
        rows = self._db().execute("SELECT * FROM registrations ORDER BY year, seq").fetchall()
        return [dict(r) for r in rows]

    # -- users (review app) --------------------------------------------------------
    # categories: comma-separated category ids the account may see; empty = every category.
    def add_user(self, name: str, password_hash: str, role: str, categories: list[str] | None = None,
                 actor: str = "admin") -> None:
        """Create an account, or replace its password and role (and categories when given).

        A new password ends the account's open sessions, in the same transaction."""
        with self._tx() as db:
            old = db.execute("SELECT password_hash, categories FROM users WHERE name = ?", (name,)).fetchone()
            kept = old["categories"] if old else ""
            joined = ",".join(categories) if categories is not None else kept
            db.execute("INSERT OR REPLACE INTO users(name, password_hash, role, created_at, categories)"
                       " VALUES (?,?,?,?,?)", (name, password_hash, role, now_iso(), joined))
            self._journal(db, "user-added" if old is None else "user-changed", actor=actor, user=name, role=role,
                          categories=_split_categories(joined))
            if old is not None and old["password_hash"] != password_hash:
                self._revoke_sessions(db, name, "password")

    def set_user(self, name: str, actor: str = "admin", role: str | None = None,
                 categories: list[str] | None = None, password_hash: str | None = None) -> bool:
        """Change what is given of an existing account; False when there is no such account."""
        with self._tx() as db:
            old = db.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone()
            if old is None:
                return False
            role = role if role is not None else old["role"]
            joined = ",".join(categories) if categories is not None else old["categories"]
            new_hash = password_hash or old["password_hash"]
            db.execute("UPDATE users SET role = ?, categories = ?, password_hash = ? WHERE name = ?",
                       (role, joined, new_hash, name))
            self._journal(db, "user-changed", actor=actor, user=name, role=role,
                          categories=_split_categories(joined), password_changed=password_hash is not None)
            if new_hash != old["password_hash"]:
                self._revoke_sessions(db, name, "password")
        return True

    def get_user(self, name: str) -> dict[str, Any] | None:
        row = self._db().execute("SELECT name, password_hash, role, categories FROM users WHERE name = ?",
                                 (name,)).fetchone()
        return _user_row(row) if row else None

    def users(self) -> list[dict[str, Any]]:
        rows = self._db().execute("SELECT name, password_hash, role, categories, created_at FROM users"
                                  " ORDER BY name").fetchall()
        return [_user_row(row) | {"created_at": row["created_at"]} for row in rows]

    def has_users(self) -> bool:
        return self._db().execute("SELECT 1 FROM users LIMIT 1").fetchone() is not None

    # -- review sessions (server-side; the browser holds a signed random id, the table its hash) ------------
    def session_open(self, id_hash: str, user: str, credential: str, now: float, expires_at: float) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO sessions(id_hash, user, credential, created_at, seen_at, expires_at)"
                       " VALUES (?,?,?,?,?,?)", (id_hash, user, credential, now, now, expires_at))

    def session_get(self, id_hash: str) -> dict[str, Any] | None:
        row = self._db().execute("SELECT * FROM sessions WHERE id_hash = ?", (id_hash,)).fetchone()
        return dict(row) | {"flash": json.loads(row["flash"])} if row else None

    def session_touch(self, id_hash: str, now: float) -> None:
        with self._tx() as db:
            db.execute("UPDATE sessions SET seen_at = ? WHERE id_hash = ?", (now, id_hash))

    def session_flash(self, id_hash: str, messages: list[str]) -> None:
        """Replace the messages waiting for the next page of this session."""
        with self._tx() as db:
            db.execute("UPDATE sessions SET flash = ? WHERE id_hash = ?",
                       (json.dumps(messages, ensure_ascii=False), id_hash))

    def session_close(self, id_hash: str, reason: str = "logout") -> None:
        with self._tx() as db:
            row = db.execute("SELECT user FROM sessions WHERE id_hash = ?", (id_hash,)).fetchone()
            db.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))
            if row is not None and reason != "logout":
                self._journal(db, "review-session-ended", actor=row["user"], reason=reason)

    def sessions_expire(self, idle_before: float, now: float) -> int:
        with self._tx() as db:
            return db.execute("DELETE FROM sessions WHERE seen_at < ? OR expires_at < ?",
                              (idle_before, now)).rowcount

    def session_count(self, user: str) -> int:
        return self._db().execute("SELECT COUNT(*) FROM sessions WHERE user = ?", (user,)).fetchone()[0]

    def _revoke_sessions(self, db, user: str, reason: str) -> None:
        count = db.execute("DELETE FROM sessions WHERE user = ?", (user,)).rowcount
        if count:
            self._journal(db, "review-sessions-revoked", actor=user, reason=reason, sessions=count)

    # -- review throughput: decisions and the views that preceded them ------------------------------
    def review_activity(self, since: str) -> list[dict[str, Any]]:
        """Supervisors' decisions (reviewed, rejected) since an ISO time, each with the time its decider
        last opened the document before deciding (None when never opened through the app)."""
        rows = self._db().execute(
            "SELECT e.document_id, e.actor, e.at, e.kind, d.category,"
            " (SELECT MAX(v.at) FROM events v WHERE v.kind = 'review-viewed' AND v.document_id = e.document_id"
            "  AND v.actor = e.actor AND v.id < e.id) AS viewed_at"
            " FROM events e LEFT JOIN documents d ON d.id = e.document_id"
            " WHERE e.kind IN ('reviewed', 'rejected') AND e.at >= ? ORDER BY e.id", (since,)).fetchall()
        return [dict(row) for row in rows]

    # -- leases: one holder at a time across threads, processes and restarts -----------------------------
    def take_lease(self, name: str, seconds: float) -> str | None:
        """Hold ``name`` for at most ``seconds`` unless another holder has it: the holder's token, or None.
        A lease whose time is over, or whose process on this host has died (kill -9), is taken over."""
        holder = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
        now = time.time()
        with self._tx() as db:
            row = db.execute("SELECT holder, until FROM leases WHERE name = ?", (name,)).fetchone()
            if row is not None and row["until"] > now and _alive(row["holder"]):
                return None
            db.execute("INSERT OR REPLACE INTO leases(name, holder, until) VALUES (?,?,?)", (name, holder, now + seconds))
        return holder

    def release_lease(self, name: str, holder: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))

    # -- labelled examples (supervisor corrections, cover sheets) ---------------------
    def add_example(self, category: str, text: str, source: str, document_id: str | None = None,
                    actor: str | None = None) -> None:
        with self._tx() as db:
            self._add_example(db, category, text, source, document_id, actor)

    @staticmethod
    def _add_example(db, category: str, text: str, source: str, document_id: str | None, actor: str | None) -> None:
        db.execute("INSERT INTO examples(document_id, category, text, source, actor, at) VALUES (?,?,?,?,?,?)",
                   (document_id, category, text, source, actor, now_iso()))

    def examples(self) -> list[dict[str, Any]]:
        rows = self._db().execute("SELECT document_id, category, text, source, actor, at FROM examples ORDER BY id")
        return [dict(r) for r in rows.fetchall()]


def _alive(holder: str) -> bool:
    """Whether a lease holder (host:pid:thread) may still be working: always, when it is on another host."""
    host, pid, _ = holder.split(":", 2)
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError):  # someone else's process, or a holder we cannot read: not ours to free
        pass
    return True


_DOCUMENT_SELECT = ("SELECT d.body, r.number AS registration FROM documents d"
                    " LEFT JOIN registrations r ON r.document_id = d.id")


def _document(row: sqlite3.Row) -> Document:
    """The registrations table is the truth for the number; the body may predate it."""
    doc = Document.from_json(row["body"])
    if row["registration"]:
        doc.registration = row["registration"]
    return doc


def _keep_deliveries(doc: Document, stored_body: str) -> None:
    """What mailroom sends (acknowledgement, transmission) changes only through ``update_delivery``: a stage
    writing the whole document keeps the stored value, so a supervisor's cancel racing it is never lost."""
    stored = json.loads(stored_body)
    doc.acknowledgement = stored.get("acknowledgement") or {}
    doc.transmission = stored.get("transmission") or {}


def _at(doc: Document, path: tuple[str, ...]) -> dict[str, Any]:
    """The dict at ``path`` in a document (made when missing)."""
    current = getattr(doc, path[0])
    for key in path[1:]:
        current = current.setdefault(key, {})
    return current


def _split_categories(joined: str) -> list[str]:
    return [c for c in (joined or "").split(",") if c]


def _user_row(row: sqlite3.Row) -> dict[str, Any]:
    return {"name": row["name"], "password_hash": row["password_hash"], "role": row["role"],
            "categories": _split_categories(row["categories"])}


def _event(r: sqlite3.Row) -> Event:
    return Event(r["id"], r["at"], r["kind"], r["input_id"], r["document_id"], r["actor"], json.loads(r["details"]),
                 r["prev_hash"], r["prev_doc_hash"], r["hash"])


def _input_row(row: sqlite3.Row) -> InputRow:
    return InputRow(row["id"], row["sha256"], row["original_name"], row["spool_path"], row["inbox"],
                    row["split_mode"], row["received_at"], row["size"], row["state"], row["reason"],
                    row["attempts"], row["duplicate_of"])
