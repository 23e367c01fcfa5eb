"""The Celery backend with a real redis-server and real `mailroom worker` processes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pikepdf
import pytest

from pipeline.config import ConfigError, load_config, redact_url
from pipeline.distributed.app import with_password
from pipeline.distributed.executor import CeleryExecutor
from pipeline.distributed.transport import page_bytes
from pipeline.ingest import open_source
from pipeline.store import Store
from samples.render import save_scan_pdf
from tests.support.cluster import (REDIS_URL_ENV, RedisServer, Worker, celery_home, celery_settings, finish_process,
                                   free_port, start_process, wait_until, write_home)
from tests.support.service import REPO, _env, library_pdfs, write_test_config
from tests.test_split_support import blank_back, letter, sheet


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    if os.environ.get(REDIS_URL_ENV):
        yield os.environ[REDIS_URL_ENV]
        return
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


@pytest.fixture
def workers():
    started: list[Worker] = []

    def start(home: Path, name: str) -> Worker:
        worker = Worker(home, name)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    """Letter, blank back, separator, letter, cover sheet (routes), letter: three documents."""
    path = tmp_path_factory.mktemp("batch") / "lot.pdf"
    pages = [letter(0), blank_back(1, letter(0)), sheet("separator"), letter(1), sheet("routes"), letter(2)]
    return save_scan_pdf(pages, path, dpi=200, quality=70)


@pytest.fixture(scope="module")
def pair(tmp_path_factory) -> Path:
    """Letter, separator, letter: two documents of one page."""
    path = tmp_path_factory.mktemp("pair") / "paire.pdf"
    return save_scan_pdf([letter(0), sheet("separator"), letter(1)], path, dpi=200, quality=70)


def coordinator(tmp_path: Path, settings: str):
    home = write_home(tmp_path / "coordinator", settings)
    config = load_config(home)
    return config, CeleryExecutor(config)


# -- without Redis ---------------------------------------------------------------------------

def test_runner_settings_are_validated_naming_the_key(tmp_path):
    cases = {'backend = "rabbit"': "runner.backend",
             'backend = "celery"\nbroker_url = "amqp://x"': "runner.broker_url",
             'visibility_timeout = 60': "runner.visibility_timeout",
             'page_attempts = 0': "runner.page_attempts"}
    for body, key in cases.items():
        (tmp_path / "mailroom.toml").write_text(f"[runner]\n{body}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match=key):
            load_config(tmp_path)


def test_the_redis_password_comes_from_the_environment_not_the_file():
    assert redact_url("rediss://mailroom:pw@redis.cd76.fr:6380/1") == "rediss://mailroom:***@redis.cd76.fr:6380/1"
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"
    assert with_password("redis://10.0.0.5:6379/0", "s3cr/t") == "redis://:s3cr%2Ft@10.0.0.5:6379/0"
    assert with_password("rediss://mailroom@redis.cd76.fr:6380/1", "pw") == "rediss://mailroom:pw@redis.cd76.fr:6380/1"
    assert with_password("redis://:given@host/0", "other") == "redis://:given@host/0"
    assert with_password("redis://host/0", None) == "redis://host/0"


def test_one_page_travels_alone_with_the_scanners_bytes(tmp_path):
    scan = REPO / "samples" / "scans" / "2026-03-05_apa_martin.pdf"
    source = open_source(scan, load_config(tmp_path).ingest)
    data, suffix = page_bytes(source, 2)
    assert suffix == ".pdf" and len(data) < scan.stat().st_size
    single = tmp_path / "p2.pdf"
    single.write_bytes(data)
    with pikepdf.open(single) as alone, pikepdf.open(scan) as whole:
        assert len(alone.pages) == 1
        image = lambda page: next(iter(page.get_images().values())).read_raw_bytes()  # noqa: E731
        assert image(alone.pages[0]) == image(whole.pages[1])


def status_text(home: Path) -> str:
    result = subprocess.run([sys.executable, "-m", "pipeline.cli", "--home", str(home), "status"], cwd=REPO,
                            capture_output=True, text=True, timeout=180, env=_env())
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_status_says_the_queue_is_unavailable_when_redis_is_down(tmp_path):
    home = write_home(tmp_path / "home", celery_settings(f"redis://127.0.0.1:{free_port()}/0"))
    assert "file d'attente indisponible" in status_text(home)


# -- with Redis and workers -------------------------------------------------------------------

REPORTED = ("id", "status", "category", "confidence", "candidates", "route_source", "fields", "source_pages",
            "dropped_pages", "pages", "ocr_confidence", "reason", "registration")  # numbers: in claim order, as local


def documents(home: Path) -> dict[str, tuple]:
    """What the coordinator made of the batch: per document, its report line and its text."""
    report = [json.loads(line) for line in (home / "report.jsonl").read_text(encoding="utf-8").splitlines()]
    store = Store(home / "mailroom.sqlite3")
    try:
        texts = {doc.id: doc.text for doc in store.documents()}
    finally:
        store.close()
    return {line["id"]: ({key: line[key] for key in REPORTED}, texts[line["id"]]) for line in report}


def ocr_pages_taken(worker: Worker) -> int:
    return worker.took("ocr_page")


@pytest.mark.slow
def test_two_workers_file_what_the_local_backend_files_and_a_joining_worker_takes_pages(batch, redis_url, workers,
                                                                                         tmp_path):
    local = tmp_path / "local"
    local.mkdir()
    write_test_config(local)
    finish_process(start_process(local, batch), local)
    home = celery_home(tmp_path / "coordinator", redis_url, f"test-{uuid.uuid4().hex[:12]}")
    first = workers(write_home(tmp_path / "w1", (home / "mailroom.toml").read_text()), "w1").wait_ready()
    process = start_process(home, batch)
    wait_until(lambda: ocr_pages_taken(first) == 1, 300, "the first worker to take a page")
    os.killpg(first.process.pid, signal.SIGSTOP)  # busy on its page: the other pages wait in the queue
    try:
        second = workers(write_home(tmp_path / "w2", (home / "mailroom.toml").read_text()), "w2").wait_ready()
        wait_until(lambda: ocr_pages_taken(second) == 2, 300, "the joining worker to take the other pages")
    finally:
        os.killpg(first.process.pid, signal.SIGCONT)
    lines = finish_process(process, home)
    assert [line["status"] for line in lines] == ["published"] * 3
    assert (ocr_pages_taken(first), ocr_pages_taken(second)) == (1, 2)
    assert documents(home) == documents(local)  # same documents, fields, categories, confidences, text


@pytest.mark.slow
def test_kill_9_of_a_worker_mid_batch_every_letter_is_filed_once(pair, redis_url, workers, tmp_path):
    home = celery_home(tmp_path / "coordinator", redis_url, f"test-{uuid.uuid4().hex[:12]}",
                       ocr={"timeout_seconds": 30}, visibility_timeout=32)  # > the slowest page
    settings = (home / "mailroom.toml").read_text()
    doomed = workers(write_home(tmp_path / "w1", settings), "w1").wait_ready()
    survivor = workers(write_home(tmp_path / "w2", settings), "w2").wait_ready()
    listed = status_text(home)
    assert "2 live worker(s)" in listed and "w1@test  queues: test-" in listed and "w2@test  queues: test-" in listed
    process = start_process(home, pair)
    wait_until(lambda: ocr_pages_taken(doomed) == 1, 300, "a page in the first worker's hands")
    time.sleep(0.3)  # mid-page
    doomed.kill_hard()
    lines = finish_process(process, home)
    assert [line["status"] for line in lines] == ["published"] * 2
    assert doomed.task_ids() <= survivor.task_ids()  # the page the dead worker held was redone by the other
    pdfs = library_pdfs(home)
    assert sorted(json.loads(p.with_name(p.name + ".json").read_text())["document_id"] for p in pdfs) == \
        sorted(line["id"] for line in lines)
    store = Store(home / "mailroom.sqlite3")
    try:
        published = Counter(event.document_id for event in store.events(kind="published"))
    finally:
        store.close()
    assert sorted(published.values()) == [1, 1]


@pytest.mark.slow
def test_redis_restarted_mid_batch_the_batch_completes(batch, workers, tmp_path, caplog):
    server = RedisServer(tmp_path / "redis", persist=False).start()  # it even forgets the queue
    settings = celery_settings(server.url)
    config, executor = coordinator(tmp_path, settings)
    worker = workers(write_home(tmp_path / "w1", settings), "w1").wait_ready()
    try:
        source = open_source(batch, config.ingest)
        futures = [executor.submit_ocr(source, page, config, str(tmp_path / f"work{index}"), f"R:{index}:{page}")
                   for index, page in enumerate((1, 4, 6))]
        wait_until(lambda: worker.took() >= 1, 300, "a first page taken")
        server.stop()
        wait_until(lambda: not executor.available, 60, "the coordinator to notice")
        time.sleep(1)
        server.start()
        wait_until(lambda: executor.available, 60, "the coordinator to reconnect")
        results = [future.result(timeout=300) for future in futures]
    finally:
        executor.shutdown()
        server.stop()
    assert [r.page for r in results] == [1, 4, 6] and all(r.text for r in results)
    assert "lost with the queue, sent again" in caplog.text  # the pages that waited in Redis's memory


@pytest.mark.slow
def test_a_page_that_kills_every_worker_is_quarantined_with_the_reason(pair, redis_url, workers, tmp_path):
    import redis

    client = redis.Redis.from_url(redis_url)
    before = set(client.keys("mailroom:lost:*"))
    home = celery_home(tmp_path / "coordinator", redis_url, f"test-{uuid.uuid4().hex[:12]}", page_attempts=2)
    worker = workers(write_home(tmp_path / "w1", (home / "mailroom.toml").read_text()), "w1").wait_ready()
    process = start_process(home, pair)

    def page_3_taken(times: int):
        keys = [key for key in set(client.keys("mailroom:lost:*")) - before
                if key.endswith(b":3") and b":split:" not in key]
        return keys and int(client.get(keys[0]) or 0) >= times

    for kill in range(2):  # whoever takes page 3 dies at once, every time
        wait_until(lambda: page_3_taken(kill + 1), 300, "page 3 to be taken")
        for child in worker.children():
            os.kill(child, signal.SIGKILL)
    lines = finish_process(process, home)
    by_status = Counter(line["status"] for line in lines)
    assert by_status["quarantined"] >= 1, lines
    reasons = [line["reason"] for line in lines if line["status"] == "quarantined"]
    assert all("la page 3 a arrêté brutalement 2 processus" in reason for reason in reasons), reasons
