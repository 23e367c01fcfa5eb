"""Publication into SharePoint document libraries through office365-rest-python-client.

A routed document becomes one file in its category's library and folder, with
its metadata in the library's columns, exactly once whatever the network does:

* Identity. Every letter carries a globally unique uid (UUIDv7) in the
  library's identity column (« Identifiant », indexed, unique values). The
  publisher finds "its" file only by that column, with a CAML query scoped to
  the library, RowLimit 1, which stays under the 5,000-item list view
  threshold because the column is indexed: never a folder listing, never the
  Title (the human id L000012-01 restarts with every database, so a file of
  the same Title but another uid belongs to another installation and is left
  untouched; the new letter gets another name). The uid is written in the same
  ValidateUpdateListItem call as every other column, so a file found by uid is
  complete, and a later attempt answers already_there.
* Crash between upload and columns. Before the first byte is sent, the target
  URL is written to $MAILROOM_HOME/sharepoint/pending/<uid>.json. A later
  attempt that finds that file still without a uid takes it over (overwrites
  its content, then sets the columns) instead of adding a second copy. If the
  note was lost, a uid-less file met on a name clash with the same size and
  SHA-256 is adopted as well.
* Visibility. A library with minor versions gets each upload published as a
  major version; one with content approval leaves it « en attente
  d'approbation », which the result says.
* Concurrency. A lock file per stripe of document ids under the same folder
  keeps the watcher and `mailroom retry` from publishing one document at once.
* Faults. Every request runs in SharePointConnection.run (Retry-After, backoff
  with jitter, digest and token renewal). A connection cut during a chunk makes
  the whole upload session restart cleanly under a new upload id, since the
  server may or may not have taken the chunk. What still fails raises
  PublishError(transient=True), and the runner keeps the document queued.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import threading
import uuid
import warnings
from datetime import datetime, timezone
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit
from xml.sax.saxutils import escape

from ..config import Category, Config
from ..records import Document, PublishResult
from . import PublishError, document_title, folder_for
from ..files import write_atomically
from .local import metadata_columns
from office365.sharepoint.listitems.caml.query import CamlQuery

from .sharepoint_client import ConnectionDropped, SharePointConnection, SharePointFailure
from .sharepoint_names import base_name, candidate, folder_segments
from .sharepoint_schema import (TITLE_FIELD, Library, Regional, check_choices, find_column, form_values,
                                resolve_columns, site_zone)

log = logging.getLogger("pipeline.publish.sharepoint")
FILE_EXISTS = "-2130575257"
CHECKIN_COMMENT = "Déposé par mailroom"
MAX_NAME_TRIES = 50


@dataclass
class RemoteFile:
    name: str
    url: str                    # server-relative, decoded
    unique_id: str
    length: int
    checked_out: bool
    fields: dict                # list item values keyed by entity property name
    minor: int = 0              # MinorVersion: > 0 is a draft readers may not see
    item_id: int = 0

    @classmethod
    def from_client(cls, file, fields: dict | None = None) -> "RemoteFile":
        p = file.properties
        return cls(p.get("Name", ""), p.get("ServerRelativeUrl", ""), str(p.get("UniqueId", "")),
                   int(p.get("Length") or 0), int(p.get("CheckOutType", 2)) != 2, dict(fields or {}),
                   int(p.get("MinorVersion") or 0))


def entity_name(internal: str) -> str:
    return f"OData_{internal}" if internal.startswith("_") else internal


class PendingUploads:
    """Notes of uploads started but not finished, so that a crash never leaves a second copy."""

    def __init__(self, directory: Path):
        self.directory = directory

    def _path(self, document_id: str) -> Path:
        return self.directory / f"{hashlib.sha1(document_id.encode()).hexdigest()}.json"

    def get(self, document_id: str) -> str | None:
        try:
            return json.loads(self._path(document_id).read_text(encoding="utf-8")).get("url")
        except (OSError, ValueError):
            return None

    def put(self, document_id: str, url: str) -> None:
        payload = {"document": document_id, "url": url}
        write_atomically(self._path(document_id), json.dumps(payload, ensure_ascii=False).encode())

    def drop(self, document_id: str) -> None:
        self._path(document_id).unlink(missing_ok=True)

    @contextmanager
    def exclusive(self, document_id: str):
        """One publication of a document at a time across processes (the watcher and `mailroom retry`)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        stripe = hashlib.sha1(document_id.encode()).digest()[0] % 32  # a few lock files, not one per document
        lock = self.directory / f"publishing-{stripe:02d}.lock"
        with open(lock, "a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


class AwaitingApproval:
    """Files published into a library with content approval and not approved yet, for `status`."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def all(self) -> dict[str, str]:
        """Server-relative URL -> when it was published (ISO)."""
        try:
            return dict(json.loads(self.path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            return {}

    def _write(self, entries: dict[str, str]) -> None:
        write_atomically(self.path, json.dumps(entries, ensure_ascii=False, indent=1).encode())

    def add(self, url: str) -> None:
        with self._lock:
            entries = self.all()
            entries.setdefault(url, datetime.now(timezone.utc).isoformat(timespec="seconds"))
            self._write(entries)

    def discard(self, url: str) -> None:
        with self._lock:
            entries = self.all()
            if entries.pop(url, None) is not None:
                self._write(entries)


@dataclass
class LibraryReport:
    """What `mailroom sharepoint check` says about one library."""

    title: str
    categories: list[str]
    found: bool
    problems: list[str]
    force_checkout: bool = False
    columns: int = 0
    warnings: list[str] = field(default_factory=list)
    settings: list[str] = field(default_factory=list)   # what versioning/approval mean for agents


class SharePointPublisher:
    def __init__(self, config: Config, connection: SharePointConnection | None = None):
        self.config = config
        self.settings = config.sharepoint
        self.connection = connection or SharePointConnection(
            self.settings, pause_file=config.home / "sharepoint" / "pause.json")
        self.pending = PendingUploads(config.home / "sharepoint" / "pending")
        self.approvals = AwaitingApproval(config.home / "sharepoint" / "awaiting-approval.json")
        parts = urlsplit(self.settings.site_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self._lock = threading.RLock()
        self._libraries: dict[str, Library] = {}
        self._folders: set[str] = set()
        self._regional: Regional | None = None
        self._users: dict = {}
        self._next_name: dict[str, int] = {}   # folder/base -> first index not known to be taken

    # ------------------------------------------------------------ discovery
    def _known_keys(self) -> set[str]:
        sample = Document(id="-", input_id="-", source="-", source_sha256="-", source_pages=[],
                          received_at="2000-01-01T00:00:00+00:00")
        category = next(iter(self.config.categories.values()))
        return set(metadata_columns(sample, category)) - {"document_id"} | {"uid"}

    def library(self, title: str) -> Library:
        """The library and its columns, cached for the run once it is complete."""
        cached = self._libraries.get(title)
        if cached is not None:
            return cached
        run = self.connection.run
        try:
            found = run(f"reading the library « {title} »",
                        lambda ctx: ctx.web.lists.get_by_title(title).expand(["RootFolder"]).get())
        except SharePointFailure as error:
            if error.status == 404:
                raise SharePointFailure("sharepoint-library-missing", transient=True, status=404, library=title,
                                        site=self.settings.site_url) from None
            raise
        fields = run(f"reading the columns of « {title} »",
                     lambda ctx: ctx.web.lists.get_by_title(title).fields.get())
        library = Library.from_properties(title, found.properties,
                                          found.root_folder.properties.get("ServerRelativeUrl", ""))
        library.fields = [f.properties for f in fields]
        resolve_columns(library, library.fields, self.settings.columns, self._known_keys())
        library.redirect = find_column(library.fields, self.settings.redirect_column, "redirect")
        library.redirect_note = find_column(library.fields, self.settings.redirect_note_column, "redirect_note")
        check_choices(library, [c.label for c in self.config.categories.values() if c.library == title])
        if not library.problems:
            self._libraries[title] = library
        return library

    def regional(self) -> Regional:
        if self._regional is None:
            settings = self.connection.run("reading the site's regional settings",
                                           lambda ctx: ctx.web.regional_settings.get())
            zone = self.connection.run("reading the site's time zone",
                                       lambda ctx: ctx.web.regional_settings.time_zone.get())
            properties = dict(zone.properties)
            information = properties.get("Information")
            if information is not None and not isinstance(information, dict):
                properties["Information"] = {"Bias": getattr(information, "Bias", 0)}
            self._regional = Regional.from_properties(settings.properties, *site_zone(properties))
        return self._regional

    def ensure_folder(self, library: Library, folder: str) -> str:
        """The folder's server-relative URL, created if needed; checked once per run."""
        segments = folder_segments(folder)
        url = "/".join([library.root_url, *segments])
        if url in self._folders or not segments:
            return url
        run = self.connection.run
        try:
            found = run(f"looking for the folder {url}",
                        lambda ctx: ctx.web.get_folder_by_server_relative_url(url).select(["Exists"]).get())
            exists = bool(found.properties.get("Exists"))
        except SharePointFailure as error:
            if error.status != 404:
                raise
            exists = False
        if not exists:
            parent = library.root_url
            for segment in segments:
                self._add_folder(parent, segment)
                parent = f"{parent}/{segment}"
        self._folders.add(url)
        return url

    def _add_folder(self, parent: str, name: str) -> None:
        """Folders/Add returns an existing folder on SharePoint Online; older servers refuse it instead."""
        run = self.connection.run
        try:
            run(f"creating the folder {parent}/{name}",
                lambda ctx: ctx.web.get_folder_by_server_relative_url(parent).folders.add(name))
        except SharePointFailure as error:
            if error.status not in (400, 409, 500):
                raise
            try:
                found = run(f"looking for the folder {parent}/{name}",
                            lambda ctx: ctx.web.get_folder_by_server_relative_url(f"{parent}/{name}").select(
                                ["Exists"]).get())
            except SharePointFailure:
                raise error from None
            if not found.properties.get("Exists"):
                raise

    def find(self, library: Library, uid: str) -> RemoteFile | None:
        """The library's file carrying this uid: a CAML query on the indexed identity column, RowLimit 1."""
        column = library.columns["uid"].internal
        view = (f"<View Scope='RecursiveAll'><Query><Where><Eq><FieldRef Name='{column}'/>"
                f"<Value Type='Text'>{escape(uid)}</Value></Eq></Where></Query><RowLimit>1</RowLimit></View>")
        with warnings.catch_warnings():  # the client warns about any unpaged query; ours has RowLimit 1
            warnings.simplefilter("ignore", UserWarning)
            items = self.connection.run(
                f"looking for {uid} in « {library.title} »",
                lambda ctx: ctx.web.lists.get_by_title(library.title).get_items(CamlQuery(ViewXml=view)))
        found = [item for item in items if item.properties.get(entity_name(column)) == uid]
        return self.file_of(library, found[0].properties) if found else None

    def file_of(self, library: Library, item: dict) -> RemoteFile:
        """The file behind a list item found by a query (its UniqueId addresses every later call)."""
        item_id = int(item.get("Id") or item.get("ID"))
        file = self.connection.run(
            f"reading item {item_id} of « {library.title} »",
            lambda ctx: ctx.web.lists.get_by_title(library.title).get_item_by_id(item_id).file.get())
        remote = RemoteFile.from_client(file, item)
        remote.item_id = item_id
        return remote

    def file_at(self, url: str) -> RemoteFile | None:
        """The file at a server-relative URL with its columns, or None when there is none."""
        try:
            file = self.connection.run(
                f"reading {url}",
                lambda ctx: ctx.web.get_file_by_server_relative_url(url).expand(["ListItemAllFields"]).get())
        except SharePointFailure as error:
            if error.status == 404:
                return None
            raise
        return RemoteFile.from_client(file, file.listItemAllFields.properties)

    # ------------------------------------------------------------ writing
    def _add(self, folder_url: str, name: str, data: bytes, overwrite: bool) -> RemoteFile:
        """Files/add; after a cut connection the retry overwrites, since the name is ours by then."""
        attempts = max(1, self.settings.max_attempts)
        for attempt in range(1, attempts + 1):
            try:
                added = self.connection.run(
                    f"uploading {name}",
                    lambda ctx, o=overwrite: ctx.web.get_folder_by_server_relative_url(folder_url).files.add(
                        name, data, o),
                    retry_dropped=False)
                return RemoteFile.from_client(added)
            except ConnectionDropped:
                if attempt == attempts:
                    raise
                overwrite = True
                self.connection.sleep(self.connection.backoff(attempt))
        raise AssertionError("unreachable")

    def _chunked(self, remote: RemoteFile, data: bytes) -> RemoteFile:
        """Upload session: 429/503 resend the same chunk; a cut connection restarts the session."""
        size, chunk = len(data), max(1, self.settings.chunk_size)
        run = self.connection.run
        attempts = max(1, self.settings.max_attempts)
        for attempt in range(1, attempts + 1):
            upload_id = str(uuid.uuid4())
            try:
                offset = 0
                while True:
                    piece = data[offset:offset + chunk]
                    what = f"uploading {remote.name} ({offset + len(piece)} of {size} bytes)"
                    if offset == 0:
                        run(what, lambda ctx, p=piece: ctx.web.get_file_by_id(remote.unique_id).start_upload(
                            upload_id, p), retry_dropped=False)
                    elif offset + len(piece) < size:
                        run(what, lambda ctx, o=offset, p=piece: ctx.web.get_file_by_id(
                            remote.unique_id).continue_upload(upload_id, o, p), retry_dropped=False)
                    else:
                        done = run(what, lambda ctx, o=offset, p=piece: ctx.web.get_file_by_id(
                            remote.unique_id).finish_upload(upload_id, o, p), retry_dropped=False)
                        return RemoteFile.from_client(done)
                    offset += len(piece)
            except ConnectionDropped as error:
                log.info("%s; restarting the upload session", error)
                try:
                    run(f"cancelling the upload of {remote.name}",
                        lambda ctx, u=upload_id: ctx.web.get_file_by_id(remote.unique_id).cancel_upload(u))
                except PublishError:
                    pass  # an abandoned session expires on its own; the new one starts from zero
                if attempt == attempts:
                    raise
                self.connection.sleep(self.connection.backoff(attempt))
        raise AssertionError("unreachable")

    def upload(self, folder_url: str, name: str, data: bytes, overwrite: bool) -> RemoteFile:
        if len(data) <= self.settings.chunk_size:
            return self._add(folder_url, name, data, overwrite)
        placeholder = self._add(folder_url, name, b"", overwrite)
        return self._chunked(placeholder, data)

    def upload_new(self, uid: str, library: Library, folder_url: str, base: str, data: bytes) -> RemoteFile:
        """Upload under the first free name: 'base.pdf', then 'base (2).pdf'…

        A name that is taken belongs to someone else (another letter, another installation) and is
        left alone, unless it is a uid-less file with exactly these bytes: our own upload whose
        columns a crash prevented, adopted instead of uploading a second copy.
        """
        digest = hashlib.sha256(data).hexdigest()
        uid_column = entity_name(library.columns["uid"].internal)
        key = f"{folder_url}/{base}".lower()
        index = self._next_name.get(key, 1)
        for _ in range(MAX_NAME_TRIES):
            name = candidate(base, index)
            url = f"{folder_url}/{name}"
            self.pending.put(uid, url)
            try:
                uploaded = self.upload(folder_url, name, data, overwrite=False)
                self._next_name[key] = index + 1
                return uploaded
            except SharePointFailure as error:
                if not error.server_code.startswith(FILE_EXISTS):
                    raise
            there = self.file_at(url)
            if there is not None and not there.fields.get(uid_column) and there.length == len(data) \
                    and self.content_sha256(there) == digest:
                return there
            index = self._first_free(folder_url, base, index + 1)
        raise PublishError("sharepoint-no-free-name", transient=True, base=base, folder=folder_url)

    def _first_free(self, folder_url: str, base: str, low: int) -> int:
        """The first free 'base (n).pdf' from `low`, in O(log n) reads: names fill up in order, so
        gallop until one is free, then halve the gap (never a folder listing)."""
        def taken(index: int) -> bool:
            return self.file_at(f"{folder_url}/{candidate(base, index)}") is not None

        if not taken(low):
            return low
        step = 1
        while taken(low + step):
            low, step = low + step, step * 2
        high = low + step  # free; low is taken
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (middle, high) if taken(middle) else (low, middle)
        return high

    def set_columns(self, remote: RemoteFile, values: dict[str, str], library: Library) -> None:
        result = self.connection.run(
            f"setting the columns of {remote.name}",
            lambda ctx: ctx.web.get_file_by_id(remote.unique_id).listItemAllFields.validate_update_list_item(
                values, new_document_update=True))
        titles = {c.internal: c.title for c in library.columns.values()} | {TITLE_FIELD: "Titre"}
        refused = [f"{titles.get(v.FieldName, v.FieldName)}: {v.ErrorMessage}" for v in result.value
                   if getattr(v, "HasException", False)]
        if refused:
            raise PublishError("sharepoint-columns-refused", transient=True, file=remote.name, library=library.title,
                               refused="; ".join(refused))

    def check_in(self, remote: RemoteFile) -> None:
        if not remote.checked_out:
            return
        from office365.sharepoint.files.checkin_type import CheckinType
        try:
            self.connection.run(f"checking in {remote.name}",
                                lambda ctx: ctx.web.get_file_by_id(remote.unique_id).checkin(
                                    CHECKIN_COMMENT, CheckinType.MajorCheckIn))
        except SharePointFailure:
            state = self.connection.run(f"reading {remote.name}",
                                        lambda ctx: ctx.web.get_file_by_id(remote.unique_id).get())
            if int(state.properties.get("CheckOutType", 0)) != 2:
                raise
            # the answer to an earlier attempt was lost: it is checked in already

    def make_visible(self, remote: RemoteFile, library: Library) -> bool:
        """Check in and publish a major version where the library needs it; True when the file
        now waits for content approval (invisible to read-only agents until approved)."""
        if library.force_checkout:
            remote.checked_out = True  # whatever the answer said; check_in copes with "not checked out"
        self.check_in(remote)
        if library.minor_versions and not library.force_checkout and remote.minor > 0:  # a 0.1 draft
            self.connection.run(f"publishing {remote.name} as a major version",
                                lambda ctx: ctx.web.get_file_by_id(remote.unique_id).publish(CHECKIN_COMMENT))
            remote.minor = 0
        if not library.moderation:
            return False
        item = self.connection.run(f"reading the approval status of {remote.name}",
                                   lambda ctx: ctx.web.get_file_by_id(remote.unique_id).listItemAllFields.select(
                                       ["OData__ModerationStatus"]).get())
        return int(item.properties.get("OData__ModerationStatus", 0) or 0) != 0

    def content_sha256(self, remote: RemoteFile) -> str:
        content = self.connection.run(f"reading {remote.name}",
                                      lambda ctx: ctx.web.get_file_by_id(remote.unique_id).get_content())
        return hashlib.sha256(content.value or b"").hexdigest()

    def fetch_content(self, destination: str) -> bytes:
        """The bytes of a published file, by the absolute URL publish() returned (mailroom verify --remote)."""
        path = unquote(urlsplit(destination).path)
        content = self.connection.run(f"downloading {path}",
                                      lambda ctx: ctx.web.get_file_by_server_relative_url(path).get_content())
        return content.value or b""

    def absolute_url(self, server_relative: str) -> str:
        return self.origin + quote(server_relative, safe="/")

    # ------------------------------------------------------------ the interface
    def publish(self, doc: Document, pdf: Path, category: Category) -> PublishResult:
        try:
            data = Path(pdf).read_bytes()
        except OSError as error:
            raise PublishError("pdf-unreadable-for-publication", transient=False, error=str(error)) from error
        uid = doc.uid
        with self._lock, self.pending.exclusive(uid):
            library = self.library(category.library)
            if library.problems:
                raise PublishError("sharepoint-not-ready", transient=True, problems="; ".join(library.problems))
            found = self.find(library, uid)
            if found is not None:
                waiting = self.make_visible(found, library)
                self.pending.drop(uid)
                return self._result(found, waiting, already_there=True)
            folder_url = self.ensure_folder(library, folder_for(doc, category))
            values = form_values(library, metadata_columns(doc, category) | {"uid": uid}, self.regional())
            target = self._unfinished(uid, library, folder_url)
            if target is not None:
                target = self.upload(folder_url, target.name, data, overwrite=True)
            else:
                base = base_name(document_title(doc, category, self.config.publish.file_name), folder_url)
                target = self.upload_new(uid, library, folder_url, base, data)
            # Columns before check-in: a checked-in file is never seen without them.
            self.set_columns(target, values, library)
            waiting = self.make_visible(target, library)
            self.pending.drop(uid)
            log.info("published %s (%s) as %s%s", doc.id, uid, target.url,
                     " — en attente d'approbation" if waiting else "")
            return self._result(target, waiting)

    def _result(self, remote: RemoteFile, waiting: bool, already_there: bool = False) -> PublishResult:
        result = PublishResult(destination=self.absolute_url(remote.url), already_there=already_there)
        if waiting:
            self.approvals.add(remote.url)
        return result

    # ------------------------------------------------------------ redirections (see redirect.py)
    def redirect_requests(self) -> list:
        """Files whose « Réorienter vers » an agent set: one indexed CAML query per library."""
        from .redirect import RedirectRequest

        found = []
        with self._lock:
            for title in sorted({c.library for c in self.config.categories.values()}):
                library = self.library(title)
                if library.problems or library.redirect is None:
                    continue
                column, uid_column = library.redirect.internal, library.columns["uid"].internal
                view = (f"<View Scope='RecursiveAll'><Query><Where><IsNotNull><FieldRef Name='{column}'/>"
                        f"</IsNotNull></Where></Query><RowLimit>100</RowLimit></View>")
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)
                    items = self.connection.run(
                        f"looking for redirections in « {title} »",
                        lambda ctx: ctx.web.lists.get_by_title(title).get_items(CamlQuery(ViewXml=view)))
                for item in items:
                    p = dict(item.properties)
                    value = p.get(entity_name(column))
                    if not value:
                        continue
                    remote = self.file_of(library, p)
                    found.append(RedirectRequest(str(p.get(entity_name(uid_column)) or ""), str(value),
                                                 self.user_name(p.get("EditorId")), str(p.get("Modified") or ""),
                                                 self.absolute_url(remote.url), (library, remote)))
        return found

    def user_name(self, user_id) -> str:
        if user_id in (None, ""):
            return "inconnu"
        if user_id not in self._users:
            user = self.connection.run(f"reading user {user_id}", lambda ctx: ctx.web.get_user_by_id(int(user_id)).get())
            self._users[user_id] = str(user.properties.get("Title") or user.properties.get("LoginName") or user_id)
        return self._users[user_id]

    def _update_item(self, library: Library, remote: RemoteFile, values: dict[str, str]) -> None:
        """Change columns of a checked-in file (checked out and in again where the library demands it)."""
        if library.force_checkout:
            self.connection.run(f"checking out {remote.name}",
                                lambda ctx: ctx.web.get_file_by_id(remote.unique_id).checkout())
            remote.checked_out = True
        self.set_columns(remote, values, library)
        self.check_in(remote)

    def refuse_redirect(self, request, note: str) -> None:
        library, remote = request.handle
        values = {library.redirect.internal: ""}
        if library.redirect_note is not None:
            values[library.redirect_note.internal] = note
        with self._lock:
            self._update_item(library, remote, values)

    def clear_redirect(self, request) -> None:
        library, remote = request.handle
        with self._lock:
            self._update_item(library, remote, {library.redirect.internal: ""})

    def drop_redirected(self, request) -> None:
        """The old copy goes to the site's recycle bin (an administrator can still restore it)."""
        _, remote = request.handle
        with self._lock:
            self.connection.run(f"recycling {remote.url}", lambda ctx: ctx.web.get_file_by_id(remote.unique_id).recycle())

    def refresh_approvals(self) -> int:
        """Forget the files an approver has approved since; the number still waiting."""
        waiting = self.approvals.all()
        for url in waiting:
            item = self.file_at(url)
            if item is None or int(item.fields.get("OData__ModerationStatus", 0) or 0) == 0:
                self.approvals.discard(url)
        return len(self.approvals.all())

    def _unfinished(self, uid: str, library: Library, folder_url: str) -> RemoteFile | None:
        """The file an interrupted attempt uploaded (noted before its first byte) into this folder and
        left without a uid."""
        noted = self.pending.get(uid)
        if not noted or noted.rsplit("/", 1)[0].lower() != folder_url.lower():
            return None  # nothing noted, or for another folder (the letter was routed elsewhere since)
        there = self.file_at(noted)
        if there is None or there.fields.get(entity_name(library.columns["uid"].internal)):
            return None  # never uploaded, or someone else's since
        return there

    def inspect(self) -> list[LibraryReport]:
        """Every configured library with what is missing, for `mailroom sharepoint check`."""
        with self._lock:
            self.connection.run("connecting to the site",
                                lambda ctx: ctx.web.get().select(["Title", "ServerRelativeUrl"]))
            reports: dict[str, LibraryReport] = {}
            for category in self.config.categories.values():
                report = reports.setdefault(category.library, LibraryReport(category.library, [], False, []))
                report.categories.append(category.id)
            for title, report in reports.items():
                self._libraries.pop(title, None)
                try:
                    library = self.library(title)
                except SharePointFailure as error:
                    if error.status != 404:
                        raise
                    report.problems.append(f"créez la bibliothèque de documents « {title} » sur "
                                           f"{self.settings.site_url} (catégories : {', '.join(report.categories)})")
                    continue
                report.found = True
                report.problems = list(library.problems)
                report.force_checkout = library.force_checkout
                report.columns = len(library.columns)
                report.warnings = list(library.warnings)
                report.settings = library.settings_for_agents()
            return list(reports.values())

    def check(self) -> list[str]:
        if not self.settings.site_url:
            return ["sharepoint.site_url n'est pas renseigné"]
        try:
            reports = self.inspect()
        except PublishError as error:
            return [f"SharePoint ({self.settings.site_url}) ne répond pas comme attendu : {error}"]
        problems: list[str] = []
        for report in reports:
            for problem in report.problems:
                if problem not in problems:
                    problems.append(problem)
        return problems
