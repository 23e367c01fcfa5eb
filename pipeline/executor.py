"""Where the heavy, pure work runs: validation + split of an input, OCR of one page.

The coordinator only uses this interface (``submit_split``, ``submit_ocr``,
``shutdown``, ``WorkerLost``), so another backend (a distributed queue) plugs in
unchanged; ``make_executor`` picks it from ``runner.backend``. ``key`` is an
idempotency key (``"{input_id}"`` for a split, ``"{uid}:{page}"`` for a page)
that a distributed backend uses to run a task once; the local pool ignores it.

Local workers end by themselves when their coordinator dies (``kill -9``,
power cut of the service only): a watchdog thread in each worker checks the
coordinator's pid, and the forkserver exits once its last worker is gone.
"""
from __future__ import annotations

import multiprocessing
import os
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from .config import Config
from .errors import WorkerLost

__all__ = ["LocalExecutor", "WorkerLost", "make_executor", "split_task", "ocr_task"]
WATCHDOG_SECONDS = 1.0


# -- work done in worker processes ----------------------------------------------------------

def split_task(path: str, mode: str, config: Config):
    """Validate one input and cut it into documents: ``(Source, SplitResult)``."""
    from .ingest import open_source
    from .split import plan_documents

    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    source = open_source(Path(path), config.ingest)
    return source, plan_documents(source, mode, config)


def ocr_task(source, page: int, config: Config, workdir: str):
    """OCR one page into ``workdir``: a ``PageOcr``."""
    from .ocr import ocr_page

    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    return ocr_page(source, page, config, Path(workdir))


def _watch_coordinator(pid: int) -> None:
    while True:
        time.sleep(WATCHDOG_SECONDS)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:  # the coordinator is gone: nobody will ever read our results
            os._exit(70)
        except PermissionError:     # the pid was reused by another user's process: gone too
            os._exit(70)


def _worker_init(coordinator_pid: int) -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"
    threading.Thread(target=_watch_coordinator, args=(coordinator_pid,), name="mailroom-watchdog",
                     daemon=True).start()


# -- the local backend ------------------------------------------------------------------------

def _relay(inner: Future, outer: Future) -> None:
    """Copy a pool future's outcome to the one the coordinator holds; ``BrokenProcessPool`` → ``WorkerLost``."""
    if inner.cancelled():
        outer.cancel()
        return
    if not outer.set_running_or_notify_cancel():  # the coordinator gave up on it
        return
    error = inner.exception()
    if isinstance(error, BrokenProcessPool):
        outer.set_exception(WorkerLost(str(error)))
    elif error is not None:
        outer.set_exception(error)
    else:
        outer.set_result(inner.result())


class LocalExecutor:
    """A pool of local worker processes (forkserver: the coordinator's memory is not copied)."""

    def __init__(self, config: Config, workers: int | None = None):
        self.config = config
        self.workers = workers or config.runner.worker_count
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("forkserver")
                self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_worker_init,
                                                 initargs=(os.getpid(),))
            return self._pool

    def _submit(self, fn, *args) -> Future:
        outer: Future = Future()
        try:
            inner = self._executor().submit(fn, *args)
        except BrokenProcessPool as error:  # broken before this task: rebuild on the next submit
            self._discard()
            outer.set_running_or_notify_cancel()
            outer.set_exception(WorkerLost(str(error)))
            return outer
        inner.add_done_callback(lambda done: _relay(done, outer))
        return outer

    def _discard(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def submit_split(self, path: str, mode: str, config: Config, key: str) -> Future:
        return self._submit(split_task, path, mode, config)

    def submit_ocr(self, source, page: int, config: Config, workdir: str, key: str) -> Future:
        return self._submit(ocr_task, source, page, config, workdir)

    def reset(self) -> None:
        """After ``WorkerLost``: drop the broken pool; the next submit starts a fresh one."""
        self._discard()

    def shutdown(self, wait: bool = True) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=True)


def make_executor(config: Config, workers: int | None = None):
    backend = config.runner.backend
    if backend == "local":
        return LocalExecutor(config, workers)
    if backend == "celery":  # workers on any machine, through Redis (pipeline/distributed/)
        from .distributed.executor import CeleryExecutor
        return CeleryExecutor(config, workers)
    raise ValueError(f"runner.backend: unknown backend {backend!r}")
