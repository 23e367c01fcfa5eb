"""The Celery backend with a real redis-server and real `mailroom worker` processes."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pikepdf
import pytest

from pipeline.config import ConfigError, load_config
from pipeline.distributed.app import with_password
from pipeline.distributed.executor import CeleryExecutor, PoisonPage
from pipeline.distributed.transport import page_bytes
from pipeline.ingest import open_source
from pipeline.executor import ocr_task, split_task
from samples.render import save_scan_pdf
from tests.support.cluster import (REDIS_URL_ENV, RedisServer, Worker, celery_settings, free_port, wait_until,
                                   write_home)
from tests.support.service import REPO, _env
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
    assert with_password("redis://10.0.0.5:6379/0", "s3cr/t") == "redis://:s3cr%2Ft@10.0.0.5:6379/0"
    assert with_password("rediss://mailroom@redis.cd76.fr:6380/1", "pw") == "rediss://mailroom:pw@redis.cd76.fr:6380/1"
    assert with_password("redis://:given@host/0", "other") == "redis://:given@host/0"
    assert with_password("redis://host/0", None) == "redis://host/0"


def test_one_page_travels_alone_with_the_scanners_bytes(batch, tmp_path):
    source = open_source(batch, load_config(tmp_path).ingest)
    data, suffix = page_bytes(source, 4)
    assert suffix == ".pdf" and len(data) < batch.stat().st_size / 3
    single = tmp_path / "p4.pdf"
    single.write_bytes(data)
    with pikepdf.open(single) as alone, pikepdf.open(batch) as whole:
        assert len(alone.pages) == 1
        image = lambda page: next(iter(page.get_images().values())).read_raw_bytes()  # noqa: E731
        assert image(alone.pages[0]) == image(whole.pages[3])


def test_status_says_the_queue_is_unavailable_when_redis_is_down(tmp_path):
    home = write_home(tmp_path / "home", celery_settings(f"redis://127.0.0.1:{free_port()}/0"))
    result = subprocess.run([sys.executable, "-m", "pipeline.cli", "--home", str(home), "status"], cwd=REPO,
                            capture_output=True, text=True, timeout=60, env=_env())
    assert result.returncode == 0, result.stderr
    assert "file d'attente indisponible" in result.stdout


# -- with Redis and workers -------------------------------------------------------------------

def page_content(path: Path) -> tuple[bytes, list[bytes]]:
    """What a one-page PDF shows: its content stream and image bytes (not its random /ID)."""
    with pikepdf.open(path) as pdf:
        page = pdf.pages[0]
        return page.obj.Contents.read_bytes(), [image.read_raw_bytes() for image in page.get_images().values()]


@pytest.mark.slow
def test_two_workers_give_the_local_results_and_a_joining_worker_takes_pages(batch, redis_url, workers, tmp_path):
    settings = celery_settings(redis_url)
    config, executor = coordinator(tmp_path, settings)
    first = workers(write_home(tmp_path / "w1", settings), "w1").wait_ready()
    try:
        source, result = executor.submit_split(str(batch), "separator", config, "T1").result(timeout=120)
        local_source, local = split_task(str(batch), "separator", config)
        assert result == local
        assert [plan.source_pages for plan in result.plans] == [[1], [4], [6]]
        assert result.plans[2].category == "routes" and result.plans[0].dropped_pages == [2]
        pages = [page for plan in result.plans for page in plan.source_pages]
        futures = {page: executor.submit_ocr(source, page, config, str(tmp_path / "work"), f"T1:{page}")
                   for page in pages}
        wait_until(lambda: first.took() == 1, 60, "the first worker to take a page")
        os.killpg(first.process.pid, signal.SIGSTOP)  # busy on its page: the others wait in the queue
        try:
            second = workers(write_home(tmp_path / "w2", settings), "w2").wait_ready()
            wait_until(lambda: futures[4].done() and futures[6].done(), 120, "the joining worker's pages")
        finally:
            os.killpg(first.process.pid, signal.SIGCONT)
        expected = {page: ocr_task(local_source, page, config, str(tmp_path / "local")) for page in pages}
        remote = {page: future.result(timeout=120) for page, future in futures.items()}
    finally:
        executor.shutdown()
    assert (first.took(), second.took()) == (1, 2)
    for page in pages:
        got, want = remote[page], expected[page]
        assert got.result == want.result and got.text == want.text and got.error is None
        assert got.pdf == tmp_path / "work" / want.pdf.name
        assert page_content(got.pdf) == page_content(want.pdf)


@pytest.mark.slow
def test_kill_9_of_a_worker_mid_page_gives_the_page_to_another(batch, redis_url, workers, tmp_path):
    settings = celery_settings(redis_url, visibility_timeout=12) + "[ocr]\ntimeout_seconds = 10\n"
    config, executor = coordinator(tmp_path, settings)
    doomed = workers(write_home(tmp_path / "w1", settings), "w1").wait_ready()
    try:
        source = open_source(batch, config.ingest)
        futures = {page: executor.submit_ocr(source, page, config, str(tmp_path / "work"), f"K:{page}")
                   for page in (1, 4, 6)}
        wait_until(lambda: doomed.took() >= 1, 60, "the first worker to take a page")
        survivor = workers(write_home(tmp_path / "w2", settings), "w2")
        time.sleep(0.3)  # mid-page
        doomed.kill_hard()
        survivor.wait_ready()
        results = {page: future.result(timeout=120) for page, future in futures.items()}
    finally:
        executor.shutdown()
    assert sorted(results) == [1, 4, 6] and all(r.error is None and r.text for r in results.values())
    assert survivor.took() == 3  # the page in the dead worker's hands too
    assert not any(tmp_path.joinpath("work").glob(".*.part"))


@pytest.mark.slow
def test_redis_restarted_mid_batch_the_batch_completes(batch, workers, tmp_path):
    server = RedisServer(tmp_path / "redis").start()
    settings = celery_settings(server.url, visibility_timeout=12) + "[ocr]\ntimeout_seconds = 10\n"
    config, executor = coordinator(tmp_path, settings)
    worker = workers(write_home(tmp_path / "w1", settings), "w1").wait_ready()
    try:
        source = open_source(batch, config.ingest)
        futures = [executor.submit_ocr(source, page, config, str(tmp_path / f"work{index}"), f"R:{index}:{page}")
                   for index, page in enumerate((1, 4, 6, 1))]
        wait_until(lambda: worker.took() >= 1, 60, "a first page taken")
        server.stop()
        wait_until(lambda: not executor.available, 20, "the coordinator to notice")
        time.sleep(1)
        server.start()
        wait_until(lambda: executor.available, 30, "the coordinator to reconnect")
        results = [future.result(timeout=120) for future in futures]
    finally:
        executor.shutdown()
        server.stop()
    assert [r.page for r in results] == [1, 4, 6, 1] and all(r.text for r in results)


@pytest.mark.slow
def test_a_page_that_kills_every_worker_is_declared_poison(batch, redis_url, workers, tmp_path):
    import redis

    settings = celery_settings(redis_url, page_attempts=2)
    config, executor = coordinator(tmp_path, settings)
    worker = workers(write_home(tmp_path / "w1", settings), "w1").wait_ready()
    client = redis.Redis.from_url(redis_url)
    try:
        future = executor.submit_ocr(open_source(batch, config.ingest), 4, config, str(tmp_path / "work"), "P:4")
        for kill in range(2):  # whoever takes the page dies at once, every time
            wait_until(lambda: int(client.get("mailroom:lost:P:4") or 0) > kill, 60, "the page to be taken")
            for child in worker.children():
                os.kill(child, 9)
        with pytest.raises(PoisonPage, match="la page 4 a arrêté brutalement 2 processus"):
            future.result(timeout=60)
    finally:
        executor.shutdown()
