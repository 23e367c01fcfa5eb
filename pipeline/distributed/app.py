"""The Celery application: one per coordinator or worker, configured from ``[runner]``.

Delivery guarantees, in Celery's terms: a task is acknowledged only once its
result is stored (``acks_late``); a worker process that dies mid-task gives its
message back at once (``reject_on_worker_lost``); a whole worker machine that
disappears leaves its message unacknowledged in Redis, given again to another
worker after ``visibility_timeout`` (longer than the slowest page, checked by
the configuration). Each worker takes one page at a time (prefetch 1), so a
worker that joins takes pages straight away. Messages are JSON only.
"""
from __future__ import annotations

import os
from urllib.parse import quote, urlsplit, urlunsplit

from celery import Celery

from ..config import Config, RunnerConfig

BROKER_ERRORS: tuple[type[BaseException], ...]
try:  # the errors that mean "Redis is not there", not "the task failed"
    from kombu.exceptions import OperationalError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError
    BROKER_ERRORS = (OperationalError, RedisConnectionError, RedisTimeoutError, ConnectionError, OSError)
except ImportError:  # pragma: no cover - celery[redis] is a dependency
    BROKER_ERRORS = (ConnectionError, OSError)

ANALYSE_PAGE = "mailroom.analyse_page"
OCR_PAGE = "mailroom.ocr_page"
RESULT_TTL = 24 * 3600  # results never collected (a duplicate after a redelivery) expire after this


def with_password(url: str, password: str | None) -> str:
    """``url`` with the password inserted when it carries none (the password never sits in the file)."""
    if not password:
        return url
    parts = urlsplit(url)
    if parts.password or parts.scheme == "unix":
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:{quote(password, safe='')}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def broker_urls(runner: RunnerConfig) -> tuple[str, str]:
    password = os.environ.get(runner.password_env) if runner.password_env else None
    broker = with_password(runner.broker_url, password)
    return broker, with_password(runner.result_backend, password) if runner.result_backend else broker


def make_app(runner: RunnerConfig) -> Celery:
    from . import tasks

    broker, results = broker_urls(runner)
    app = Celery("mailroom", set_as_current=False)
    app.conf.update(
        broker_url=broker,
        result_backend=results,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=runner.queue,
        result_expires=RESULT_TTL,
        broker_transport_options={"visibility_timeout": runner.visibility_timeout,  # lost worker → page again
                                  "unacked_restore_interval": max(1.0, min(10.0, runner.visibility_timeout / 4)),
                                  "unacked_restore_throttle": 1},
        result_backend_transport_options={"retry_policy": {"timeout": 5.0}},
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,       # a worker waits for Redis to come back
        result_backend_always_retry=True,         # a result is kept until Redis takes it
        result_backend_max_retries=1000,
        redis_socket_connect_timeout=5,
        broker_heartbeat=0,
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
    )
    app.conf.mailroom_runner = runner
    tasks.register(app)
    return app


def broker_state(config: Config, timeout: float = 1.5) -> dict:
    """For ``status``: is the queue reachable, which workers are alive and which queues they read."""
    app = make_app(config.runner)
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, timeout=timeout)
            queued = connection.default_channel.client.llen(config.runner.queue)
        replies = app.control.inspect(timeout=timeout).active_queues() or {}
    except BROKER_ERRORS as error:
        return {"available": False, "error": f"{error.__class__.__name__}: {error}", "workers": {}, "queued": None}
    finally:
        app.close()
    workers = {name: sorted(queue["name"] for queue in queues) for name, queues in sorted(replies.items())}
    return {"available": True, "error": None, "workers": workers, "queued": queued}


def run_worker(config: Config, concurrency: int, queues: list[str], hostname: str | None = None) -> int:
    """``mailroom worker``: read pages from the queues until SIGTERM (warm shutdown: pages finish first)."""
    from . import tasks

    os.environ["OMP_THREAD_LIMIT"] = "1"  # one core per page; parallelism is across processes
    scratch = config.work_dir
    scratch.mkdir(parents=True, exist_ok=True)
    tasks.SCRATCH = scratch
    app = make_app(config.runner)
    argv = ["worker", "--pool", "prefork", "--concurrency", str(concurrency),
            "--queues", ",".join(queues or [config.runner.queue]), "--loglevel", "INFO",
            "--without-gossip", "--without-mingle"]
    if hostname:
        argv += ["--hostname", hostname]
    app.worker_main(argv)
    return 0
