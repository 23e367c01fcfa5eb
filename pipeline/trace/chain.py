"""The tamper-evident journal: a canonical serialisation of each event and two SHA-256 chains.

Every event carries the hash of the previous event of the installation (``prev_hash``) and of
the previous event of the same subject (``prev_doc_hash``: the same document, or for an event
about an input alone, the same input). Its own ``hash`` is SHA-256 over the canonical form below,
which is plain ASCII JSON so that anyone can recompute it with ``sha256sum``.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Iterable

GENESIS = "0" * 64  # the "previous hash" of the first event of a chain


def canonical(event: dict[str, Any]) -> bytes:
    """The bytes that are hashed: sorted keys, no spaces, ASCII only (non-ASCII as \\u escapes)."""
    details = event["details"]
    if isinstance(details, str):
        details = json.loads(details)
    body = {
        "id": event["id"], "at": event["at"], "kind": event["kind"], "input_id": event["input_id"],
        "document_id": event["document_id"], "actor": event["actor"], "details": details,
        "prev_hash": event["prev_hash"], "prev_doc_hash": event["prev_doc_hash"],
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def event_hash(event: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(event)).hexdigest()


def subject(event: dict[str, Any]) -> tuple[str, str] | None:
    """Which per-subject chain an event belongs to."""
    if event.get("document_id"):
        return ("document", event["document_id"])
    if event.get("input_id"):
        return ("input", event["input_id"])
    return None


@dataclass
class ChainProblem:
    event_id: int
    subject: str          # the document or input id the event is about, or "journal"
    what: str             # "event changed" | "event missing" | "event unreadable"
    detail: str

    def line(self) -> str:
        return f"{self.subject}: {self.what}: event {self.event_id}: {self.detail}"


def check_chain(events: Iterable[dict[str, Any]]) -> list[ChainProblem]:
    """Recompute every hash and every link, in id order.

    An edited event no longer matches its hash ("event changed"); an edited and re-hashed event
    breaks the link of the event after it; a deleted event leaves a gap in the ids and a broken
    link ("event missing"), on the installation's chain and on its document's chain.
    """
    problems: list[ChainProblem] = []
    previous: dict[str, Any] | None = None
    last_of: dict[tuple[str, str], dict[str, Any]] = {}
    for event in events:
        key = subject(event)
        name = key[1] if key else "journal"
        try:
            intact = bool(event.get("hash")) and event_hash(event) == event["hash"]
        except (ValueError, TypeError):  # details that are not JSON any more
            intact = False
        if not intact:
            problems.append(ChainProblem(event["id"], name, "event changed",
                                         f"« {event['kind']} » of {event['at']} does not match its hash"))
        expected = previous["hash"] if previous else GENESIS
        if event.get("prev_hash") != expected:
            gap = event["id"] - (previous["id"] if previous else 0) > 1
            problems.append(ChainProblem(
                event["id"], "journal", "event missing" if gap else "event changed",
                f"the event before « {event['kind']} » of {event['at']} was "
                + ("deleted" if gap else "altered")))
        if key is not None:
            before = last_of.get(key)
            expected = before["hash"] if before else GENESIS
            if event.get("prev_doc_hash") != expected:
                problems.append(ChainProblem(
                    event["id"], name, "event missing",
                    f"an event of {name} before « {event['kind']} » of {event['at']} was deleted or altered"))
            last_of[key] = event
        previous = event
    return problems
