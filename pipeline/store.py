"""SQLite state: inputs, documents, the append-only journal, users and labelled examples.

Only this module touches the database. Every process opens its own ``Store``;
WAL mode and a busy timeout let the watcher, the workers and the review app
share one file safely.
"""
from __future__ import annotations

import json
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from .records import Document

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
    state TEXT NOT NULL,            -- received | split | done | quarantined | duplicate
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
    state TEXT NOT NULL,
    category TEXT,
    updated_at TEXT NOT NULL,
    body TEXT NOT NULL              -- Document as JSON
);
CREATE INDEX IF NOT EXISTS documents_state ON documents(state);

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

CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    created_at TEXT NOT NULL
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
class Event:
    id: int
    at: str
    kind: str
    input_id: str | None
    document_id: str | None
    actor: str
    details: dict[str, Any]


class Store:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._db().executescript(SCHEMA)  # executescript manages its own transaction

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

    # -- journal ------------------------------------------------------------
    def _journal(self, db, kind: str, input_id=None, document_id=None, actor="mailroom", **details) -> None:
        db.execute(
            "INSERT INTO events(at, kind, input_id, document_id, actor, details) VALUES (?,?,?,?,?,?)",
            (now_iso(), kind, input_id, document_id, actor, json.dumps(details, ensure_ascii=False, default=str)),
        )

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
        return [Event(r["id"], r["at"], r["kind"], r["input_id"], r["document_id"], r["actor"], json.loads(r["details"]))
                for r in rows]

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
        with self._tx() as db:
            db.execute(
                "UPDATE inputs SET state = ?, reason = COALESCE(?, reason), spool_path = COALESCE(?, spool_path),"
                " updated_at = ? WHERE id = ?",
                (state, reason, spool_path, now_iso(), input_id))
            if event:
                if reason:
                    details["reason"] = reason
                self._journal(db, event, input_id, **details)

    def count_input_attempt(self, input_id: str) -> int:
        with self._tx() as db:
            db.execute("UPDATE inputs SET attempts = attempts + 1 WHERE id = ?", (input_id,))
            return db.execute("SELECT attempts FROM inputs WHERE id = ?", (input_id,)).fetchone()[0]

    # -- documents --------------------------------------------------------------
    def create_documents(self, input_id: str, documents: list[Document], **details) -> None:
        """Insert the split result of one input and mark the input split, in one transaction."""
        with self._tx() as db:
            db.execute("DELETE FROM documents WHERE input_id = ? AND state = 'split'", (input_id,))
            for seq, doc in enumerate(documents, start=1):
                db.execute("INSERT OR REPLACE INTO documents(id, input_id, seq, state, category, updated_at, body)"
                           " VALUES (?,?,?,?,?,?,?)",
                           (doc.id, input_id, seq, doc.state, doc.category, now_iso(), doc.to_json()))
            db.execute("UPDATE inputs SET state = 'split', updated_at = ? WHERE id = ?", (now_iso(), input_id))
            self._journal(db, "split", input_id, documents=[d.id for d in documents],
                          source_pages=[d.source_pages for d in documents], **details)

    def save_document(self, doc: Document, event: str | None = None, actor: str = "mailroom", **details) -> None:
        """Persist a document and, in the same transaction, the journal event that explains the change."""
        with self._tx() as db:
            seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM documents WHERE input_id = ?",
                             (doc.input_id,)).fetchone()[0]
            db.execute(
                "INSERT INTO documents(id, input_id, seq, state, category, updated_at, body) VALUES (?,?,?,?,?,?,?)"
                " ON CONFLICT(id) DO UPDATE SET state = excluded.state, category = excluded.category,"
                " updated_at = excluded.updated_at, body = excluded.body",
                (doc.id, doc.input_id, seq, doc.state, doc.category, now_iso(), doc.to_json()))
            if event:
                self._journal(db, event, doc.input_id, doc.id, actor, **details)

    def get_document(self, document_id: str) -> Document | None:
        row = self._db().execute(_DOCUMENT_SELECT + " WHERE d.id = ?", (document_id,)).fetchone()
        return _document(row) if row else None

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
        """Compare-and-set on a document's acknowledgement: applied only if its state is one of ``expected``.

        Two workers (or a worker and a supervisor) racing for one acknowledgement: one wins, the
        other gets None. The change and its journal event are one transaction.
        """
        with self._tx() as db:
            row = db.execute(_DOCUMENT_SELECT + " WHERE d.id = ?", (document_id,)).fetchone()
            if row is None:
                return None
            doc = _document(row)
            if doc.acknowledgement.get("state") not in expected:
                return None
            doc.acknowledgement = {**doc.acknowledgement, **changes}
            db.execute("UPDATE documents SET body = ?, updated_at = ? WHERE id = ?",
                       (doc.to_json(), now_iso(), document_id))
            if event:
                self._journal(db, event, doc.input_id, doc.id, actor, state=changes.get("state"), **details)
        return doc

    # -- registration --------------------------------------------------------------------
    def register_pending(self, number_format: str, year_of, force_input: str | None = None) -> list[str]:
        """Give registration numbers to split documents, in the order their scans were claimed.

        One transaction under SQLite's write lock: numbers of a year are allocated one
        after the other, never twice, and a crash before the commit allocates nothing.
        Documents of an input claimed after one that is still waiting to be split wait
        too, so numbers follow the order of arrival; ``force_input`` registers that
        input's documents even so (its letter must not wait for a stuck batch).
        Duplicates (the same scan claimed again) are not new letters and get no number.
        Returns the numbers allocated.
        """
        allocated = []
        with self._tx() as db:
            blocker = db.execute("SELECT MIN(seq) FROM inputs WHERE state = 'received'").fetchone()[0]
            rows = db.execute(
                "SELECT d.id, d.input_id, i.received_at, i.seq AS input_seq FROM documents d"
                " JOIN inputs i ON i.id = d.input_id LEFT JOIN registrations r ON r.document_id = d.id"
                " WHERE r.number IS NULL AND d.state != 'duplicate' AND i.state != 'duplicate'"
                " AND (? IS NULL OR i.seq <= ? OR d.input_id = ?) ORDER BY i.seq, d.seq",
                (blocker, blocker, force_input)).fetchall()
            for row in rows:
                year = year_of(row["received_at"])
                seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM registrations WHERE year = ?",
                                 (year,)).fetchone()[0]
                number = number_format.format(year=year, seq=seq)
                db.execute("INSERT INTO registrations(number, year, seq, document_id, input_id, received_at,"
                           " registered_at) VALUES (?,?,?,?,?,?,?)",
                           (number, year, seq, row["id"], row["input_id"], row["received_at"], now_iso()))
                self._journal(db, "registered", row["input_id"], row["id"], number=number, year=year, seq=seq,
                              received_at=row["received_at"],
                              out_of_order=bool(blocker is not None and row["input_seq"] > blocker))
                allocated.append(number)
        return allocated

    def registrations(self) -> list[dict[str, Any]]:
        rows = self._db().execute("SELECT * FROM registrations ORDER BY year, seq").fetchall()
        return [dict(r) for r in rows]

    # -- users (review app) --------------------------------------------------------
    def add_user(self, name: str, password_hash: str, role: str) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO users(name, password_hash, role, created_at) VALUES (?,?,?,?)",
                       (name, password_hash, role, now_iso()))
            self._journal(db, "user-added", actor="admin", user=name, role=role)

    def get_user(self, name: str) -> dict[str, str] | None:
        row = self._db().execute("SELECT name, password_hash, role FROM users WHERE name = ?", (name,)).fetchone()
        return dict(row) if row else None

    # -- labelled examples (supervisor corrections, cover sheets) ---------------------
    def add_example(self, category: str, text: str, source: str, document_id: str | None = None,
                    actor: str | None = None) -> None:
        with self._tx() as db:
            db.execute("INSERT INTO examples(document_id, category, text, source, actor, at) VALUES (?,?,?,?,?,?)",
                       (document_id, category, text, source, actor, now_iso()))

    def examples(self) -> list[dict[str, Any]]:
        rows = self._db().execute("SELECT document_id, category, text, source, actor, at FROM examples ORDER BY id")
        return [dict(r) for r in rows.fetchall()]


_DOCUMENT_SELECT = ("SELECT d.body, r.number AS registration FROM documents d"
                    " LEFT JOIN registrations r ON r.document_id = d.id")


def _document(row: sqlite3.Row) -> Document:
    """The registrations table is the truth for the number; the body may predate it."""
    doc = Document.from_json(row["body"])
    if row["registration"]:
        doc.registration = row["registration"]
    return doc


def _input_row(row: sqlite3.Row) -> InputRow:
    return InputRow(row["id"], row["sha256"], row["original_name"], row["spool_path"], row["inbox"],
                    row["split_mode"], row["received_at"], row["size"], row["state"], row["reason"],
                    row["attempts"], row["duplicate_of"])
