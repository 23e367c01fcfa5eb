"""Proof written at publication: fingerprint of the published PDF, its RFC 3161 timestamp, the
format-migration rule, and the daily seal of the journal's chain head.

A time-stamping authority that is down delays the timestamp, never the filing: the document is
published first; a failed request is journaled and asked again with back-off by ``serve``.
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .. import __version__
from ..config import Config, to_toml_dict
from ..files import sha256_file, write_atomically
from ..records import PUBLISHED, Document
from ..store import Store, now_iso
from ..errors import TimestampError
from .tsa import request_token

log = logging.getLogger("mailroom")
MAX_RETRY_SECONDS = 3600
SEAL_KINDS = ("sealed", "seal-timestamped", "seal-timestamp-failed")


def config_fingerprint(config: Config) -> str:
    """SHA-256 of the effective configuration (secrets masked), as recorded with each copy."""
    data = to_toml_dict(config)
    return hashlib.sha256(json.dumps(data, sort_keys=True, ensure_ascii=True, default=str).encode()).hexdigest()


def published_file(config: Config, doc: Document) -> Path | None:
    """The local file holding the published bytes: the library copy, else the work copy."""
    if config.publish.backend == "local" and doc.destination and Path(doc.destination).is_file():
        return Path(doc.destination)
    if doc.pdf and Path(doc.pdf).is_file():
        return Path(doc.pdf)
    return None


def token_path(config: Config, doc: Document, sha256: str) -> Path:
    return config.proofs_dir / doc.id / f"{doc.id}-{sha256[:16]}.tsr"


def after_publish(config: Config, store: Store, doc: Document, actor: str = "mailroom") -> Document:
    """The published transition's proof: fingerprint and context in the journal, then the timestamp."""
    if doc.state != PUBLISHED:
        return doc
    path = published_file(config, doc)
    if path is None:
        return doc
    doc.pdf_sha256 = sha256_file(path)
    doc.timestamp, doc.timestamp_attempts, doc.timestamp_retry_after = None, 0, None
    store.save_document(doc, "fingerprinted", actor, pdf_sha256=doc.pdf_sha256, source_sha256=doc.source_sha256,
                        config_sha256=config_fingerprint(config), software=f"mailroom {__version__}",
                        pdfa=config.ocr.pdfa, reason="publication")
    return timestamp_document(config, store, doc)


def timestamp_document(config: Config, store: Store, doc: Document) -> Document:
    """Ask for a token over the published PDF; on failure, journal it and schedule the next try."""
    if not config.trace.timestamps or doc.timestamp or not doc.pdf_sha256:
        return doc
    path = published_file(config, doc)
    data = path.read_bytes() if path else None
    if data is None or hashlib.sha256(data).hexdigest() != doc.pdf_sha256:
        doc.timestamp_retry_after = None
        store.save_document(doc, "timestamp-failed", error="the published PDF is missing or changed since its "
                            "fingerprint; run mailroom verify", attempt=doc.timestamp_attempts)
        return doc
    try:
        token = request_token(config.trace, data, token_path(config, doc, doc.pdf_sha256))
    except TimestampError as error:
        doc.timestamp_attempts += 1
        delay = min(config.trace.tsa_retry_seconds * 2 ** (doc.timestamp_attempts - 1), MAX_RETRY_SECONDS)
        doc.timestamp_retry_after = (datetime.now(timezone.utc) + timedelta(seconds=delay)).isoformat()
        store.save_document(doc, "timestamp-failed", error=str(error), attempt=doc.timestamp_attempts,
                            retry_after=doc.timestamp_retry_after)
        log.warning("%s: no timestamp yet (attempt %d, next after %s): %s", doc.id, doc.timestamp_attempts,
                    doc.timestamp_retry_after, error)
        return doc
    doc.timestamp, doc.timestamp_retry_after = token.record(config.home), None
    store.save_document(doc, "timestamped", pdf_sha256=doc.pdf_sha256, **doc.timestamp)
    return doc


def pending_timestamps(config: Config, store: Store) -> list[Document]:
    if not config.trace.timestamps:
        return []
    return [d for d in store.documents(PUBLISHED) if d.pdf_sha256 and not d.timestamp]


def retry_due_timestamps(config: Config, store: Store, now: datetime | None = None) -> int:
    now = now or datetime.now(timezone.utc)
    done = 0
    for doc in pending_timestamps(config, store):
        if doc.timestamp_retry_after and datetime.fromisoformat(doc.timestamp_retry_after) > now:
            continue
        done += bool(timestamp_document(config, store, doc).timestamp)
    return done


def record_rewrite(config: Config, store: Store, doc: Document, reason: str, actor: str = "mailroom") -> Document:
    """Format-migration rule: a published PDF rewritten in place (metadata refreshed, format migrated)
    is fingerprinted and timestamped again; the journal keeps the old and the new fingerprints."""
    path = published_file(config, doc)
    if path is None or doc.state != PUBLISHED:
        return doc
    after = sha256_file(path)
    if after == doc.pdf_sha256:
        return doc
    before = doc.pdf_sha256
    doc.pdf_sha256, doc.timestamp, doc.timestamp_attempts, doc.timestamp_retry_after = after, None, 0, None
    store.save_document(doc, "fingerprint-changed", actor, before=before, after=after, reason=reason,
                        config_sha256=config_fingerprint(config), software=f"mailroom {__version__}")
    return timestamp_document(config, store, doc)


# -- daily seal of the journal ---------------------------------------------------------------------

def seal_journal(config: Config, store: Store, now: datetime | None = None) -> dict | None:
    """Write the chain head to proofs/seals/, timestamp that file, journal both. None when the
    journal has nothing new since the last seal."""
    events = store.raw_events()
    news = [e for e in events if e["kind"] not in SEAL_KINDS]
    last_seal = store.last_event("sealed")
    if not news or (last_seal and last_seal.details.get("head_id", 0) >= news[-1]["id"]):
        return None
    head = events[-1]
    now = (now or datetime.now()).astimezone()
    seal = {"sealed_at": now_iso(), "day": now.date().isoformat(), "head_id": head["id"], "head_hash": head["hash"],
            "events": len(events), "installation": str(config.home)}
    seal_file = config.proofs_dir / "seals" / f"seal-{now:%Y%m%d}-{head['id']:08d}.json"
    data = json.dumps(seal, ensure_ascii=False, indent=2).encode()
    write_atomically(seal_file, data)
    store.journal("sealed", file=str(seal_file.relative_to(config.home)), sha256=hashlib.sha256(data).hexdigest(),
                  **seal)
    timestamp_seal(config, store, seal_file)
    return seal


def timestamp_seal(config: Config, store: Store, seal_file: Path) -> bool:
    if not config.trace.timestamps:
        return False
    data = seal_file.read_bytes()
    name = str(seal_file.relative_to(config.home))
    try:
        token = request_token(config.trace, data, seal_file.with_suffix(".tsr"))
    except TimestampError as error:
        store.journal("seal-timestamp-failed", file=name, error=str(error))
        return False
    store.journal("seal-timestamped", file=name, sha256=hashlib.sha256(data).hexdigest(), **token.record(config.home))
    return True


def retry_seal_timestamps(config: Config, store: Store) -> int:
    """Seals made while the TSA was down get their token later."""
    done = {e.details.get("file") for e in store.events(kind="seal-timestamped")}
    return sum(timestamp_seal(config, store, config.home / e.details["file"])
               for e in store.events(kind="sealed") if e.details.get("file") not in done
               and (config.home / e.details["file"]).is_file())


def seal_due(store: Store, now: datetime | None = None) -> bool:
    """One seal a day: none yet today (local time)."""
    last = store.last_event("sealed")
    now = (now or datetime.now()).astimezone()
    return last is None or last.details.get("day", "") < now.date().isoformat()
