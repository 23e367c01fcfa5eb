"""Benchmark: what the lifecycle costs (issue #11).

1. A move through ``Store.transition`` (compare-and-set + journal event, one
   transaction) beside the plain write it replaced (``save_document`` of the
   body + its event), per document, on one SQLite file in WAL mode.
2. A supervisor's decision through the one long-lived service (publisher made
   once) beside the old way, a new pipeline and publisher for every click.
   With the local publisher the difference is small; with SharePoint the old
   way also rebuilt the library and column caches on each click.

    .venv/bin/python -m bench.lifecycle [--documents 300] [--decisions 40]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.records import Document, DocumentState  # noqa: E402
from pipeline.service import MailroomService  # noqa: E402
from pipeline.store import Store  # noqa: E402
from tests.support.review_data import add_review_document, make_home  # noqa: E402


def _documents(store: Store, count: int, state: str) -> list[Document]:
    docs = []
    for number in range(count):
        doc = Document(id=f"B{number:06d}-01", input_id=f"B{number:06d}", source="scan.pdf", source_sha256="0" * 64,
                       source_pages=[1], received_at="2026-03-03T09:00:00+01:00", state=state)
        store.save_document(doc)
        docs.append(doc)
    return docs


def bench_moves(folder: Path, count: int) -> tuple[float, float]:
    store = Store(folder / "moves" / "mailroom.sqlite3")
    docs = _documents(store, count, DocumentState.CLASSIFIED)
    started = time.perf_counter()
    for doc in docs:
        store.transition(doc.id, DocumentState.CLASSIFIED, DocumentState.ROUTED, "routed", library="Routes")
    cas = (time.perf_counter() - started) / count
    plain = Store(folder / "plain" / "mailroom.sqlite3")
    docs = _documents(plain, count, DocumentState.ROUTED)
    started = time.perf_counter()
    for doc in docs:
        plain.save_document(doc, "routed", library="Routes")
    return cas, (time.perf_counter() - started) / count


def bench_decisions(folder: Path, count: int) -> tuple[float, float]:
    """Interleaved (shared, fresh, shared, …) so that the machine's load weighs on both alike."""
    homes = {}
    for shared in (True, False):
        config, store = make_home(folder / ("shared" if shared else "fresh"))
        docs = [add_review_document(config, store, f"d{i}", "Objet : RD 12", guesses=[("routes", 0.5)])
                for i in range(count + 1)]
        homes[shared] = (config, store, docs, MailroomService(config, store))
    for shared, (config, store, docs, service) in homes.items():  # warm-up: imports, first publisher
        service.decide(docs.pop().id, "routes", {}, "claire")
    spent = {True: 0.0, False: 0.0}
    for index in range(count):
        for shared, (config, store, docs, service) in homes.items():
            started = time.perf_counter()
            (service if shared else MailroomService(config, store)).decide(docs[index].id, "routes", {}, "claire")
            spent[shared] += time.perf_counter() - started
    return spent[True] / count, spent[False] / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=300)
    parser.add_argument("--decisions", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        cas, plain = bench_moves(Path(tmp), args.documents)
        shared, fresh = bench_decisions(Path(tmp), args.decisions)
    print(f"{'':44} {'lifecycle':>12} {'before':>12} {'ratio':>7}")
    print(f"{'one move (ms): transition vs save_document':44} {cas * 1e3:12.2f} {plain * 1e3:12.2f} {cas / plain:7.2f}")
    print(f"{'one decision + publication (ms), local':44} {shared * 1e3:12.1f} {fresh * 1e3:12.1f} {shared / fresh:7.2f}")


if __name__ == "__main__":
    main()
