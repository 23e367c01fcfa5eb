"""A real redis-server and real `mailroom worker` processes for the Celery backend's tests.

``.ci/run`` starts one redis-server for the whole run and exports its URL in
MAILROOM_TEST_REDIS_URL; without it a test starts its own, on 127.0.0.1 on a
free port. Each test uses its own queue and keys, so tests never see each
other's pages. Every worker runs in its own temporary home (its working folder).
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.support.service import REPO, _env, wait_for

REDIS_URL_ENV = "MAILROOM_TEST_REDIS_URL"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_redis_server() -> str:
    path = shutil.which("redis-server")
    if path is None:
        message = "redis-server is not installed (Debian package redis-server; `make test` installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


class RedisServer:
    """redis-server on 127.0.0.1; ``persist``: an append-only file, so that a restart keeps the queue."""

    def __init__(self, folder: Path, port: int | None = None, persist: bool = True):
        self.folder = folder
        self.persist = persist
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        folder.mkdir(parents=True, exist_ok=True)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        binary = require_redis_server()
        self.log = open(self.folder / "redis.log", "ab")
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.folder), "--save", "",
             "--appendonly", "yes" if self.persist else "no", "--appendfsync", "always", "--protected-mode", "yes"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start: {(self.folder / 'redis.log').read_text()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(15)
            self.process = None
            self.log.close()


class Worker:
    """`mailroom worker --concurrency N` in its own session and its own home."""

    def __init__(self, home: Path, name: str, concurrency: int = 1):
        self.home, self.name = home, name
        self.log_path = home / "worker.log"
        self.log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "--home", str(home), "worker", "--concurrency", str(concurrency),
             "--hostname", f"{name}@test"],
            cwd=home, stdout=self.log, stderr=subprocess.STDOUT, env=_env(), start_new_session=True)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 180) -> "Worker":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if " ready." in self.output():
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"worker {self.name} exited: {self.output()[-3000:]}")
            time.sleep(0.1)
        raise RuntimeError(f"worker {self.name} not ready: {self.output()[-3000:]}")

    def children(self) -> list[int]:
        try:
            text = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        except OSError:
            return []
        return [int(pid) for pid in text.split()]

    def took(self, task_name: str = "ocr_page") -> int:
        """How many tasks of this kind the worker received."""
        return sum(1 for line in self.output().splitlines()
                   if f"Task mailroom.{task_name}[" in line and line.endswith("received"))

    def task_ids(self, task_name: str = "ocr_page") -> set[str]:
        """The ids of the tasks of this kind the worker received."""
        marker = f"Task mailroom.{task_name}["
        return {line.split(marker, 1)[1].split("]", 1)[0] for line in self.output().splitlines()
                if marker in line and line.endswith("received")}

    def kill_hard(self) -> None:
        """kill -9 of the whole worker (its main process and its pool): a machine that dies."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # warm shutdown: the page in hand is finished
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.kill_hard()
        try:  # nothing of the worker outlives the test
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.log.close()


def celery_settings(url: str, queue: str | None = None, **runner) -> str:
    """The [runner] table of a test configuration (queue unique to the test unless given)."""
    values = {"backend": "celery", "broker_url": url, "queue": queue or f"test-{uuid.uuid4().hex[:12]}",
              "visibility_timeout": 3600, **runner}
    lines = ["[runner]"] + [f"{key} = {value!r}".replace("'", '"') if isinstance(value, str) else
                            f"{key} = {value}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def write_home(folder: Path, settings: str, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mailroom.toml").write_text(settings + extra, encoding="utf-8")
    return folder


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05):
    return wait_for(predicate, timeout, interval=interval, what=what)


def celery_home(folder: Path, url: str, queue: str, ocr: dict | None = None, **runner) -> Path:
    """A test home (tests.support.service.write_test_config) switched to the Celery backend."""
    import tomllib

    import tomli_w

    from tests.support.service import write_test_config

    folder.mkdir(parents=True, exist_ok=True)
    path = write_test_config(folder)
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    data["runner"].update({"backend": "celery", "broker_url": url, "queue": queue, **runner})
    data["ocr"].update(ocr or {})
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
    return folder


def start_process(home: Path, *paths: Path) -> subprocess.Popen:
    """`mailroom process PATH… --report` in the background (the coordinator)."""
    log = open(home / "process.log", "ab")
    return subprocess.Popen([sys.executable, "-m", "pipeline.cli", "--home", str(home), "process", *map(str, paths),
                             "--report", str(home / "report.jsonl")], cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                            env=_env())


def finish_process(process: subprocess.Popen, home: Path, timeout: float = 500) -> list[dict]:
    import json

    try:
        process.wait(timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    report = home / "report.jsonl"
    assert report.exists(), (home / "process.log").read_text(errors="replace")[-4000:]
    return [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()]
