"""The two Celery tasks: look at one page (for the split), OCR one page. Run by ``mailroom worker``.

They call the very stage code the local process pool calls (``split.classify_page``,
``ocr.ocr_page``), on the one page that came in the message. Two safeguards wrap
them: a result already stored under the task's id (the uid+page key) is returned
as is, so a page redelivered after its worker was lost is not read twice; and a
count of workers lost on the key (kept in Redis) turns a page that kills every
worker into an answer that says so, instead of an endless redelivery.
"""
from __future__ import annotations

import logging
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from celery import states

from ..errors import BadInput
from . import transport
from .app import ANALYSE_PAGE, BROKER_ERRORS, OCR_PAGE

log = logging.getLogger("mailroom.worker")
SCRATCH: Path | None = None  # set by `mailroom worker` to its own work folder
LOST_TTL = 24 * 3600


def _lost_key(task_id: str) -> str:
    return f"mailroom:lost:{task_id}"


@contextmanager
def _attempt(task, page: int):
    """Count this run as 'in progress' until it ends; a run that never ends (kill -9) stays counted."""
    client = task.backend.client
    key = _lost_key(task.request.id)
    lost = int(client.get(key) or 0)
    attempts = task.app.conf.mailroom_runner.page_attempts
    if lost >= attempts:
        raise _Poison(page=page, lost=lost, attempts=attempts)
    client.incr(key)
    client.expire(key, LOST_TTL)
    try:
        yield
    finally:
        try:
            client.decr(key)
        except BROKER_ERRORS as error:  # Redis away at this very moment: counted as one loss, no more
            log.warning("%s: could not record the end of the attempt (%s)", task.request.id, error)


class _Poison(Exception):
    def __init__(self, **params):
        super().__init__(params)
        self.params = params


def _stored(task) -> dict | None:
    meta = task.backend.get_task_meta(task.request.id, cache=False)
    if meta.get("status") == states.SUCCESS and isinstance(meta.get("result"), dict) \
            and "failure" not in meta["result"]:
        return meta["result"]
    return None


def _run(task, message: dict, work):
    """Common frame of both tasks: stored result, poison guard, scratch folder, expected errors as answers."""
    done = _stored(task)
    if done is not None:
        log.info("%s: already done, result kept", task.request.id)
        return done
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    try:
        with _attempt(task, message["page"]), \
                tempfile.TemporaryDirectory(prefix="page-", dir=SCRATCH) as folder:
            return work(Path(folder))
    except _Poison as poison:
        log.error("%s: poison page: %s", task.request.id, poison.params)
        return {"failure": {"code": "poison-page", "params": poison.params}}
    except BadInput as bad:  # the coordinator says it in words (messages.py)
        return {"failure": bad.to_dict()}


def analyse_page(task, message: dict, config_message: dict, with_codes: bool) -> dict:
    from ..split import classify_page

    def work(folder: Path) -> dict:
        config = transport.worker_config(config_message, folder)
        source = transport.materialise(message, folder, config)
        return transport.kind_result(classify_page(source, 1, config, with_codes, number=message["page"]))

    return _run(task, message, work)


def ocr_page(task, message: dict, config_message: dict) -> dict:
    from ..ocr import ocr_page as read_page

    def work(folder: Path) -> dict:
        config = transport.worker_config(config_message, folder)
        source = transport.materialise(message, folder, config)
        page = read_page(source, 1, config, folder / "out")
        limit = task.app.conf.mailroom_runner.max_message_mb
        return transport.ocr_result(page, message["page"], limit, task.request.hostname)

    return _run(task, message, work)


def register(app) -> None:
    app.task(name=ANALYSE_PAGE, bind=True)(analyse_page)
    app.task(name=OCR_PAGE, bind=True)(ocr_page)
