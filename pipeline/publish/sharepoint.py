"""Publication into SharePoint document libraries through office365-rest-python-client.

A routed document becomes one file in its category's library and folder, with
its metadata in the library's columns, exactly once whatever the network does:

* Identity. The library's built-in Title column holds the mailroom document id
  and the checksum column ("Empreinte SHA-256") the source file's SHA-256. Both
  are written in the same ValidateUpdateListItem call, so a file whose Title is
  the document id and whose checksum matches is complete: a later attempt (after
  a crash between upload and journal commit, or a `mailroom retry`) finds it in
  the target folder and answers already_there instead of uploading again.
* Crash between upload and columns. Before the first byte is sent, the target
  URL is written to $MAILROOM_HOME/sharepoint/pending/<id>.json. A later attempt
  that finds that file still without columns takes it over (overwrites its
  content, then sets the columns) instead of adding a second copy. If that note
  was lost, a column-less file of the same readable name, size and SHA-256 is
  adopted as well.
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
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from ..config import Category, Config
from ..records import Document, PublishResult
from . import PublishError, document_title, folder_for
from ..files import write_atomically
from .local import metadata_columns
from .sharepoint_client import ConnectionDropped, SharePointConnection, SharePointFailure
from .sharepoint_names import base_name, candidate, folder_segments, in_family
from .sharepoint_schema import (TITLE_FIELD, Library, Regional, check_choices, form_values,
                                resolve_columns)

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

    @classmethod
    def from_client(cls, file, with_fields: bool = True) -> "RemoteFile":
        p = file.properties
        fields = dict(file.listItemAllFields.properties) if with_fields else {}
        return cls(p.get("Name", ""), p.get("ServerRelativeUrl", ""), str(p.get("UniqueId", "")),
                   int(p.get("Length") or 0), int(p.get("CheckOutType", 2)) != 2, fields)


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


@dataclass
class LibraryReport:
    """What `mailroom sharepoint check` says about one library."""

    title: str
    categories: list[str]
    found: bool
    problems: list[str]
    force_checkout: bool = False
    columns: int = 0


class SharePointPublisher:
    def __init__(self, config: Config, connection: SharePointConnection | None = None):
        self.config = config
        self.settings = config.sharepoint
        self.connection = connection or SharePointConnection(self.settings)
        self.pending = PendingUploads(config.home / "sharepoint" / "pending")
        parts = urlsplit(self.settings.site_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self._lock = threading.RLock()
        self._libraries: dict[str, Library] = {}
        self._folders: set[str] = set()
        self._regional: Regional | None = None

    # ------------------------------------------------------------ discovery
    def _known_keys(self) -> set[str]:
        sample = Document(id="-", input_id="-", source="-", source_sha256="-", source_pages=[],
                          received_at="2000-01-01T00:00:00+00:00")
        category = next(iter(self.config.categories.values()))
        return set(metadata_columns(sample, category)) - {"document_id"}

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
                raise SharePointFailure(f"the document library « {title} » does not exist on "
                                        f"{self.settings.site_url}", transient=True, status=404) from None
            raise
        fields = run(f"reading the columns of « {title} »",
                     lambda ctx: ctx.web.lists.get_by_title(title).fields.get())
        library = Library(title, str(found.properties.get("Id", "")),
                          found.root_folder.properties.get("ServerRelativeUrl", "").rstrip("/"),
                          bool(found.properties.get("ForceCheckout")))
        resolve_columns(library, [f.properties for f in fields], self.settings.columns, self._known_keys())
        check_choices(library, [c.label for c in self.config.categories.values() if c.library == title])
        if not library.problems:
            self._libraries[title] = library
        return library

    def regional(self) -> Regional:
        if self._regional is None:
            settings = self.connection.run("reading the site's regional settings",
                                           lambda ctx: ctx.web.regional_settings.get())
            self._regional = Regional.from_properties(settings.properties)
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

    def list_folder(self, folder_url: str) -> list[RemoteFile]:
        files = self.connection.run(
            f"listing {folder_url}",
            lambda ctx: ctx.web.get_folder_by_server_relative_url(folder_url).files.expand(["ListItemAllFields"]).get())
        return [RemoteFile.from_client(f) for f in files]

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
                return RemoteFile.from_client(added, with_fields=False)
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
                        return RemoteFile.from_client(done, with_fields=False)
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

    def upload_new(self, doc: Document, folder_url: str, base: str, data: bytes,
                   listing: list[RemoteFile]) -> RemoteFile:
        """Upload under the first free name: 'base.pdf', then 'base (2).pdf'…"""
        taken = {f.name.lower() for f in listing}
        index = 0
        for _ in range(MAX_NAME_TRIES):
            index += 1
            name = candidate(base, index)
            if name.lower() in taken:
                continue
            self.pending.put(doc.id, f"{folder_url}/{name}")
            try:
                return self.upload(folder_url, name, data, overwrite=False)
            except SharePointFailure as error:
                if not error.code.startswith(FILE_EXISTS):
                    raise
                taken.add(name.lower())  # appeared since the listing: someone else's
        raise PublishError(f"no free file name for {base} in {folder_url}", transient=True)

    def set_columns(self, remote: RemoteFile, values: dict[str, str], library: Library) -> None:
        result = self.connection.run(
            f"setting the columns of {remote.name}",
            lambda ctx: ctx.web.get_file_by_id(remote.unique_id).listItemAllFields.validate_update_list_item(
                values, new_document_update=True, dates_in_utc=True))
        titles = {c.internal: c.title for c in library.columns.values()} | {TITLE_FIELD: "Titre"}
        refused = [f"{titles.get(v.FieldName, v.FieldName)}: {v.ErrorMessage}" for v in result.value
                   if getattr(v, "HasException", False)]
        if refused:
            raise PublishError(f"SharePoint refused columns of {remote.name} in « {library.title} »: "
                               + "; ".join(refused), transient=True)

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
            raise PublishError(f"the searchable PDF cannot be read: {error}", transient=False) from error
        with self._lock, self.pending.exclusive(doc.id):
            library = self.library(category.library)
            if library.problems:
                raise PublishError("SharePoint is not ready: " + "; ".join(library.problems), transient=True)
            folder_url = self.ensure_folder(library, folder_for(doc, category))
            values = form_values(library, metadata_columns(doc, category), self.regional())
            checksum = entity_name(library.columns["source_sha256"].internal)
            listing = self.list_folder(folder_url)

            ours = [f for f in listing if f.fields.get(TITLE_FIELD) == doc.id]
            complete = [f for f in ours if f.fields.get(checksum) == doc.source_sha256]
            if complete:
                self.check_in(complete[0])
                self.pending.drop(doc.id)
                return PublishResult(destination=self.absolute_url(complete[0].url), already_there=True)

            base = base_name(document_title(doc, category, self.config.publish.file_name), folder_url)
            target = ours[0] if ours else self._unfinished(doc, listing, folder_url, data, checksum, base)
            if target is None:
                target = self.upload_new(doc, folder_url, base, data, listing)
            self.set_columns(target, values, library)
            # Columns before check-in: a checked-in file is never seen without them.
            if library.force_checkout:
                target.checked_out = True  # whatever the answer said; check_in copes with "not checked out"
            self.check_in(target)
            self.pending.drop(doc.id)
            log.info("published %s as %s", doc.id, target.url)
            return PublishResult(destination=self.absolute_url(target.url))

    def _unfinished(self, doc: Document, listing: list[RemoteFile], folder_url: str, data: bytes,
                    checksum: str, base: str) -> RemoteFile | None:
        """A file an interrupted attempt left without columns, made whole again; None when there is none."""
        bare = [f for f in listing if not f.fields.get(TITLE_FIELD) and not f.fields.get(checksum)]
        noted = self.pending.get(doc.id)
        for remote in bare:
            if noted and remote.url.lower() == noted.lower():
                return self.upload(folder_url, remote.name, data, overwrite=True)
        digest = hashlib.sha256(data).hexdigest()
        for remote in bare:
            if in_family(remote.name, base) and remote.length == len(data) and self.content_sha256(remote) == digest:
                return remote
        return None

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
