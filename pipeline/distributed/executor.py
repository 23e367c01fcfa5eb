"""CeleryExecutor: the local executor's interface, over Celery workers on any machine.

The coordinator calls ``submit_split`` and ``submit_ocr`` and gets
``concurrent.futures.Future`` objects, exactly as from the local process pool;
it never waits on the network. Two threads do the rest:

* the dispatcher cuts the page a task needs out of its input and publishes it
  (one page per message). While Redis is unreachable it waits and tries again:
  dispatch pauses, nothing is dropped.
* the collector reads the results of the pending tasks (one MGET per round),
  writes each page's PDF into the work folder, completes its future and deletes
  the result from Redis.

Validate + split of an input, without sending the batch anywhere: the light
validation (the file opens, its page count, no password, poppler reads it) runs
here on the coordinator, where the file is; each page is then looked at by a
worker (codes, blankness: ``analyse_page``, one page per message), and the
documents are planned here from the pages' kinds with the same rules
(``split.plan_from_kinds``). Task ids are idempotency keys: ``{uid}:{page}``
for OCR (the key the coordinator gives), ``split:{file sha256}:{settings}:{page}``
for the look at a page (input ids are per installation, and installations may
share one Redis): a page given twice is stored under one key and completes its
future once.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from concurrent.futures import Future, InvalidStateError
from pathlib import Path
from queue import Empty, Queue

from celery import states

from ..config import Config
from ..errors import BadInput, MailroomError
from ..files import sha256_file
from ..ingest import Source, open_source
from ..split import CONTENT, PageKind, needs_raster, parse_mode, plan_from_kinds
from . import transport
from .app import ANALYSE_PAGE, BROKER_ERRORS, OCR_PAGE, make_app

log = logging.getLogger("mailroom.celery")
POLL_SECONDS = 0.1
MAX_BACKOFF = 5.0


class PoisonPage(BadInput):
    """A page killed every worker that took it (``runner.page_attempts`` times): the input is quarantined."""

    code = "poison-page"


class RemoteTaskFailed(MailroomError):
    """A worker raised an unexpected error (a bug, a missing program on that machine): retried, then quarantined."""

    code = "remote-task-failed"


TRANSIENT_ERRORS = {"ConnectionError", "TimeoutError", "OperationalError", "ConnectionResetError", "BrokenPipeError"}


def _transient(result) -> bool:
    """A task that failed because Redis went away under it (not because of its page)."""
    return isinstance(result, dict) and result.get("exc_type") in TRANSIENT_ERRORS


def _settle(future: Future, value=None, error: BaseException | None = None) -> None:
    """Complete ``future`` unless the coordinator cancelled it (or another path completed it) meanwhile."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)
    except InvalidStateError:
        pass


class _Pending:
    """The futures waiting for one task id (the same key submitted twice runs once, completes both),
    and how to publish the task again (the page is cut out again: nothing big is kept in memory)."""

    __slots__ = ("waiters", "name", "arguments")

    def __init__(self, future: Future, read, name: str, arguments):
        self.waiters = [(future, read)]
        self.name, self.arguments = name, arguments

    def cancelled(self) -> bool:
        return all(future.cancelled() for future, _ in self.waiters)


class CeleryExecutor:
    def __init__(self, config: Config, workers: int | None = None):
        self.config = config
        self.app = make_app(config.runner)
        self.available = True            # False while Redis cannot be reached
        self.last_error: str | None = None
        self.dispatched = 0              # tasks published
        self._limit = config.runner.max_message_mb
        self._config_message = transport.config_message(config)
        self._jobs: Queue = Queue()
        self._pending: dict[str, _Pending] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._dispatch_loop, name="celery-dispatch", daemon=True),
                         threading.Thread(target=self._collect_loop, name="celery-collect", daemon=True)]
        for thread in self._threads:
            thread.start()

    # -- the executor interface --------------------------------------------------------------
    def submit_split(self, path: str, mode: str, config: Config, key: str) -> Future:
        future: Future = Future()
        self._jobs.put((self._split, (future, path, mode, config, key)))
        return future

    def submit_ocr(self, source: Source, page: int, config: Config, workdir: str, key: str) -> Future:
        future: Future = Future()
        self._jobs.put((self._ocr, (future, source, page, config, Path(workdir), key)))
        return future

    def shutdown(self, wait: bool = True) -> None:
        self._stop.set()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout=10 if wait else 1)
        with self._lock:
            pending, self._pending = list(self._pending.values()), {}
        for item in pending:
            for future, _ in item.waiters:
                future.cancel()
        while True:
            try:
                _, args = self._jobs.get_nowait()
            except Empty:
                break
            args[0].cancel()
        self.app.close()

    # -- dispatch (its own thread) -------------------------------------------------------------
    def _dispatch_loop(self) -> None:
        while not self._stop.is_set():
            try:
                job, args = self._jobs.get(timeout=0.2)
            except Empty:
                continue
            future = args[0]
            if future.cancelled():
                continue
            try:
                job(*args)
            except BaseException as error:  # the future carries it to the coordinator
                _settle(future, error=error)

    def _split(self, future: Future, path: str, mode: str, config: Config, key: str) -> None:
        source = open_source(Path(path), config.ingest)  # BadInput goes to the future: quarantine
        with_codes = parse_mode(mode)[1]
        if not needs_raster(mode, config):
            _settle(future, (source, plan_from_kinds(((p, PageKind(CONTENT)) for p in
                                                      range(1, source.page_count + 1)), mode)))
            return
        config_message = self._message_config(config)
        # Input ids (L000012) are per installation; installations may share one Redis: the pages'
        # task ids name the file's content and the settings that read it instead.
        settings = hashlib.sha256(json.dumps(config_message, sort_keys=True).encode()).hexdigest()[:12]
        prefix = f"split:{sha256_file(Path(path))[:24]}:{settings}"
        kinds: dict[int, PageKind | BaseException] = {}
        remaining = [source.page_count]
        lock = threading.Lock()

        def page_done(page: int, child: Future) -> None:
            if child.cancelled():  # shutting down
                return
            with lock:
                kinds[page] = child.exception() or child.result()
                remaining[0] -= 1
                last = remaining[0] == 0
            if not last or future.done():
                return
            for number in range(1, source.page_count + 1):  # the first bad page in page order, as locally
                if isinstance(kinds[number], BaseException):
                    _settle(future, error=kinds[number])
                    return
            _settle(future, (source, plan_from_kinds(((p, kinds[p]) for p in range(1, source.page_count + 1)), mode)))

        for page in range(1, source.page_count + 1):
            if future.cancelled() or self._stop.is_set():
                return
            child: Future = Future()
            child.add_done_callback(lambda done, page=page: page_done(page, done))
            self._send(child, f"{prefix}:{page}", ANALYSE_PAGE,
                       lambda: [transport.page_message(source, page, self._limit), config_message, with_codes],
                       transport.read_kind)

    def _ocr(self, future: Future, source: Source, page: int, config: Config, workdir: Path, key: str) -> None:
        self._send(future, key, OCR_PAGE,
                   lambda: [transport.page_message(source, page, self._limit), self._message_config(config)],
                   lambda result: transport.read_ocr(result, source, workdir))

    def _message_config(self, config: Config) -> dict:
        return self._config_message if config is self.config else transport.config_message(config)

    def _send(self, future: Future, task_id: str, name: str, arguments, read) -> None:
        """Publish one task (unless its result is already there), waiting out broker outages."""
        with self._lock:
            if task_id in self._pending:  # already on its way: one task, one result, both futures
                self._pending[task_id].waiters.append((future, read))
                return
        args = arguments()  # BadInput (a page too large to travel) goes to the future
        delay = 0.2
        while not self._stop.is_set() and not future.cancelled():
            try:
                meta = self._metas([task_id])[0]
                if meta and not (meta["status"] == states.SUCCESS and "failure" not in (meta["result"] or {})):
                    self.app.backend.delete(self._meta_key(task_id))  # an earlier failure: this is a new attempt
                with self._lock:
                    self._pending.setdefault(task_id, _Pending(future, read, name, arguments))
                if meta and meta["status"] == states.SUCCESS and "failure" not in (meta["result"] or {}):
                    return  # computed before (the coordinator restarted): the collector takes it as is
                self.app.send_task(name, args=args, task_id=task_id, queue=self.config.runner.queue,
                                   retry=False)
                self.dispatched += 1
                self._up()
                return
            except BROKER_ERRORS as error:
                self._down(error)
                self._stop.wait(delay)
                delay = min(delay * 2, MAX_BACKOFF)

    # -- collect (its own thread) --------------------------------------------------------------
    def _meta_key(self, task_id: str) -> str:
        return self.app.backend.get_key_for_task(task_id)

    def _metas(self, task_ids: list[str]) -> list[dict | None]:
        backend = self.app.backend
        raw = backend.client.mget([self._meta_key(task_id) for task_id in task_ids])
        return [backend.decode_result(value) if value else None for value in raw]

    def _collect_loop(self) -> None:
        delay = POLL_SECONDS
        while not self._stop.wait(delay):
            with self._lock:
                waiting = list(self._pending.items())
            if not waiting:
                delay = POLL_SECONDS
                continue
            try:
                metas = self._metas([task_id for task_id, _ in waiting])
            except BROKER_ERRORS as error:
                self._down(error)
                delay = min(max(delay, 0.2) * 2, MAX_BACKOFF)
                continue
            self._up()
            delay = POLL_SECONDS
            for (task_id, item), meta in zip(waiting, metas):
                if item.cancelled():
                    with self._lock:
                        self._pending.pop(task_id, None)
                    continue
                if meta is None or meta["status"] not in states.READY_STATES:
                    continue
                if meta["status"] == states.FAILURE and _transient(meta["result"]):
                    self._resend(task_id, item)  # the worker lost Redis mid-task: not the page's fault
                    continue
                with self._lock:
                    if self._pending.get(task_id) is not item:
                        continue
                    del self._pending[task_id]
                self._complete(item, meta)
                try:
                    self.app.backend.delete(self._meta_key(task_id))
                except BROKER_ERRORS:
                    pass  # it expires on its own (celery result_expires)

    def _resend(self, task_id: str, item: _Pending) -> None:
        try:
            self.app.backend.delete(self._meta_key(task_id))
            self.app.send_task(item.name, args=item.arguments(), task_id=task_id, queue=self.config.runner.queue,
                               retry=False)
        except BROKER_ERRORS as error:
            self._down(error)  # the next round finds the failure again and tries again

    def _complete(self, item: _Pending, meta: dict) -> None:
        for future, read in item.waiters:
            self._complete_one(future, read, meta)

    def _complete_one(self, future: Future, read, meta: dict) -> None:
        result = meta["result"]
        try:
            if meta["status"] != states.SUCCESS:
                failure = result if isinstance(result, dict) else {}
                raise RemoteTaskFailed(f"{failure.get('exc_type', meta['status'])}: "
                                       f"{failure.get('exc_message', result)}")
            if "failure" in result:
                failure = result["failure"]
                raise (PoisonPage if failure["code"] == "poison-page" else BadInput)(failure["code"],
                                                                                    **failure.get("params", {}))
            value = read(result)
        except BaseException as error:
            _settle(future, error=error)
            return
        _settle(future, value)

    # -- broker availability (for status and the logs) ------------------------------------------
    def _down(self, error: BaseException) -> None:
        if self.available:
            log.warning("file d'attente indisponible (%s) : envoi en pause, nouvel essai en continu", error)
        self.available, self.last_error = False, f"{error.__class__.__name__}: {error}"

    def _up(self) -> None:
        if not self.available:
            log.warning("file d'attente de nouveau disponible : envoi repris")
            self._jobs.put((self._recover, (Future(),)))
        self.available, self.last_error = True, None

    def _recover(self, _: Future) -> None:
        """After an outage: publish again the tasks Redis no longer holds (restarted without its data).

        A task is held while its message waits in the queue, is unacknowledged in a
        worker's hands, or has its result stored; any other pending task was lost with
        Redis's memory. Publishing one twice costs a page's work, never a second effect.
        """
        with self._lock:
            pending = dict(self._pending)
        if not pending:
            return
        client = self.app.backend.client
        broker = self.app.connection_for_write()
        try:
            redis = broker.default_channel.client
            held = redis.lrange(self.config.runner.queue, 0, -1) + list(redis.hvals("unacked"))
        finally:
            broker.release()
        present = {json.loads(raw)[0]["headers"]["id"] if raw.startswith(b"[") else json.loads(raw)["headers"]["id"]
                   for raw in held}
        stored = client.mget([self._meta_key(task_id) for task_id in pending])
        for (task_id, item), result in zip(pending.items(), stored):
            if task_id in present or result is not None:
                continue
            log.warning("%s: lost with the queue, sent again", task_id)
            self.app.send_task(item.name, args=item.arguments(), task_id=task_id, queue=self.config.runner.queue,
                               retry=False)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending) + self._jobs.qsize()

    def wait_idle(self, timeout: float) -> bool:
        """For benchmarks and tests: until nothing is pending (True) or ``timeout`` (False)."""
        end = time.monotonic() + timeout
        while self.pending and time.monotonic() < end:
            time.sleep(0.05)
        return not self.pending
