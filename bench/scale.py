"""Benchmark: the same letters through the local process pool and through Celery workers (issue #16).

Renders 24 letters of the test corpus as 300-dpi scans (one file each), then, in
one run, validates + splits and OCRs all of them through:

* the local backend, 2 processes (what `make run` uses on this machine);
* Celery with 1 worker of concurrency 1, then with 2 workers of concurrency 1
  (a redis-server started here on 127.0.0.1 on a free port, real `mailroom worker`
  processes, each in its own temporary folder).

Printed side by side: pages per minute; dispatch overhead per page (the round
trip of one page alone, minus the time the worker spent on it: what the backend
adds, in ms); peak RSS per worker process (VmHWM). From the Celery figures: the
workers of concurrency 1 needed for 10,000 and 100,000 pages a day (8 working
hours, or 24 hours of backlog processing). Wall time depends on the load of the
machine: the load average is printed.

    .venv/bin/python -m bench.scale [--letters 24] [--overhead-pages 6] [--json]
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from concurrent.futures import wait
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

from pipeline.config import load_config  # noqa: E402
from pipeline.distributed.executor import CeleryExecutor  # noqa: E402
from pipeline.executor import LocalExecutor  # noqa: E402
from samples.render import PageOverflow, render_letter, save_scan_pdf  # noqa: E402
from tests.support.cluster import RedisServer, Worker, celery_settings, write_home  # noqa: E402


def write_letters(folder: Path, count: int) -> list[Path]:
    """``count`` one-page letters of the test corpus, scanned at 300 dpi (JPEG, light damage)."""
    paths = []
    with open(REPO / "samples" / "corpus" / "test.jsonl", encoding="utf-8") as corpus:
        for line in corpus:
            if len(paths) == count:
                break
            letter = json.loads(line)
            try:
                page = render_letter(letter["text"], dpi=300, skew_degrees=0.7, noise=0.01, uneven_light=True,
                                     seed=len(paths))
            except PageOverflow:
                continue
            paths.append(save_scan_pdf([page], folder / f"{letter['id']}.pdf", dpi=300, quality=70))
    return paths


def vm_hwm_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and of its children it waited for (Tesseract, poppler)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def run_batch(executor, config, letters: list[Path], workdir: Path, tag: str) -> dict:
    """Split and OCR every letter; pages per minute over the whole run."""
    started = time.perf_counter()
    splits = {executor.submit_split(str(path), "separator", config, f"{tag}-L{index:03d}"): index
              for index, path in enumerate(letters)}
    pages = []
    for future in list(splits):
        source, result = future.result(timeout=1800)
        index = splits[future]
        for plan in result.plans:
            for page in plan.source_pages:
                pages.append(executor.submit_ocr(source, page, config, str(workdir / f"{tag}-{index}"),
                                                 f"{tag}-{index}:{page}"))
    done, _ = wait(pages, timeout=3600)
    results = [future.result() for future in pages]
    elapsed = time.perf_counter() - started
    return {"pages": len(results), "seconds": elapsed, "ppm": len(results) / elapsed * 60,
            "worker_seconds_per_page": sum(r.seconds for r in results) / len(results)}


def dispatch_overhead(executor, config, letters: list[Path], workdir: Path, tag: str, count: int) -> float:
    """Mean ms a page spends outside the OCR itself, sent alone (no queueing behind other pages)."""
    from pipeline.ingest import open_source

    overheads = []
    for index, path in enumerate(letters[:count]):
        source = open_source(path, config.ingest)
        started = time.perf_counter()
        result = executor.submit_ocr(source, 1, config, str(workdir / f"{tag}-o{index}"), f"{tag}-o{index}:1") \
            .result(timeout=600)
        overheads.append(time.perf_counter() - started - result.seconds)
    return sum(overheads) / len(overheads) * 1000


def local_backend(config, letters, workdir, args) -> dict:
    executor = LocalExecutor(config, 2)
    try:
        figures = run_batch(executor, config, letters, workdir, "local")
        pool = executor._pool  # the live processes, for their peak RSS and CPU time
        pids = list(pool._processes) if pool is not None else []
        figures["cpu_seconds_per_page"] = sum(cpu_seconds(pid) for pid in pids) / figures["pages"]
        figures["overhead_ms"] = dispatch_overhead(executor, config, letters, workdir, "local", args.overhead_pages)
        figures["peak_rss_mb"] = max((vm_hwm_kb(pid) for pid in pids), default=0) / 1024
    finally:
        executor.shutdown()
    figures["workers"] = "2 processes"
    return figures


def celery_backend(config, home: Path, settings: str, letters, workdir, count: int, args, tag: str) -> dict:
    workers = [Worker(write_home(home / f"{tag}-w{n}", settings), f"{tag}w{n}") for n in range(count)]
    executor = None
    try:
        for worker in workers:
            worker.wait_ready(120)
        executor = CeleryExecutor(config)
        figures = run_batch(executor, config, letters, workdir, tag)
        pool = [pid for worker in workers for pid in children(worker.process.pid)]
        figures["cpu_seconds_per_page"] = sum(cpu_seconds(pid) for pid in pool) / figures["pages"]
        figures["overhead_ms"] = dispatch_overhead(executor, config, letters, workdir, tag, args.overhead_pages)
        rss = [vm_hwm_kb(pid) for worker in workers for pid in [worker.process.pid, *children(worker.process.pid)]]
        figures["peak_rss_mb"] = max(rss, default=0) / 1024
    finally:
        if executor is not None:
            executor.shutdown()
        for worker in workers:
            worker.stop()
    figures["workers"] = f"{count} × concurrency 1"
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=24)
    parser.add_argument("--overhead-pages", type=int, default=6, help="pages sent one by one for the overhead")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mailroom-scale-") as folder:
        folder = Path(folder)
        (folder / "letters").mkdir()
        letters = write_letters(folder / "letters", args.letters)
        local_home = write_home(folder / "local", "")
        local = local_backend(load_config(local_home), letters, folder / "work", args)
        server = RedisServer(folder / "redis").start()
        try:
            settings = celery_settings(server.url, queue="bench")
            config = load_config(write_home(folder / "coordinator", settings))
            one = celery_backend(config, folder, settings, letters, folder / "work", 1, args, "c1")
            two = celery_backend(config, folder, settings, letters, folder / "work", 2, args, "c2")
        finally:
            server.stop()
    per_worker_ppm = two["ppm"] / 2
    needs = {f"{pages}_pages_a_day": {"8h": math.ceil(pages / (per_worker_ppm * 60 * 8)),
                                      "24h": math.ceil(pages / (per_worker_ppm * 60 * 24))}
             for pages in (10_000, 100_000)}
    report = {"letters": len(letters), "local": local, "celery_1": one, "celery_2": two,
              "celery_2_vs_local_ppm": two["ppm"] / local["ppm"], "celery_1_vs_local_ppm": one["ppm"] / local["ppm"],
              "workers_needed": needs, "cores": os.cpu_count(), "load_average": round(os.getloadavg()[0], 1)}
    if args.json:
        print(json.dumps(report))
        return 0
    rows = [("", "local (2 processes)", "celery 1 worker", "celery 2 workers")]
    for label, key, fmt in (("pages", "pages", "{:.0f}"), ("seconds", "seconds", "{:.1f}"),
                            ("pages per minute", "ppm", "{:.1f}"),
                            ("worker s per page (wall)", "worker_seconds_per_page", "{:.2f}"),
                            ("worker CPU s per page", "cpu_seconds_per_page", "{:.2f}"),
                            ("dispatch overhead per page (ms)", "overhead_ms", "{:.0f}"),
                            ("peak RSS per worker (MB)", "peak_rss_mb", "{:.0f}")):
        rows.append((label, *(fmt.format(figures[key]) for figures in (local, one, two))))
    for row in rows:
        print(f"{row[0]:34s}{row[1]:>22s}{row[2]:>18s}{row[3]:>18s}")
    print(f"\ncelery 2 workers / local, pages per minute: {report['celery_2_vs_local_ppm']:.2f}")
    print(f"one worker of concurrency 1 (one core): {per_worker_ppm:.1f} pages per minute here, "
          f"{60 / two['cpu_seconds_per_page']:.1f} on an idle core (from CPU time)")
    for pages in (10_000, 100_000):
        need = needs[f"{pages}_pages_a_day"]
        print(f"{pages:>7,} pages a day: {need['8h']} worker cores over 8 h, {need['24h']} over 24 h")
    print(f"cores {report['cores']}, load average {report['load_average']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
