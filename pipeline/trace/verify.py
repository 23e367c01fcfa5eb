"""`mailroom verify`: recompute the journal's chains, the seals, every file fingerprint and every
timestamp token, and say in one line per problem which document and what differs.

Exit codes: 0 all intact, 1 at least one problem (one line each on stdout), 2 the check could not
be made (unknown document id, configuration, SharePoint unreachable with --remote).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..config import Config
from ..errors import CannotCheck
from ..files import sha256_file
from ..records import PUBLISHED, Document
from ..store import Store
from .chain import check_chain
from .tsa import check_token

@dataclass
class Problem:
    subject: str   # document or input id, "journal" or a seal file
    what: str      # file changed | file missing | event changed | event missing | timestamp invalid | seal invalid
    detail: str

    def line(self) -> str:
        return f"{self.subject}: {self.what}: {self.detail}"


@dataclass
class Report:
    checked: list[str]
    problems: list[Problem]

    def per_document(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {doc_id: [] for doc_id in self.checked}
        for problem in self.problems:
            everyone = problem.subject == "journal" or problem.subject.startswith("proofs/")
            for doc_id in self.checked:  # a broken journal or seal puts every copy in doubt
                if everyone or problem.subject == doc_id or doc_id.startswith(problem.subject + "-"):
                    out[doc_id].append(problem.line())
        return out


def latest_fingerprint(store: Store, doc_id: str) -> str | None:
    """The published PDF's fingerprint as the journal says (the last one, after any migration)."""
    value = None
    for event in store.events(document_id=doc_id):
        if event.kind in ("fingerprinted", "published") and event.details.get("pdf_sha256"):
            value = event.details["pdf_sha256"]
        elif event.kind == "fingerprint-changed":
            value = event.details.get("after")
    return value


def purged_inputs(store: Store) -> set[str]:
    return {e.input_id for e in store.events(kind="purged") if e.details.get("what") == "original"}


class Verifier:
    def __init__(self, config: Config, store: Store, remote: bool = False):
        self.config, self.store, self.remote = config, store, remote
        self._publisher = None
        self._purged = purged_inputs(store)

    def run(self, ids: list[str] | None = None) -> Report:
        documents = self._documents(ids)
        problems = [Problem(p.subject, p.what, p.detail) for p in check_chain(self.store.raw_events())]
        problems += self._seals()
        if ids:
            wanted = {d.id for d in documents} | {d.input_id for d in documents}
            problems = [p for p in problems if p.subject in wanted or p.subject == "journal"
                        or p.subject.startswith("proofs/")]
        inputs_done: set[str] = set()
        for doc in documents:
            problems += self._document(doc)
            if doc.input_id not in inputs_done:
                inputs_done.add(doc.input_id)
                problems += self._original(doc)
        return Report([d.id for d in documents], problems)

    def _documents(self, ids: list[str] | None) -> list[Document]:
        if not ids:
            return self.store.documents(PUBLISHED)
        found = []
        for wanted in ids:
            doc = self.store.get_document(wanted)
            batch = self.store.documents(input_id=wanted) if doc is None else [doc]
            if not batch:
                raise CannotCheck(f"unknown document or input id: {wanted}")
            found.extend(batch)
        return found

    # -- files ----------------------------------------------------------------------------------
    def _published_sha256(self, doc: Document) -> tuple[str | None, str]:
        """(fingerprint of the published copy as it is now, where it was read)."""
        if self.config.publish.backend == "sharepoint":
            if not self.remote:
                path = Path(doc.pdf) if doc.pdf else None
                if path and path.is_file():
                    return sha256_file(path), f"work copy {path}"
                return None, "no local copy (use --remote to download it from SharePoint)"
            try:
                data = self.publisher.fetch_content(doc.destination)
            except Exception as error:  # any failure to download is "cannot check", not "changed"
                raise CannotCheck(f"{doc.id}: cannot download {doc.destination}: {error}") from error
            return hashlib.sha256(data).hexdigest(), doc.destination
        path = Path(doc.destination or "")
        if not path.is_file():
            return None, str(path)
        return sha256_file(path), str(path)

    @property
    def publisher(self):
        if self._publisher is None:
            from ..publish import make_publisher
            self._publisher = make_publisher(self.config)
        return self._publisher

    def _document(self, doc: Document) -> list[Problem]:
        problems = []
        if doc.state != PUBLISHED:
            return problems
        expected = latest_fingerprint(self.store, doc.id)
        if expected and doc.pdf_sha256 and doc.pdf_sha256 != expected:
            problems.append(Problem(doc.id, "event changed", f"the document record says {doc.pdf_sha256[:16]}…, "
                                    f"the journal {expected[:16]}…"))
        if expected:
            actual, where = self._published_sha256(doc)
            if actual is None and "no local copy" not in where:
                problems.append(Problem(doc.id, "file missing", f"published PDF not found: {where}"))
            elif actual is not None and actual != expected:
                problems.append(Problem(doc.id, "file changed", f"published PDF {where}: sha256 {actual[:16]}… "
                                        f"instead of {expected[:16]}…"))
        problems += self._timestamps(doc, expected)
        return problems

    def _original(self, doc: Document) -> list[Problem]:
        row = self.store.get_input(doc.input_id)
        if row is None or doc.input_id in self._purged:
            return []
        received = self.store.events(input_id=doc.input_id, kind="received")
        expected = received[0].details.get("sha256") if received else row.sha256
        path = Path(row.spool_path)
        if not path.is_file():
            return [Problem(doc.input_id, "file missing", f"original scan not found: {path}")]
        actual = sha256_file(path)
        if actual != expected:
            return [Problem(doc.input_id, "file changed", f"original scan {path}: sha256 {actual[:16]}… "
                            f"instead of {expected[:16]}…")]
        return []

    # -- timestamps and seals ---------------------------------------------------------------------
    def _timestamps(self, doc: Document, expected: str | None) -> list[Problem]:
        problems = []
        stamped = self.store.events(document_id=doc.id, kind="timestamped")
        for event in stamped:
            token = self.config.home / event.details["token"]
            error = check_token(token, event.details["pdf_sha256"], self.config.trace)
            if error:
                problems.append(Problem(doc.id, "timestamp invalid", f"{event.details['token']}: {error}"))
        if stamped and expected and stamped[-1].details["pdf_sha256"] != expected:
            problems.append(Problem(doc.id, "timestamp invalid", "the last timestamp covers an older fingerprint"))
        return problems

    def _seals(self) -> list[Problem]:
        problems = []
        stamped = {e.details.get("file"): e for e in self.store.events(kind="seal-timestamped")}
        for seal in self.store.events(kind="sealed"):
            name = seal.details["file"]
            path = self.config.home / name
            try:
                data = path.read_bytes()
                content = json.loads(data)
            except (OSError, ValueError) as error:
                problems.append(Problem(name, "seal invalid", f"seal file unreadable: {error}"))
                continue
            if hashlib.sha256(data).hexdigest() != seal.details.get("sha256"):
                problems.append(Problem(name, "seal invalid", "the seal file differs from the journal"))
            head = self.store.event_by_id(int(content.get("head_id", 0)))
            if head is None:
                problems.append(Problem("journal", "event missing",
                                        f"event {content.get('head_id')} sealed in {name} is gone"))
            elif head["hash"] != content.get("head_hash"):
                problems.append(Problem("journal", "event changed",
                                        f"event {content['head_id']} no longer has the hash sealed in {name}"))
            elif len(self.store.raw_events(up_to=head["id"])) != content.get("events"):
                problems.append(Problem("journal", "event missing",
                                        f"{name} sealed {content.get('events')} events up to {head['id']}"))
            if name in stamped:
                error = check_token(self.config.home / stamped[name].details["token"],
                                    hashlib.sha256(data).hexdigest(), self.config.trace)
                if error:
                    problems.append(Problem(name, "timestamp invalid", error))
        return problems


def verify(config: Config, store: Store, ids: list[str] | None = None, remote: bool = False,
           record: bool = True) -> Report:
    report = Verifier(config, store, remote).run(ids)
    if record:
        store.record_checks(report.per_document(), scope="all" if not ids else ",".join(ids), remote=remote)
    return report
