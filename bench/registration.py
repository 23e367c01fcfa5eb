"""Benchmark: what registration costs (issue #14).

1. Numbering: one ``registered`` move per letter (claim-order check, next number of the year, the
   registrations row, the compare-and-set on the document and its chained event, one transaction),
   beside a plain ``INSERT`` into an AUTOINCREMENT table, the counter one would write by hand.
2. Finding what `serve` must send each minute among many filed letters: ``Store.open_deliveries``
   (indexed query) beside reading every filed letter and looking at its acknowledgement (what
   `serve` did before).

    .venv/bin/python -m bench.registration [--letters 2000] [--filed 20000]
"""
from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.records import PUBLISHED, Document  # noqa: E402
from pipeline.registration.numbers import year_of  # noqa: E402
from pipeline.store import Store  # noqa: E402

RECEIVED = "2026-05-13T09:00:00+02:00"


def bench_numbers(folder: Path, count: int) -> tuple[float, float]:
    store = Store(folder / "numbers.sqlite3")
    spent = 0.0
    for number in range(count):  # one letter at a time, as splits complete
        row = store.add_input(f"{number:064d}", f"s{number}.pdf", "/nowhere", RECEIVED)
        store.create_documents(row.id, [Document(id=f"{row.id}-01", input_id=row.id, source="s.pdf",
                                                 source_sha256=row.sha256, source_pages=[1], received_at=RECEIVED)])
        start = time.perf_counter()
        store.register_pending("{year}-A-{seq:06d}", year_of)
        spent += time.perf_counter() - start
    numbered = spent / count * 1000
    assert len(store.registrations()) == count
    plain = sqlite3.connect(folder / "plain.sqlite3", isolation_level=None)
    plain.execute("PRAGMA journal_mode=WAL")
    plain.execute("PRAGMA synchronous=FULL")
    plain.execute("CREATE TABLE numbers (seq INTEGER PRIMARY KEY AUTOINCREMENT, document TEXT)")
    start = time.perf_counter()
    for number in range(count):
        plain.execute("BEGIN IMMEDIATE")
        plain.execute("INSERT INTO numbers(document) VALUES (?)", (f"L{number:06d}-01",))
        plain.execute("COMMIT")
    return numbered, (time.perf_counter() - start) / count * 1000


def bench_due(folder: Path, filed: int, open_count: int = 20) -> tuple[float, float]:
    store = Store(folder / "due.sqlite3")
    db = store._db()
    db.execute("BEGIN")
    for number in range(filed):
        state = "pending" if number % (filed // open_count) == 0 else "batched"
        doc = Document(id=f"L{number:06d}-01", input_id=f"L{number:06d}", source="s.pdf", source_sha256="0" * 64,
                       source_pages=[1], received_at=RECEIVED, state=PUBLISHED, text="Madame, Monsieur, " * 120,
                       acknowledgement={"state": state, "channel": "paper", "kind": "svr"})
        db.execute("INSERT INTO documents(id, input_id, seq, state, category, updated_at, body, uid)"
                   " VALUES (?,?,?,?,?,?,?,?)", (doc.id, doc.input_id, 1, PUBLISHED, "routes", RECEIVED,
                                                  doc.to_json(), doc.uid))
    db.execute("COMMIT")
    paths = [("acknowledgement",), ("transmission", "slip"), ("transmission", "notice")]
    runs = 5
    start = time.perf_counter()
    for _ in range(runs):
        found = store.open_deliveries(paths, ("pending", "failed", "sending"))
    query = (time.perf_counter() - start) / runs * 1000
    assert len(found) == open_count
    start = time.perf_counter()
    for _ in range(runs):
        scanned = [d for d in store.documents(PUBLISHED) if d.acknowledgement.get("state") in ("pending", "failed")]
    scan = (time.perf_counter() - start) / runs * 1000
    assert len(scanned) == open_count
    return query, scan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=2000)
    parser.add_argument("--filed", type=int, default=20000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        numbered, plain = bench_numbers(Path(folder), args.letters)
        query, scan = bench_due(Path(folder), args.filed)
    print(f"numbering, {args.letters} letters one at a time (ms per letter)")
    print(f"  mailroom register_pending (registered move)  {numbered:8.2f}")
    print(f"  plain AUTOINCREMENT insert                   {plain:8.2f}   ratio {numbered / plain:.1f}")
    print(f"due letters to send among {args.filed} filed, 20 due (ms per look, as serve does each minute)")
    print(f"  Store.open_deliveries (indexed query)        {query:8.2f}")
    print(f"  read every filed letter (before)             {scan:8.2f}   ratio {query / scan:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
