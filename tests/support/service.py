"""Run `mailroom` as a real subprocess against a test home, and look at what it left."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline.config import DEFAULT_CONFIG

REPO = Path(__file__).resolve().parents[2]


def write_test_config(home: Path, extra: str = "", route_everything: bool = True) -> Path:
    """The bundled defaults, tuned for tests: quick settle, and (optionally) every category auto-routed."""
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    text = text.replace("settle_seconds = 2.0", "settle_seconds = 0.5")
    text = text.replace("rescan_seconds = 30.0", "rescan_seconds = 2.0")
    text = text.replace("invalid_grace_seconds = 30.0", "invalid_grace_seconds = 2.0")
    text = text.replace("workers = 0", "workers = 2")
    if route_everything:  # the backbone is tested here, not the classifier's judgement
        text = text.replace("threshold = 0.80", "threshold = 0.01")
        text = text.replace("confidence_floor = 55.0", "confidence_floor = 0.0")
        text = text.replace("always_review = true", "always_review = false")
    path = home / "mailroom.toml"
    path.write_text(text + "\n" + extra, encoding="utf-8")
    return path


def mailroom(home: Path, *args: str, timeout: float = 600, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline.cli", "--home", str(home), *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, input=input, env=_env())


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_THREAD_LIMIT"] = "1"
    return env


class Service:
    """`mailroom watch` (or serve) in its own session, so that a kill reaches its workers too."""

    def __init__(self, home: Path, command: str = "watch"):
        self.home = home
        self.log = open(home / f"{command}.log", "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "--home", str(home), command],
                                        cwd=REPO, stdout=self.log, stderr=subprocess.STDOUT, env=_env(),
                                        start_new_session=True)

    def terminate(self, timeout: float = 60) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        finally:
            self.log.close()

    def kill_hard(self) -> None:
        """kill -9 the whole process group: what a power cut does to the service."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)
        self.log.close()

    def output(self) -> str:
        return (self.home / "watch.log").read_text(errors="replace") if (self.home / "watch.log").exists() else ""


def drop(source: Path, inbox: Path, name: str | None = None) -> Path:
    """Put a file in an inbox the way a scanner over SMB does: a temporary name, then a rename."""
    inbox.mkdir(parents=True, exist_ok=True)
    target = inbox / (name or source.name)
    partial = inbox / (target.name + ".part")
    partial.write_bytes(source.read_bytes())
    os.replace(partial, target)
    return target


def status(home: Path) -> dict:
    result = mailroom(home, "status", "--json", timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def wait_for(predicate, timeout: float, interval: float = 1.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def library_pdfs(home: Path) -> list[Path]:
    return sorted(p for p in (home / "library").rglob("*.pdf"))
