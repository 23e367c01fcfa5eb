"""A local SharePoint Online REST emulator for the publisher's tests.

It answers the requests that office365-rest-python-client sends, over real HTTP
on 127.0.0.1, in the ``odata=verbose`` dialect, and is strict where SharePoint
is strict: a bearer token and a valid, unexpired request digest on every
request but contextinfo, SharePoint's file-name rules, encoded internal column
names, ``__metadata.type`` and unknown properties on MERGE, per-field errors of
ValidateUpdateListItem inside a 200 answer, check-out libraries, chunked upload
sessions with offsets, and 404s shaped like SharePoint's. Faults (429/503 with
Retry-After, 500, connections dropped before or after the server acted) are
injected per request pattern, and every request is logged for assertions.

Only what the tests exercise is modelled; anything else answers 400 so that a
test never passes on an endpoint the emulator merely ignored.
"""
from __future__ import annotations

import json
import re
import secrets
import socket
import xml.etree.ElementTree as ET
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from zoneinfo import ZoneInfo
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .tls import serve, stop

JSON_VERBOSE = "application/json;odata=verbose;charset=utf-8"
DIGEST_INVALID = "-2130575251, Microsoft.SharePoint.SPException"
FILE_MISSING = "-2130575338, Microsoft.SharePoint.SPException"
FOLDER_MISSING = "-2147024894, System.IO.FileNotFoundException"
LIST_MISSING = "-1, System.ArgumentException"
FILE_EXISTS = "-2130575257, Microsoft.SharePoint.SPException"
BAD_NAME = "-2130575245, Microsoft.SharePoint.SPException"
BAD_QUERY = "-1, Microsoft.SharePoint.Client.InvalidClientQueryException"
CHECKOUT = "-2130575306, Microsoft.SharePoint.SPFileCheckOutException"
ARGUMENT = "-2147024809, System.ArgumentException"
THROTTLED = "-2147024860, Microsoft.SharePoint.SPQueryThrottledException"
LIST_VIEW_THRESHOLD = 5000
# SharePoint's own time zone table, as Web/RegionalSettings/TimeZone describes a zone.
TIME_ZONES = {3: ("(UTC+01:00) Brussels, Copenhagen, Madrid, Paris", "Europe/Paris", -60),
              2: ("(UTC) Dublin, Edinburgh, Lisbon, London", "Europe/London", 0),
              93: ("(UTC) Coordinated Universal Time", "UTC", 0)}

FORBIDDEN_CHARS = set('"*:<>?/\\|')
RESERVED = {"con", "prn", "aux", "nul", "desktop.ini", ".lock",
            *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}
MAX_PATH = 400


def encode_name(title: str) -> str:
    """SharePoint's internal name for a new column: XmlConvert.EncodeName, cut to 32 characters."""
    out = []
    for index, char in enumerate(title):
        keep = char.isascii() and (char.isalpha() or char == "_" or (char.isdigit() and index > 0))
        out.append(char if keep else f"_x{ord(char):04x}_")
    return "".join(out)[:32]


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Field:
    title: str
    type: str                      # TypeAsString: Text, Note, Number, Integer, Boolean, DateTime, Choice…
    internal: str = ""
    hidden: bool = False
    read_only: bool = False
    required: bool = False
    choices: list[str] = field(default_factory=list)
    fill_in: bool = False
    date_only: bool = False
    indexed: bool = False
    unique: bool = False           # EnforceUniqueValues (SharePoint requires the column to be indexed)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def __post_init__(self) -> None:
        self.internal = self.internal or encode_name(self.title)

    @property
    def entity_name(self) -> str:
        return f"OData_{self.internal}" if self.internal.startswith("_") else self.internal

    def to_json(self) -> dict:
        data = {"__metadata": {"type": "SP.FieldChoice" if self.type == "Choice" else "SP.Field"},
                "Id": self.id, "InternalName": self.internal, "EntityPropertyName": self.entity_name,
                "StaticName": self.internal, "Title": self.title, "TypeAsString": self.type,
                "Hidden": self.hidden, "ReadOnlyField": self.read_only, "Required": self.required,
                "Indexed": self.indexed, "EnforceUniqueValues": self.unique}
        if self.type in ("Choice", "MultiChoice"):
            data["Choices"] = {"__metadata": {"type": "Collection(Edm.String)"}, "results": list(self.choices)}
            data["FillInChoice"] = self.fill_in
        if self.type == "DateTime":
            data["DisplayFormat"] = 0 if self.date_only else 1
        return data


BUILTIN_FIELDS = [
    ("Title", "Text", "Title", False, False),
    ("ID", "Counter", "ID", False, True),
    ("Name", "File", "FileLeafRef", False, False),
    ("Modified", "DateTime", "Modified", False, True),
    ("Created", "DateTime", "Created", False, True),
    ("Version", "Text", "_UIVersionString", False, True),
    ("Content Type", "Computed", "ContentType", False, True),
    ("Check In Comment", "Lookup", "_CheckinComment", True, True),
]


def french_columns(labels: tuple[str, ...] = ()) -> list[Field]:
    """The columns an administrator creates from `mailroom sharepoint check`'s advice.

    "Expéditeur" was first created as "Sender" then renamed, so its internal name
    cannot be derived from its title; a hidden field carries the title "Urgent"
    too, to prove that discovery skips hidden fields.
    """
    return [
        Field("Catégorie", "Text"), Field("Confiance", "Number"),
        Field("Expéditeur", "Text", internal="Sender"),
        Field("Date du courrier", "DateTime", date_only=True), Field("Date de réception", "DateTime"),
        Field("Références", "Note"), Field("Urgent", "Text", internal="UrgentLegacy", hidden=True),
        Field("Urgent", "Boolean"), Field("Pages", "Number"),
        Field("Empreinte SHA-256", "Text"), Field("Lot", "Text"),
        Field("N° d'enregistrement", "Text"), Field("Date limite de traitement", "DateTime", date_only=True),
        Field("Identifiant", "Text", indexed=True, unique=True),
        Field("Réorienter vers", "Choice", choices=list(labels), indexed=True),
        Field("Remarque mailroom", "Note"),
    ]


@dataclass
class Folder:
    name: str
    path: str                      # server-relative, decoded
    library: "Library | None"
    unique_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    created: str = field(default_factory=now_iso)


@dataclass
class File:
    name: str
    path: str
    library: "Library"
    content: bytes = b""
    unique_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    item_id: int = 0
    values: dict[str, Any] = field(default_factory=dict)   # internal name -> value
    checked_out: bool = False
    major: int = 1
    minor: int = 0
    versions: int = 1
    created: str = field(default_factory=now_iso)
    modified: str = field(default_factory=now_iso)
    moderation: int = 0            # _ModerationStatus: 0 approved, 1 denied, 2 pending, 3 draft
    editor: str = "mailroom (application)"
    editor_id: int = 1073741823    # SharePoint App

    @property
    def folder(self) -> str:
        return self.path.rsplit("/", 1)[0]


@dataclass
class Library:
    title: str
    url_name: str
    fields: list[Field]
    force_checkout: bool = False
    minor_versions: bool = False   # EnableMinorVersions: uploads are 0.1 drafts until published
    moderation: bool = False       # EnableModeration: content approval
    draft_visibility: int = 0      # DraftVersionVisibility: 0 readers, 1 authors, 2 approvers
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    next_item: int = 1

    @property
    def entity_type(self) -> str:
        # Derived from the library's URL name, not its title, as SharePoint does.
        encoded = "".join(c if c.isascii() and (c.isalnum() or c == "_") else f"_x{ord(c):04x}_"
                          for c in self.url_name)
        return f"SP.Data.{encoded}Item"

    def field_by_internal(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.internal == name), None)

    def field_by_entity(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.entity_name == name), None)


@dataclass
class Session:
    file: File
    offset: int
    data: bytearray


@dataclass
class Fault:
    pattern: re.Pattern
    kind: str                      # "429" | "503" | "500" | "drop" | "drop-after" | "401"
    times: int
    retry_after: int | None
    method: str | None


@dataclass
class LoggedRequest:
    method: str                    # the effective method (X-HTTP-Method wins)
    path: str                      # decoded path below /_api/, with the query string
    status: int
    headers: dict[str, str]
    body_size: int


class SharePointError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def split_segments(raw: str) -> list[str]:
    """Split an /_api/ path on '/' outside quoted literals and parentheses."""
    segments, current, quoted, depth = [], [], False, 0
    for char in raw:
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
        if char == "/" and not quoted and depth == 0:
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
    segments.append("".join(current))
    return [s for s in segments if s]


def parse_literal(text: str) -> Any:
    text = text.strip()
    if text.startswith("guid'") and text.endswith("'"):
        return text[5:-1]
    if len(text) >= 2 and text[0] == "'" and text[-1] == "'":
        return unquote(text[1:-1]).replace("''", "'")
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(text)
    except ValueError:
        return unquote(text)


def parse_segment(segment: str) -> tuple[str, list[Any], dict[str, Any]]:
    """'Files/add(overwrite=true,url='a.pdf')' segment → ('add', [], {'overwrite': True, 'url': 'a.pdf'})."""
    match = re.match(r"^([^()]+)(?:\((.*)\))?$", segment, re.S)
    if not match:
        raise SharePointError(400, BAD_QUERY, f"The expression \"{segment}\" is not valid.")
    name, inner = match.group(1), match.group(2)
    positional, named = [], {}
    if inner:
        parts, current, quoted = [], [], False
        for char in inner:
            if char == "'":
                quoted = not quoted
            if char == "," and not quoted:
                parts.append("".join(current))
                current = []
            else:
                current.append(char)
        parts.append("".join(current))
        for part in parts:
            key = re.match(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$", part, re.S)
            if key and not part.strip().startswith("'"):
                named[key.group(1).lower()] = parse_literal(key.group(2))
            else:
                positional.append(parse_literal(part))
    return unquote(name).lower(), positional, named


class SharePointEmulator:
    """In-memory site with document libraries, served over HTTP on 127.0.0.1."""

    def __init__(self, site_path: str = "/sites/courrier", token: str = "test-token",
                 digest_lifetime: int = 1800, clock=time.monotonic):
        self.site_path = site_path
        self.clock = clock             # injected by tests that wait minutes without waiting
        self.tokens: dict[str, float] = {token: float("inf")}  # bearer token -> expiry on self.clock
        self.throttled_until = 0.0     # every request gets 429 until then (a tenant-wide throttle)
        self.throttle_answer = 0       # the Retry-After those 429s carry
        self.time_zone = 3             # Web/RegionalSettings/TimeZone Id (Paris)
        self.accepts_dates_in_utc = True  # False: SharePoint Server 2016, which refuses the parameter
        self.list_view_threshold = LIST_VIEW_THRESHOLD
        self.rate_limit: dict[str, str] = {}  # RateLimit-* headers added to every successful answer
        self.users: dict[int, str] = {1073741823: "mailroom (application)"}
        self.digest_lifetime = digest_lifetime
        self.lock = threading.RLock()
        self.libraries: dict[str, Library] = {}
        self.folders: dict[str, Folder] = {}
        self.files: dict[str, File] = {}
        self.sessions: dict[str, Session] = {}
        self.digests: dict[str, float] = {}
        self.faults: list[Fault] = []
        self.log: list[LoggedRequest] = []
        self.regional = {"LocaleId": 1036, "DateFormat": 1, "DateSeparator": "/", "DecimalSeparator": ",",
                         "ThousandSeparator": "\u00a0", "Time24": True, "TimeSeparator": ":"}
        self.root = Folder(site_path.rsplit("/", 1)[-1], site_path, None)
        self.folders[site_path.lower()] = self.root
        self._server: ThreadingHTTPServer | None = None
        self.ntlm_users: Path | None = None  # set by enable_ntlm: SharePoint Server on premises
        self.folder_add_idempotent = True

    def enable_ntlm(self, directory: "Path", user: str, password: str) -> None:
        """Authenticate connections with NTLM (as IIS does) instead of bearer tokens.

        pyspnego's NTLM acceptor reads its accounts from the file named by NTLM_USER_FILE
        ("DOMAIN:user:password" lines); the caller owns that environment variable.
        """
        domain, _, name = user.rpartition("\\")
        self.ntlm_users = Path(directory) / "ntlm-users"
        self.ntlm_users.write_text(f"{domain}:{name}:{password}\n", encoding="utf-8")

    # ---------------------------------------------------------------- lifecycle
    def start(self, tls: tuple[str, str] | None = None) -> "SharePointEmulator":
        """Serve on a free port; `tls` = (certificate file, key file) serves HTTPS instead."""
        emulator = self

        class Handler(_Handler):
            pass

        Handler.emulator = emulator
        self._server = serve(Handler, tls)
        self.scheme = "https" if tls is not None else "http"
        return self

    def stop(self) -> None:
        stop(self._server)
        self._server = None

    @property
    def origin(self) -> str:
        assert self._server is not None
        return f"{self.scheme}://127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return self.origin + self.site_path

    # ---------------------------------------------------------------- test API
    def add_library(self, title: str, url_name: str | None = None, force_checkout: bool = False,
                    columns: list[Field] | None = None, labels: tuple[str, ...] = (), **settings) -> Library:
        with self.lock:
            fields = [Field(t, k, internal=i, hidden=h, read_only=r) for t, k, i, h, r in BUILTIN_FIELDS]
            fields += french_columns(labels) if columns is None else columns
            library = Library(title, url_name or title, fields, force_checkout, **settings)
            self.libraries[title.lower()] = library
            path = f"{self.site_path}/{library.url_name}"
            self.folders[path.lower()] = Folder(library.url_name, path, library)
            return library

    def inject(self, pattern: str, kind: str, times: int = 1, retry_after: int | None = 1,
               method: str | None = None) -> None:
        """The next `times` requests whose decoded API path matches `pattern` get a fault."""
        with self.lock:
            self.faults.append(Fault(re.compile(pattern, re.I), kind, times, retry_after,
                                     method.upper() if method else None))

    def expire_digests(self) -> None:
        with self.lock:
            self.digests.clear()

    def files_in(self, library_title: str, visible_only: bool = False) -> list[File]:
        """Files of a library; `visible_only` keeps what a read-only agent sees."""
        with self.lock:
            library = self.libraries[library_title.lower()]
            return sorted((f for f in self.files.values() if f.library is library
                           and not (visible_only and not self.visible_to_readers(f))), key=lambda f: f.path)

    @staticmethod
    def visible_to_readers(file: File) -> bool:
        """Checked in, a major version, and approved where approval is on (DraftVersionVisibility 0
        lets readers see minor versions too)."""
        if file.checked_out:
            return False
        if file.library.moderation:
            return file.moderation == 0
        if file.library.minor_versions and file.library.draft_visibility != 0:
            return file.major >= 1
        return True

    def seed(self, library_title: str, folder: str, count: int, **values) -> None:
        """`count` files put straight into the store (a library past the list view threshold in
        seconds, not 5,000 uploads); `values` are column values by title, `{n}` numbered."""
        with self.lock:
            library = self.libraries[library_title.lower()]
            parent = self.ensure_path(library, folder)
            for n in range(count):
                name = f"seed {n:05d}.pdf"
                path = f"{parent.path}/{name}"
                file = File(name, path, library, b"%PDF-seed", item_id=library.next_item)
                for title, value in values.items():
                    f = next(f for f in library.fields if f.title == title)
                    file.values[f.internal] = str(value).format(n=n)
                library.next_item += 1
                self.files[path.lower()] = file

    def ensure_path(self, library: Library, folder: str) -> Folder:
        parent = self.folders[f"{self.site_path}/{library.url_name}".lower()]
        for segment in [s for s in folder.split("/") if s]:
            parent = self.add_folder(parent, segment)
        return parent

    def agent_sets(self, file: File, title: str, value: Any, editor: str = "Agent Martin") -> None:
        """A person edits a column in the browser: the item's Editor becomes them."""
        with self.lock:
            f = next(f for f in file.library.fields if f.title == title)
            file.values[f.internal] = value
            file.editor_id = next((i for i, n in self.users.items() if n == editor), 11 + len(self.users))
            file.editor, self.users[file.editor_id] = editor, editor
            file.modified = now_iso()
            file.versions += 1

    def approve(self, file: File) -> None:
        with self.lock:
            file.moderation = 0

    def throttle(self, seconds: int) -> None:
        """Every request gets 429 with Retry-After: seconds, until that many seconds have passed."""
        with self.lock:
            self.throttled_until = self.clock() + seconds
            self.throttle_answer = seconds

    def add_token(self, token: str, lifetime: float = float("inf")) -> None:
        with self.lock:
            self.tokens[token] = self.clock() + lifetime

    def expire_tokens(self) -> None:
        """Every token issued so far expires now (a token that runs out in the middle of a batch)."""
        with self.lock:
            for token in self.tokens:
                self.tokens[token] = min(self.tokens[token], self.clock() - 1)

    def local_zone(self) -> ZoneInfo:
        return ZoneInfo(TIME_ZONES[self.time_zone][1])

    def field_values(self, file: File) -> dict[str, Any]:
        """The file's column values keyed by column title (what an agent reads)."""
        return {f.title: file.values.get(f.internal) for f in file.library.fields
                if not f.hidden and f.internal in file.values}

    def requests(self, pattern: str = "", method: str | None = None) -> list[LoggedRequest]:
        with self.lock:
            return [r for r in self.log if re.search(pattern, r.path, re.I)
                    and (method is None or r.method == method.upper())]

    # ---------------------------------------------------------------- helpers
    def take_fault(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.times > 0 and fault.pattern.search(path) and fault.method in (None, method):
                    fault.times -= 1
                    return fault
        return None

    def issue_digest(self) -> str:
        value = f"0x{secrets.token_hex(32).upper()},{datetime.now(timezone.utc):%d %b %Y %H:%M:%S} -0000"
        self.digests[value] = time.monotonic() + self.digest_lifetime
        return value

    def digest_valid(self, value: str | None) -> bool:
        expiry = self.digests.get(value or "")
        return expiry is not None and expiry > time.monotonic()

    def library_of(self, path: str) -> Library | None:
        lowered = path.lower()
        for library in self.libraries.values():
            root = f"{self.site_path}/{library.url_name}".lower()
            if lowered == root or lowered.startswith(root + "/"):
                return library
        return None

    def check_name(self, name: str, parent: str, is_folder: bool) -> None:
        bad = (not name or any(c in FORBIDDEN_CHARS for c in name) or name != name.strip(" ")
               or name.endswith(".") or name.startswith(".") and is_folder
               or name.lower() in RESERVED or name.split(".")[0].lower() in RESERVED
               or "_vti_" in name.lower() or name.startswith("~$")
               or any(ord(c) < 32 for c in name))
        library = self.library_of(parent)
        if is_folder and library and parent.lower() == f"{self.site_path}/{library.url_name}".lower() \
                and name.lower() == "forms":
            bad = True
        if bad:
            raise SharePointError(400, BAD_NAME,
                                  f"The file or folder name \"{name}\" contains characters that are not permitted.")
        if len(f"{parent}/{name}") > MAX_PATH:
            raise SharePointError(400, "-2147024690, System.IO.PathTooLongException",
                                  "The specified file or folder name is too long. The URL path for all files and "
                                  "folders must be 400 characters or less (and no more than 128 characters for "
                                  "any single file or folder name in the URL).")

    def folder_at(self, path: str) -> Folder:
        folder = self.folders.get(path.rstrip("/").lower())
        if folder is None:
            raise SharePointError(404, FOLDER_MISSING, "File Not Found.")
        return folder

    def file_at(self, path: str) -> File:
        file = self.files.get(path.lower())
        if file is None:
            raise SharePointError(404, FILE_MISSING, f"The file {path} does not exist.")
        return file

    def folder_by_id(self, unique_id: str) -> Folder:
        for folder in self.folders.values():
            if folder.unique_id == unique_id:
                return folder
        raise SharePointError(404, FOLDER_MISSING, "File Not Found.")

    def file_by_id(self, unique_id: str) -> File:
        for file in self.files.values():
            if file.unique_id == unique_id:
                return file
        raise SharePointError(404, FILE_MISSING, "File Not Found.")

    # ---------------------------------------------------------------- entities
    def uri(self, tail: str) -> str:
        return f"{self.url}/_api/{tail}"

    def folder_json(self, folder: Folder) -> dict:
        uri = self.uri(f"Web/GetFolderById('{folder.unique_id}')")
        count = sum(1 for f in self.files.values() if f.path.rsplit("/", 1)[0].lower() == folder.path.lower())
        return {"__metadata": {"id": uri, "uri": uri, "type": "SP.Folder"}, "Exists": True, "ItemCount": count,
                "Name": folder.name, "ServerRelativeUrl": folder.path, "TimeCreated": folder.created,
                "TimeLastModified": folder.created, "UniqueId": folder.unique_id, "WelcomePage": "",
                "Files": {"__deferred": {"uri": uri + "/Files"}},
                "Folders": {"__deferred": {"uri": uri + "/Folders"}}}

    def item_json(self, file: File) -> dict:
        library = file.library
        uri = self.uri(f"Web/Lists(guid'{library.id}')/Items({file.item_id})")
        data: dict[str, Any] = {"__metadata": {"id": uri, "uri": uri, "etag": f"\"{file.versions}\"",
                                               "type": library.entity_type},
                                "Id": file.item_id, "ID": file.item_id, "GUID": str(uuid.uuid5(uuid.NAMESPACE_URL,
                                                                                              file.unique_id)),
                                "Modified": file.modified, "Created": file.created, "EditorId": file.editor_id,
                                "OData__ModerationStatus": file.moderation,
                                "OData__UIVersionString": f"{file.major}.{file.minor}"}
        for f in library.fields:
            if not f.hidden and not f.read_only and f.type not in ("File", "Computed", "Counter", "Lookup"):
                data[f.entity_name] = file.values.get(f.internal)
        return data

    def file_json(self, file: File, expand: set[str] = frozenset()) -> dict:
        uri = self.uri(f"Web/GetFileById('{file.unique_id}')")
        data = {"__metadata": {"id": uri, "uri": uri, "type": "SP.File"}, "CheckInComment": "",
                "CheckOutType": 0 if file.checked_out else 2, "ContentTag": f"{{{file.unique_id}}},{file.versions},1",
                "ETag": f"\"{{{file.unique_id.upper()}}},{file.versions}\"", "Exists": True, "Length": str(len(file.content)),
                "MajorVersion": file.major, "MinorVersion": file.minor, "Name": file.name,
                "ServerRelativeUrl": file.path, "TimeCreated": file.created, "TimeLastModified": file.modified,
                "Title": file.values.get("Title"), "UIVersionLabel": f"{file.major}.{file.minor}",
                "UniqueId": file.unique_id,
                "ListItemAllFields": {"__deferred": {"uri": uri + "/ListItemAllFields"}}}
        if "listitemallfields" in expand:
            data["ListItemAllFields"] = self.item_json(file)
        return data

    def list_json(self, library: Library, expand: set[str]) -> dict:
        uri = self.uri(f"Web/Lists(guid'{library.id}')")
        root = self.folders[f"{self.site_path}/{library.url_name}".lower()]
        return {"__metadata": {"id": uri, "uri": uri, "type": "SP.List"}, "Id": library.id, "Title": library.title,
                "BaseTemplate": 101, "EnableVersioning": True, "ForceCheckout": library.force_checkout,
                "ItemCount": len(self.files_in(library.title)), "ListItemEntityTypeFullName": library.entity_type,
                "EnableMinorVersions": library.minor_versions, "EnableModeration": library.moderation,
                "DraftVersionVisibility": library.draft_visibility,
                "RootFolder": self.folder_json(root) if "rootfolder" in expand
                else {"__deferred": {"uri": uri + "/RootFolder"}},
                "Fields": {"__deferred": {"uri": uri + "/Fields"}}}

    # ---------------------------------------------------------------- dispatch
    def handle(self, method: str, api_path: str, query: dict[str, list[str]], headers: dict[str, str],
               body: bytes) -> tuple[int, dict | bytes | None, dict[str, str]]:
        segments = [parse_segment(s) for s in split_segments(api_path)]
        expand = {p.strip().lower() for v in query.get("$expand", []) for p in v.split(",")}
        select = {p.strip().lower() for v in query.get("$select", []) for p in v.split(",")}
        if not segments or segments[0][0] != "web":
            raise SharePointError(400, BAD_QUERY, f"The endpoint {api_path} is not modelled.")
        target: tuple[str, Any] = ("web", None)
        rest = segments[1:]
        index = 0
        while index < len(rest):
            name, args, named = rest[index]
            last = index == len(rest) - 1
            kind, obj = target
            if kind == "web" and name == "regionalsettings":
                target = ("regional", None)
            elif kind == "regional" and name == "timezone":
                target = ("timezone", None)
            elif kind == "list" and name == "getitems" and last and method == "POST":
                return 200, {"d": self.get_items(obj, json.loads(body or b"{}"), expand)}, {}
            elif kind == "list" and (name == "getitembyid" or name == "items" and args):
                item = next((f for f in self.files.values() if f.library is obj and f.item_id == int(args[0])), None)
                if item is None:
                    raise SharePointError(400, ARGUMENT, "Item does not exist. It may have been deleted by another "
                                                         "user.")
                target = ("item", item)
            elif kind == "item" and name == "file":
                target = ("file", obj)
            elif kind == "fields" and name == "createfieldasxml" and last and method == "POST":
                return 200, {"d": self.create_field(obj, json.loads(body or b"{}"))}, {}
            elif kind == "fields" and name in ("getbyinternalnameortitle", "getbytitle"):
                found = next((f for f in obj.fields if str(args[0]) in (f.internal, f.title)), None)
                if found is None:
                    raise SharePointError(400, ARGUMENT, f"Column '{args[0]}' does not exist.")
                target = ("field", found)
            elif kind == "web" and name == "lists":
                target = ("lists", None)
            elif kind == "lists" and name == "getbytitle":
                library = self.libraries.get(str(args[0]).lower())
                if library is None:
                    raise SharePointError(404, LIST_MISSING,
                                          f"List '{args[0]}' does not exist at site with URL '{self.url}'.")
                target = ("list", library)
            elif kind == "list" and name == "fields":
                target = ("fields", obj)
            elif kind == "list" and name == "rootfolder":
                target = ("folder", self.folders[f"{self.site_path}/{obj.url_name}".lower()])
            elif kind == "web" and name == "rootfolder":
                target = ("folder", self.root)
            elif kind == "web" and name == "getfolderbyserverrelativeurl":
                path = str(args[0] if args else named.get("serverrelativeurl", ""))
                if not path.startswith("/"):
                    path = f"{self.site_path}/{path}"
                folder = self.folders.get(path.rstrip("/").lower())
                if folder is None:
                    if last and method == "GET" and select == {"exists"}:
                        return 200, {"d": {"__metadata": {"type": "SP.Folder"}, "Exists": False}}, {}
                    raise SharePointError(404, FOLDER_MISSING, "File Not Found.")
                target = ("folder", folder)
            elif kind == "web" and name == "getfolderbyid":
                target = ("folder", self.folder_by_id(str(args[0])))
            elif kind == "web" and name == "getfilebyserverrelativeurl":
                path = str(args[0] if args else named.get("serverrelativeurl", ""))
                target = ("file", self.file_at(path))
            elif kind == "web" and name == "getuserbyid":
                name_ = self.users.get(int(args[0]))
                if name_ is None:
                    raise SharePointError(404, "-2146232832, Microsoft.SharePoint.SPException", "User cannot be found.")
                return 200, {"d": {"__metadata": {"type": "SP.User"}, "Id": int(args[0]), "Title": name_,
                                   "LoginName": f"i:0#.f|membership|{name_.lower().replace(' ', '.')}@cd.fr"}}, {}
            elif kind == "web" and name == "getfilebyid":
                target = ("file", self.file_by_id(str(args[0])))
            elif kind == "folder" and name == "folders":
                if args:
                    target = ("folder", self.folder_at(f"{obj.path}/{args[0]}"))
                else:
                    target = ("folders", obj)
            elif kind == "folder" and name == "files":
                target = ("files", obj)
            elif kind == "folders" and name == "add" and last and method == "POST":
                return 200, {"d": self.folder_json(self.add_folder(obj, str(args[0])))}, {}
            elif kind == "files" and name == "add" and last and method == "POST":
                return 200, {"d": self.file_json(self.add_file(obj, str(named.get("url", args[0] if args else "")),
                                                               bool(named.get("overwrite", False)), body))}, {}
            elif kind == "file" and name in ("listitemallfields", "listitem"):
                target = ("item", obj)
            elif kind == "item" and name == "parentlist":
                target = ("list", obj.library)
            elif kind == "item" and name == "validateupdatelistitem" and last and method == "POST":
                return 200, {"d": {"ValidateUpdateListItem": self.validate_update(obj, json.loads(body or b"{}"))}}, {}
            elif kind == "file" and last and method == "POST":
                return self.file_operation(obj, name, named, body)
            elif kind == "file" and name == "$value" and last and method == "GET":
                return 200, bytes(obj.content), {"Content-Type": "application/octet-stream"}
            else:
                raise SharePointError(400, BAD_QUERY, f"The segment '{name}' after {kind} is not modelled "
                                                      f"(method {method}).")
            index += 1
        return self.read_or_update(method, target, expand, headers, body)

    def read_or_update(self, method: str, target: tuple[str, Any], expand: set[str], headers: dict[str, str],
                       body: bytes) -> tuple[int, dict | bytes | None, dict[str, str]]:
        kind, obj = target
        if method == "MERGE" and kind == "item":
            self.merge_item(obj, json.loads(body or b"{}"), headers)
            return 204, None, {}
        if method == "MERGE" and kind == "field":
            payload = json.loads(body or b"{}")
            if "Indexed" in payload:
                obj.indexed = bool(payload["Indexed"])
            if "EnforceUniqueValues" in payload:
                if payload["EnforceUniqueValues"] and not obj.indexed:
                    raise SharePointError(400, ARGUMENT, "The column must be indexed to enforce unique values.")
                obj.unique = bool(payload["EnforceUniqueValues"])
            return 204, None, {}
        if method != "GET":
            raise SharePointError(400, BAD_QUERY, f"{method} on {kind} is not modelled.")
        if kind == "web":
            uri = self.uri("Web")
            return 200, {"d": {"__metadata": {"id": uri, "uri": uri, "type": "SP.Web"}, "Title": "Courrier",
                               "ServerRelativeUrl": self.site_path, "Url": self.url,
                               "Id": str(uuid.uuid5(uuid.NAMESPACE_URL, self.url))}}, {}
        if kind == "regional":
            return 200, {"d": {"__metadata": {"type": "SP.RegionalSettings"}, **self.regional}}, {}
        if kind == "timezone":
            description, _, bias = TIME_ZONES[self.time_zone]
            return 200, {"d": {"__metadata": {"type": "SP.TimeZone"}, "Id": self.time_zone,
                               "Description": description,
                               "Information": {"__metadata": {"type": "SP.TimeZoneInformation"}, "Bias": bias,
                                               "DaylightBias": -60, "StandardBias": 0}}}, {}
        if kind == "field":
            return 200, {"d": obj.to_json()}, {}
        if kind == "list":
            return 200, {"d": self.list_json(obj, expand)}, {}
        if kind == "fields":
            return 200, {"d": {"results": [f.to_json() for f in obj.fields]}}, {}
        if kind == "folder":
            return 200, {"d": self.folder_json(obj)}, {}
        if kind == "folders":
            children = [f for f in self.folders.values() if f.path.rsplit("/", 1)[0].lower() == obj.path.lower()]
            return 200, {"d": {"results": [self.folder_json(f) for f in children]}}, {}
        if kind == "files":
            files = [f for f in self.files.values() if f.path.rsplit("/", 1)[0].lower() == obj.path.lower()]
            if len(files) > self.list_view_threshold:
                raise SharePointError(500, THROTTLED, "The attempted operation is prohibited because it exceeds "
                                                      "the list view threshold.")
            return 200, {"d": {"results": [self.file_json(f, expand) for f in files]}}, {}
        if kind == "file":
            return 200, {"d": self.file_json(obj, expand)}, {}
        if kind == "item":
            return 200, {"d": self.item_json(obj)}, {}
        raise SharePointError(400, BAD_QUERY, f"GET on {kind} is not modelled.")

    # ---------------------------------------------------------------- operations
    def add_folder(self, parent: Folder, name: str) -> Folder:
        existing = self.folders.get(f"{parent.path}/{name}".lower())
        if existing is not None:
            if not self.folder_add_idempotent:  # as older on-premises servers answer
                raise SharePointError(400, FILE_EXISTS, f"A file or folder with the name {existing.path} "
                                                        "already exists.")
            return existing  # Folders/Add is idempotent on SharePoint Online
        self.check_name(name, parent.path, is_folder=True)
        folder = Folder(name, f"{parent.path}/{name}", self.library_of(parent.path))
        self.folders[folder.path.lower()] = folder
        return folder

    def add_file(self, folder: Folder, name: str, overwrite: bool, body: bytes) -> File:
        if folder.library is None:
            raise SharePointError(400, ARGUMENT, "Files can only be added to a document library.")
        self.check_name(name, folder.path, is_folder=False)
        path = f"{folder.path}/{name}"
        existing = self.files.get(path.lower())
        if existing is not None:
            if not overwrite:
                raise SharePointError(400, FILE_EXISTS, f"A file with the name {path} already exists. "
                                                        "It was last modified by app@sharepoint.")
            if folder.library.force_checkout and not existing.checked_out:
                raise SharePointError(423, CHECKOUT, f"The file \"{path}\" is not checked out. You must first "
                                                     "check out this document before making changes.")
            existing.content = bytes(body)
            existing.versions += 1
            existing.minor += 1
            existing.modified = now_iso()
            return existing
        library = folder.library
        draft = library.force_checkout or library.minor_versions
        file = File(name, path, library, bytes(body), item_id=library.next_item,
                    checked_out=library.force_checkout, major=0 if draft else 1, minor=1 if draft else 0,
                    moderation=(3 if draft else 2) if library.moderation else 0)
        library.next_item += 1
        self.files[path.lower()] = file
        return file

    def file_operation(self, file: File, name: str, named: dict, body: bytes):
        if name == "startupload":
            upload_id = str(named["uploadid"])
            self.sessions[upload_id] = Session(file, len(body), bytearray(body))
            return 200, {"d": {"StartUpload": str(len(body))}}, {}
        if name in ("continueupload", "finishupload"):
            session = self.sessions.get(str(named.get("uploadid")))
            if session is None or session.file is not file:
                raise SharePointError(404, FILE_MISSING, "The upload session was not found.")
            if int(named.get("fileoffset", -1)) != session.offset:
                raise SharePointError(400, ARGUMENT, f"The file offset {named.get('fileoffset')} is not valid; "
                                                     f"the session is at {session.offset}.")
            session.data += body
            session.offset += len(body)
            if name == "continueupload":
                return 200, {"d": {"ContinueUpload": str(session.offset)}}, {}
            del self.sessions[str(named["uploadid"])]
            file.content = bytes(session.data)
            file.modified = now_iso()
            file.versions += 1
            return 200, {"d": self.file_json(file)}, {}
        if name == "cancelupload":
            payload = json.loads(body or b"{}")
            self.sessions.pop(str(payload.get("uploadId")), None)
            return 200, {"d": {"CancelUpload": None}}, {}
        if name == "checkin":
            if not file.checked_out:
                raise SharePointError(400, CHECKOUT, f"The file \"{file.path}\" is not checked out.")
            missing = [f.title for f in file.library.fields if f.required and file.values.get(f.internal) in
                       (None, "")]
            if missing:
                raise SharePointError(400, "-2130575269, Microsoft.SharePoint.SPException",
                                      f"Required fields are empty: {', '.join(missing)}.")
            file.checked_out = False
            kind = int(named.get("checkintype", 0))
            if kind == 1:
                file.major, file.minor = file.major + 1, 0
                if file.library.moderation:
                    file.moderation = 2
            elif kind == 0:
                file.minor += 1
            return 200, {"d": {"CheckIn": None}}, {}
        if name == "publish":
            if file.checked_out:
                raise SharePointError(400, CHECKOUT, f"The file \"{file.path}\" is checked out; check it in first.")
            if not file.library.minor_versions or file.minor == 0:
                raise SharePointError(400, "-2130575306, Microsoft.SharePoint.SPException",
                                      "Only a minor version can be published.")
            file.major, file.minor = file.major + 1, 0
            if file.library.moderation:
                file.moderation = 2
            return 200, {"d": {"Publish": None}}, {}
        if name == "checkout":
            if file.checked_out:
                raise SharePointError(423, CHECKOUT, f"The file \"{file.path}\" is checked out for editing.")
            file.checked_out = True
            return 200, {"d": {"CheckOut": None}}, {}
        if name == "recycle":
            del self.files[file.path.lower()]
            return 200, {"d": {"Recycle": str(uuid.uuid4())}}, {}
        raise SharePointError(400, BAD_QUERY, f"File operation '{name}' is not modelled.")

    # ---------------------------------------------------------------- CAML and field creation
    def get_items(self, library: Library, payload: dict, expand: set[str]) -> dict:
        """List/GetItems with a CAML query: Eq, IsNotNull and And on FieldRef, RowLimit, Scope.

        As on SharePoint, a library past the list view threshold answers SPQueryThrottledException
        unless the query filters on an indexed column, and without Scope='Recursive(All)' only the
        root folder's items are returned.
        """
        query = payload.get("query") or {}
        view = ET.fromstring(query.get("ViewXml") or "<View/>")
        scope = (view.get("Scope") or "").lower()
        limit_node = view.find("RowLimit")
        limit = int(limit_node.text) if limit_node is not None and limit_node.text else 100
        where = view.find("Query/Where")
        condition = list(where)[0] if where is not None and len(where) else None
        root = f"{self.site_path}/{library.url_name}".lower()
        items = [f for f in self.files.values() if f.library is library
                 and (scope.startswith("recursive") or f.folder.lower() == root)]
        fields_used = [] if condition is None else [n.get("Name") for n in condition.iter("FieldRef")]
        columns = [library.field_by_internal(name) for name in fields_used]
        if None in columns:
            raise SharePointError(400, ARGUMENT, f"One or more field types are not installed properly: "
                                                 f"{', '.join(fields_used)}.")
        total = sum(1 for f in self.files.values() if f.library is library)
        if total > self.list_view_threshold and (condition is None and limit > self.list_view_threshold or
                                                 condition is not None and not any(c.indexed for c in columns)):
            raise SharePointError(500, THROTTLED, "The attempted operation is prohibited because it exceeds the "
                                                  "list view threshold.")

        def matches(file: File, node) -> bool:
            if node is None:
                return True
            tag = node.tag
            if tag == "And":
                return all(matches(file, child) for child in node)
            if tag == "Or":
                return any(matches(file, child) for child in node)
            value = file.values.get(node.find("FieldRef").get("Name"))
            if tag == "IsNotNull":
                return value not in (None, "")
            if tag == "IsNull":
                return value in (None, "")
            if tag == "Eq":
                return value is not None and str(value) == (node.find("Value").text or "")
            raise SharePointError(400, BAD_QUERY, f"The CAML element {tag} is not modelled.")

        found = sorted((f for f in items if matches(f, condition)), key=lambda f: f.item_id)[:limit]
        results = []
        for file in found:
            data = self.item_json(file)
            if "file" in expand:
                data["File"] = self.file_json(file)
            if "editor" in expand:
                data["Editor"] = {"__metadata": {"type": "SP.Data.UserInfoItem"}, "Id": file.editor_id,
                                  "Title": file.editor}
            results.append(data)
        return {"results": results}

    def create_field(self, library: Library, payload: dict) -> dict:
        schema = ET.fromstring((payload.get("parameters") or {}).get("SchemaXml") or "<Field/>")
        title = schema.get("DisplayName") or ""
        if not title or not schema.get("Type"):
            raise SharePointError(400, ARGUMENT, "The field schema needs a Type and a DisplayName.")
        if any(f.title == title for f in library.fields if not f.hidden):
            raise SharePointError(400, ARGUMENT, f"A duplicate field name \"{title}\" was found.")
        field_ = Field(title, schema.get("Type"), internal=encode_name(schema.get("Name") or title),
                       choices=[c.text or "" for c in schema.iter("CHOICE")],
                       indexed=schema.get("Indexed", "").upper() == "TRUE",
                       unique=schema.get("EnforceUniqueValues", "").upper() == "TRUE",
                       date_only=schema.get("Format") == "DateOnly")
        library.fields.append(field_)
        return field_.to_json()

    def parse_value(self, f: Field, text: str, in_utc: bool = False) -> Any:
        """Form values are strings in the site's regional format; None means 'not valid'."""
        if text == "":
            return None
        r = self.regional
        if f.type in ("Text", "Note"):
            return text if f.type == "Note" or len(text) <= 255 else ...
        if f.type in ("Number", "Integer"):
            if r["DecimalSeparator"] != "." and "." in text:
                return ...
            try:
                number = float(text.replace(r["DecimalSeparator"], "."))
            except ValueError:
                return ...
            return int(number) if f.type == "Integer" and number.is_integer() else number
        if f.type == "Boolean":
            lowered = text.lower()
            return {"1": True, "0": False, "true": True, "false": False, "yes": True, "no": False}.get(lowered, ...)
        if f.type == "DateTime":
            order = {0: "%m{s}%d{s}%Y", 1: "%d{s}%m{s}%Y", 2: "%Y{s}%m{s}%d"}[r["DateFormat"]]
            date_format = order.format(s=r["DateSeparator"])
            clocks = ("%H:%M", "%H:%M:%S") if r["Time24"] else ("%I:%M %p", "%I:%M:%S %p")
            for fmt in (date_format, *(f"{date_format} {clock}" for clock in clocks)):
                try:
                    parsed = datetime.strptime(text, fmt)
                except ValueError:
                    continue
                if not in_utc and not f.date_only:  # local wall time in the site's zone
                    parsed = parsed.replace(tzinfo=self.local_zone()).astimezone(timezone.utc)
                return parsed.strftime("%Y-%m-%dT%H:%M:%SZ")
            return ...
        if f.type == "Choice":
            return text if text in f.choices or f.fill_in else ...
        return ...

    def validate_update(self, file: File, payload: dict) -> dict:
        self.require_writable(file)
        if "datesInUTC" in payload and not self.accepts_dates_in_utc:
            raise SharePointError(400, "-1, Microsoft.SharePoint.Client.ClientServiceException",
                                  "The parameter datesInUTC does not exist in method ValidateUpdateListItem.")
        in_utc = bool(payload.get("datesInUTC"))
        results, updates = [], {}
        for entry in payload.get("formValues", []):
            if entry.get("__metadata", {}).get("type") != "SP.ListItemFormUpdateValue":
                raise SharePointError(400, BAD_QUERY, "A type named '' could not be resolved by the model.")
            name, text = entry.get("FieldName"), entry.get("FieldValue")
            f = file.library.field_by_internal(name)
            error = None
            if f is None or f.read_only:
                error = (-2147024809, f"Column '{name}' does not exist. It may have been deleted by another user.")
            else:
                value = self.parse_value(f, text if isinstance(text, str) else "", in_utc)
                taken = f.unique and value not in (None, "") and any(
                    other is not file and other.library is file.library and other.values.get(f.internal) == value
                    for other in self.files.values())
                if value is ...:
                    error = (-2147352571, f"Invalid {f.type} value for '{f.title}': {text!r}.")
                elif taken:
                    error = (-2130575169, f"This value already exists in the list ({f.title}).")
                else:
                    updates[f.internal] = value
            results.append({"__metadata": {"type": "SP.ListItemFormUpdateValue"}, "ErrorCode": error[0] if error
                            else 0, "ErrorMessage": error[1] if error else None, "FieldName": name,
                            "FieldValue": text, "HasException": error is not None, "ItemId": file.item_id})
        if not any(r["HasException"] for r in results):
            file.values.update(updates)
            file.modified = now_iso()
            if not payload.get("bNewDocumentUpdate"):
                file.versions += 1
        return {"__metadata": {"type": "Collection(SP.ListItemFormUpdateValue)"}, "results": results}

    def merge_item(self, file: File, payload: dict, headers: dict[str, str]) -> None:
        self.require_writable(file)
        if headers.get("if-match") is None:
            raise SharePointError(400, BAD_QUERY, "The request must carry an IF-MATCH header.")
        expected = file.library.entity_type
        given = payload.pop("__metadata", {}).get("type")
        if given != expected:
            raise SharePointError(400, BAD_QUERY, f"A type named '{given}' could not be resolved by the model. "
                                                  "When a model is available, each type name must resolve to a "
                                                  "valid type.")
        updates = {}
        for key, value in payload.items():
            f = file.library.field_by_entity(key)
            if f is None or f.read_only or f.hidden:
                raise SharePointError(400, BAD_QUERY, f"The property '{key}' does not exist on type '{expected}'. "
                                                      "Make sure to only use property names that are defined by "
                                                      "the type.")
            updates[f.internal] = value
        file.values.update(updates)
        file.versions += 1
        file.modified = now_iso()

    def require_writable(self, file: File) -> None:
        if file.library.force_checkout and not file.checked_out:
            raise SharePointError(423, CHECKOUT, f"The file \"{file.path}\" is not checked out. You must first "
                                                 "check out this document before making changes.")


class _Handler(BaseHTTPRequestHandler):
    emulator: SharePointEmulator
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # answers leave at once, as from a real server
    ntlm_context = None             # NTLM authenticates a connection, not a request
    ntlm_user: str | None = None

    def ntlm(self, auth: str) -> tuple[int, Any, dict[str, str]] | None:
        """None when the connection is authenticated; otherwise the 401 of the next handshake step."""
        import base64

        import spnego

        if self.ntlm_user:
            return None
        challenge = {"Content-Type": "text/plain", "WWW-Authenticate": "NTLM"}
        if not auth.startswith("NTLM "):
            return 401, b"Unauthorized", challenge
        if self.ntlm_context is None:
            self.ntlm_context = spnego.server(protocol="ntlm")
        try:
            answer = self.ntlm_context.step(base64.b64decode(auth[5:]))
        except Exception:  # a wrong password ends the handshake, as IIS does
            self.ntlm_context = None
            return 401, b"Unauthorized", challenge
        if self.ntlm_context.complete:
            self.ntlm_user = str(self.ntlm_context.client_principal)
            return None
        return 401, b"Unauthorized", {"Content-Type": "text/plain",
                                      "WWW-Authenticate": "NTLM " + base64.b64encode(answer).decode()}

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    def do_GET(self) -> None:
        self.serve("GET")

    def do_POST(self) -> None:
        self.serve("POST")

    def do_HEAD(self) -> None:
        self.serve("HEAD")

    def reply(self, status: int, payload: dict | bytes | None, extra: dict[str, str] | None = None,
              content_type: str = JSON_VERBOSE) -> None:
        extra = dict(extra or {})
        content_type = extra.pop("Content-Type", content_type)
        body = b"" if payload is None else payload if isinstance(payload, bytes) else \
            json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        if payload is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("request-id", str(uuid.uuid4()))
        for key, value in extra.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def serve(self, verb: str) -> None:
        emulator = self.emulator
        parts = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        method = headers.get("x-http-method", verb).upper()
        length = int(headers.get("content-length") or 0)
        prefix = emulator.site_path.lower() + "/_api/"
        api_path = unquote(parts.path)[len(prefix):] if parts.path.lower().startswith(prefix) else unquote(parts.path)
        shown = api_path + (f"?{unquote(parts.query)}" if parts.query else "")
        fault = emulator.take_fault(method, shown)
        if fault is not None and fault.kind == "drop":
            self.rfile.read(length // 2)  # the connection is cut while the body is on its way
            self.record(method, shown, 0, headers, length)
            self.drop()
            return
        body = self.rfile.read(length) if length else b""
        status, payload, extra = self.dispatch(method, parts, shown, headers, body, fault)
        if status < 400 and emulator.rate_limit:
            extra = {**extra, **emulator.rate_limit}
        self.record(method, shown, status, headers, len(body))
        if fault is not None and fault.kind == "drop-after":
            self.drop()  # the server acted; the answer is lost on the way back
            return
        self.reply(status, payload, extra)

    def record(self, method: str, shown: str, status: int, headers: dict[str, str], size: int) -> None:
        with self.emulator.lock:
            self.emulator.log.append(LoggedRequest(method, shown, status, headers, size))

    def dispatch(self, method: str, parts, shown: str, headers: dict[str, str], body: bytes,
                 fault: Fault | None) -> tuple[int, Any, dict[str, str]]:
        emulator = self.emulator
        if fault is not None and fault.kind in ("429", "503", "500"):
            extra = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            if fault.kind == "429":
                return 429, b"Too many requests", {"Content-Type": "text/plain", **extra}
            return int(fault.kind), error_body(FILE_MISSING.split(",")[0] + ", System.Web.HttpException",
                                               "The server is busy."), extra
        if emulator.clock() < emulator.throttled_until:
            return 429, error_body("-2147024860, Microsoft.SharePoint.SPRequestThrottledException",
                                   "The request has been throttled."), {"Retry-After": str(emulator.throttle_answer)}
        auth = headers.get("authorization", "")
        if emulator.ntlm_users is not None:
            refused = self.ntlm(auth)
            if refused is not None:
                return refused
        elif fault is not None and fault.kind == "401" or not auth.startswith("Bearer ") \
                or emulator.tokens.get(auth[len("Bearer "):], float("-inf")) <= emulator.clock():
            return 401, b'{"error_description":"Invalid JWT token. The token is expired."}', {
                "Content-Type": "application/json", "WWW-Authenticate":
                    'Bearer realm="00000000-0000-0000-0000-000000000000",client_id="00000003-0000-0ff1-ce00-000000000000"'}
        if "odata=verbose" not in headers.get("accept", ""):
            return 400, error_body(BAD_QUERY, "This emulator answers odata=verbose only."), {}
        path = parts.path.lower()
        if path == emulator.site_path.lower() + "/_api/contextinfo":
            if method != "POST":
                return 400, error_body(BAD_QUERY, "contextinfo is POST only."), {}
            with emulator.lock:
                digest = emulator.issue_digest()
            return 200, {"d": {"GetContextWebInformation": {
                "__metadata": {"type": "SP.ContextWebInformation"}, "FormDigestValue": digest,
                "FormDigestTimeoutSeconds": emulator.digest_lifetime, "LibraryVersion": "16.0.0.0",
                "SiteFullUrl": emulator.url, "WebFullUrl": emulator.url,
                "SupportedSchemaVersions": {"__metadata": {"type": "Collection(Edm.String)"},
                                            "results": ["14.0.0.0", "15.0.0.0"]}}}}, {}
        with emulator.lock:
            if not emulator.digest_valid(headers.get("x-requestdigest")):
                return 403, error_body(DIGEST_INVALID, "The security validation for this page is invalid and might "
                                                       "be corrupted. Please use your web browser's Back button to "
                                                       "try your operation again."), {}
            if not path.startswith(emulator.site_path.lower() + "/_api/"):
                return 404, error_body(FOLDER_MISSING, "File Not Found."), {}
            raw = parts.path[len(emulator.site_path) + len("/_api/"):]
            try:
                return emulator.handle(method, raw, parse_qs(parts.query), headers, body)
            except SharePointError as error:
                return error.status, error_body(error.code, error.message), {}
            except (KeyError, IndexError, ValueError) as error:
                return 400, error_body(BAD_QUERY, f"Invalid request: {error}"), {}


class FakeClock:
    """Wall time that moves only when someone sleeps: minutes of Retry-After in no time."""

    def __init__(self, start: float | None = None):
        self.now = time.time() if start is None else start
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def __call__(self) -> float:
        with self.lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(round(seconds, 3))
            self.now += seconds

    def advance(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds

    def install(self, connection) -> "FakeClock":
        connection.clock, connection.sleep = self, self.sleep
        return self


def error_body(code: str, message: str) -> dict:
    return {"error": {"code": code, "message": {"lang": "en-US", "value": message}}}


# -------------------------------------------------------------------- test helpers
def write_config(home, emulator: SharePointEmulator, **sharepoint) -> "Path":
    """A mailroom.toml for `home` publishing into the emulator with token authentication."""
    from pathlib import Path

    settings = {"site_url": emulator.url, "auth": "token", "max_attempts": 5, **sharepoint}
    lines = ["[publish]", 'backend = "sharepoint"', "", "[sharepoint]"]
    for key, value in settings.items():
        lines.append(f"{key} = {json.dumps(value)}")
    path = Path(home) / "mailroom.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def default_libraries(emulator: SharePointEmulator, force_checkout: tuple[str, ...] = (),
                      settings: dict[str, dict] | None = None) -> None:
    """Every library of the bundled configuration, with the French columns; `settings` per library
    title, e.g. {"Routes": {"minor_versions": True}}."""
    settings = settings or {}
    from pipeline.config import DEFAULT_CONFIG
    import tomllib

    with open(DEFAULT_CONFIG, "rb") as handle:
        categories = tomllib.load(handle)["categories"]
    labels = tuple(table["label"] for table in categories.values())
    for table in categories.values():
        if table["library"].lower() not in emulator.libraries:
            emulator.add_library(table["library"], force_checkout=table["library"] in force_checkout,
                                 labels=labels, **settings.get(table["library"], {}))


def make_document(doc_id: str = "in1-1", category: str = "routes", sender: str = "Dupont Jean",
                  received_at: str = "2026-03-12T09:14:00+01:00", sha: str = "ab" * 32, pages=(1, 2),
                  uid: str | None = None, **fields):
    """A routed letter; its uid is derived from its id unless given (two homes give their own)."""
    from pipeline.records import Document

    doc = Document(id=doc_id, input_id=doc_id.split("-")[0], source="scan 0001.pdf", source_sha256=sha,
                    source_pages=list(pages), received_at=received_at, batch=doc_id.split("-")[0],
                    category=category, confidence=0.873,
                    fields={"sender": sender, "letter_date": "2026-03-10", "references": ["RD 12", "PR 4"],
                            "urgent": True, **fields})
    doc.uid = uid or str(uuid.uuid5(uuid.NAMESPACE_URL, f"mailroom-test/{doc_id}"))
    return doc


try:
    import pytest
except ImportError:  # the emulator itself does not need pytest
    pytest = None

if pytest is not None:
    @pytest.fixture
    def emulator(monkeypatch):
        """A started emulator with every default library; the token is in the environment."""
        server = SharePointEmulator().start()
        default_libraries(server, force_checkout=("Factures",))
        monkeypatch.setenv("MAILROOM_SHAREPOINT_TOKEN", "test-token")
        yield server
        server.stop()

    @pytest.fixture
    def sp_config(home, emulator):
        from pipeline.config import load_config

        return load_config(home, write_config(home, emulator))

    @pytest.fixture
    def publisher(sp_config):
        from pipeline.publish import make_publisher

        made = make_publisher(sp_config)
        made.connection.backoff_base = 0.05
        return made
