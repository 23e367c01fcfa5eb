"""Watch the inboxes and take each scan exactly once, only when it is complete.

A file is taken when its size and mtime have not changed for the settle time
AND it opens as a PDF/TIFF/JPEG/PNG (scanners write slowly, and over SMB).
A file that stays unreadable for ``watch.invalid_grace_seconds`` is taken anyway and
goes to quarantine with a reason: nothing sits in an inbox unexplained.
"""
from __future__ import annotations

import fnmatch
import json
import logging
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from .config import Config, InboxConfig
from .files import sha256_file, write_atomically
from .ingest import BadInput, open_source
from .store import InputRow, Store

log = logging.getLogger("mailroom")
JUNK_PATTERNS = ("*.tmp", "*.part", "*.partial", "*.crdownload", "~$*", ".*", "Thumbs.db", "desktop.ini",
                 ".DS_Store", "*.reason.txt")
INCOMING = "incoming"  # spool/incoming: files moved in, not yet recorded


def is_junk(path: Path) -> bool:
    return any(fnmatch.fnmatch(path.name, pattern) for pattern in JUNK_PATTERNS)


def _local_iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")


def name_problem(name: str) -> BadInput | None:
    """Names that no library, share or person can use: the file is quarantined, its reason says why."""
    if any(ord(ch) < 32 or ch == "\x7f" for ch in name):
        return BadInput("name-control-characters")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return BadInput("name-not-text")
    return None


def claim(config: Config, store: Store, path: Path, inbox: Path | None, move: bool = True) -> InputRow:
    """Take one file into the spool and record it; the file is in exactly one place at any moment.

    ``move`` is false for `mailroom process PATH`, whose files belong to the caller and are copied.
    """
    path = Path(path)
    stat = path.stat()
    incoming = config.spool_dir / INCOMING
    incoming.mkdir(parents=True, exist_ok=True)
    # The arrival time and the original name are written down before the move, so that
    # a crash right after it loses nothing (see recover_incoming).
    staged = incoming / f"{uuid.uuid4().hex}.data"
    meta = {"name": os.fsencode(path.name).hex(), "received_at": _local_iso(stat.st_mtime),
            "inbox": str(inbox or "")}
    write_atomically(staged.with_suffix(".meta"), json.dumps(meta).encode())
    if move:
        try:
            os.rename(path, staged)  # atomic on one file system
        except OSError:
            _copy_durably(path, staged)
            path.unlink()
    else:
        _copy_durably(path, staged)
    return _record(config, store, staged)


def _copy_durably(source: Path, target: Path) -> None:
    partial = target.with_name(target.name + ".partial")
    with open(source, "rb") as reader, open(partial, "wb") as writer:
        shutil.copyfileobj(reader, writer, 1 << 20)
        writer.flush()
        os.fsync(writer.fileno())
    os.replace(partial, target)


def _record(config: Config, store: Store, staged: Path) -> InputRow:
    meta_file = staged.with_suffix(".meta")
    meta = json.loads(meta_file.read_text())
    original = os.fsdecode(bytes.fromhex(meta["name"]))
    # Printable and valid UTF-8, whatever the scanner or the share wrote.
    display_name = "".join(ch if ord(ch) >= 32 and ch != "\x7f" else "?" for ch in
                           original.encode("utf-8", "surrogateescape").decode("utf-8", "replace"))
    suffix = "".join(ch for ch in Path(display_name).suffix.lower()[:8] if ch.isalnum() or ch == ".")
    inbox = Path(meta["inbox"]) if meta["inbox"] else None
    row = store.add_input(sha256_file(staged), display_name, str(staged), meta["received_at"],
                          inbox=meta["inbox"], split_mode=config.split_mode_for(inbox), size=staged.stat().st_size)
    target = config.spool_dir / f"{row.id}{suffix}"
    os.replace(staged, target)
    store.set_input_state(row.id, row.state, spool_path=str(target))
    meta_file.unlink()
    problem = name_problem(original)
    if problem and row.state == "received":
        from .quarantine import quarantine_input
        quarantine_input(config, store, store.get_input(row.id), problem)
    return store.get_input(row.id)


def recover_incoming(config: Config, store: Store) -> list[InputRow]:
    """After a crash: files moved into the spool but not yet recorded are recorded now."""
    incoming = config.spool_dir / INCOMING
    if not incoming.is_dir():
        return []
    recovered = []
    rows_by_path = {row.spool_path: row for row in store.inputs()}
    for meta_file in sorted(incoming.glob("*.meta")):
        staged = meta_file.with_suffix(".data")
        staged.with_name(staged.name + ".partial").unlink(missing_ok=True)  # interrupted copy: original still in inbox
        if not staged.exists():
            meta_file.unlink()  # the move never happened: the file is still in its inbox
        elif str(staged) in rows_by_path:  # recorded, crash before the final rename
            row = rows_by_path[str(staged)]
            target = config.spool_dir / f"{row.id}{Path(row.original_name).suffix.lower()[:8]}"
            os.replace(staged, target)
            store.set_input_state(row.id, row.state, spool_path=str(target))
            meta_file.unlink()
        else:
            recovered.append(_record(config, store, staged))
    return recovered


@dataclass
class _Candidate:
    inbox: InboxConfig
    size: int
    mtime: float
    stable_since: float
    first_seen: float


class _Events(FileSystemEventHandler):
    def __init__(self, watcher: "Watcher", inbox: InboxConfig):
        self.watcher, self.inbox = watcher, inbox

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.is_directory:
            return
        for attribute in ("dest_path", "src_path"):
            value = getattr(event, attribute, "")
            if value:
                self.watcher.notice(Path(os.fsdecode(value)), self.inbox)


class Watcher:
    """Observers on every inbox plus a settle loop that claims complete files."""

    def __init__(self, config: Config, store: Store, on_claimed, invalid_grace: float | None = None):
        self.config = config
        self.store = store
        self.on_claimed = on_claimed
        self.invalid_grace = invalid_grace if invalid_grace is not None else config.watch.invalid_grace_seconds
        self._candidates: dict[Path, _Candidate] = {}
        self._lock = threading.Lock()
        self._observers = []
        self._last_rescan = 0.0

    def start(self) -> None:
        for inbox in self.config.all_inboxes():
            inbox.path.mkdir(parents=True, exist_ok=True)
            observer = PollingObserver(timeout=self.config.watch.poll_seconds) if inbox.polling else Observer()
            observer.schedule(_Events(self, inbox), str(inbox.path), recursive=True)
            observer.daemon = True
            observer.start()
            self._observers.append(observer)
        self.rescan()

    def stop(self) -> None:
        for observer in self._observers:
            observer.stop()
        for observer in self._observers:
            observer.join(timeout=5)
        self._observers.clear()

    def notice(self, path: Path, inbox: InboxConfig) -> None:
        if not path.is_relative_to(inbox.path):  # e.g. the far end of a move out of the inbox
            return
        if is_junk(path) or any(part.startswith(".") for part in path.relative_to(inbox.path).parts[:-1]):
            return
        with self._lock:
            if path not in self._candidates:
                now = time.monotonic()
                self._candidates[path] = _Candidate(inbox, -1, -1.0, now, now)

    def rescan(self) -> None:
        """Files present at start-up, and any event the observer missed."""
        self._last_rescan = time.monotonic()
        for inbox in self.config.all_inboxes():
            for root, directories, files in os.walk(inbox.path):
                directories[:] = [d for d in directories if not d.startswith(".")]
                for name in files:
                    self.notice(Path(root) / name, inbox)

    def poll(self) -> list[InputRow]:
        """Claim every candidate that has settled; returns what was claimed."""
        now = time.monotonic()
        if now - self._last_rescan >= self.config.watch.rescan_seconds:
            self.rescan()
        claimed = []
        with self._lock:
            candidates = list(self._candidates.items())
        for path, candidate in candidates:
            try:
                stat = path.stat()
            except FileNotFoundError:
                self._forget(path)
                continue
            except OSError:
                continue
            if (stat.st_size, stat.st_mtime) != (candidate.size, candidate.mtime):
                candidate.size, candidate.mtime, candidate.stable_since = stat.st_size, stat.st_mtime, now
                continue
            if now - candidate.stable_since < self.config.watch.settle_seconds:
                continue
            if not self._readable(path) and now - candidate.stable_since < self.invalid_grace:
                continue  # maybe still being written by a scanner that pauses; give it time
            try:
                row = claim(self.config, self.store, path, candidate.inbox.path)
            except FileNotFoundError:
                self._forget(path)
                continue
            except OSError as error:
                log.warning("cannot take %s yet: %s", path, error)
                continue
            self._forget(path)
            claimed.append(row)
            self.on_claimed(row)
        return claimed

    def _readable(self, path: Path) -> bool:
        try:
            open_source(path, self.config.ingest)
            return True
        except BadInput:
            return False

    def _forget(self, path: Path) -> None:
        with self._lock:
            self._candidates.pop(path, None)
