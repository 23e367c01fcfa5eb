"""Benchmark: what the reliable copy costs, beside what an operator would do by hand (issue #15).

Publishes N one-page letters through the coordinator twice, [trace] off then on (a local RFC 3161
authority answering with `openssl ts -reply` on 127.0.0.1), and reports the time per publication
each way. Then times `mailroom verify` over the N letters (chain, seal, fingerprints of the
published PDFs and archived scans, tokens) against the shell loop an operator would write:
`sha256sum` of the same files plus one `openssl ts -verify` per token. CPU seconds (children
included) are given too: on a shared machine wall time depends on the load.

    .venv/bin/python -m bench.trace [--letters 50] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.trace.stamp import seal_journal  # noqa: E402
from pipeline.trace.verify import verify  # noqa: E402
from tests.support.proof_home import publish_letters, trace_config_text  # noqa: E402
from tests.support.tsa import LocalTsa  # noqa: E402


def cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(action):
    wall, used = time.perf_counter(), cpu()
    result = action()
    return result, time.perf_counter() - wall, cpu() - used


def by_hand(letters, home: Path, ca_file: Path) -> None:
    """sha256sum of every published PDF and archived scan, openssl ts -verify of every token."""
    files = [d.destination for d in letters.documents]
    files += [letters.store.get_input(d.input_id).spool_path for d in letters.documents]
    subprocess.run(["sha256sum", *files], check=True, capture_output=True)
    for doc in letters.documents:
        subprocess.run(["openssl", "ts", "-verify", "-in", str(home / doc.timestamp["token"]), "-data",
                        doc.destination, "-CAfile", str(ca_file)], check=True, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        tsa = LocalTsa(scratch / "tsa")
        try:
            plain_home, traced_home = scratch / "plain", scratch / "traced"
            plain_home.mkdir()
            traced_home.mkdir()
            (plain_home / "mailroom.toml").write_text(trace_config_text(None).replace(
                "enabled = true             # true:", "enabled = false             # true:"))
            _, plain_wall, plain_cpu = timed(lambda: publish_letters(plain_home, None, args.letters))
            letters, traced_wall, traced_cpu = timed(lambda: publish_letters(traced_home, tsa, args.letters))
            seal_journal(letters.config, letters.store)
            report, verify_wall, verify_cpu = timed(lambda: verify(letters.config, letters.store, record=False))
            assert not report.problems, report.problems
            _, hand_wall, hand_cpu = timed(lambda: by_hand(letters, traced_home, tsa.ca_file))
        finally:
            tsa.stop()
    n = args.letters
    figures = {
        "letters": n,
        "publish_ms_per_letter": {"trace_off": 1000 * plain_wall / n, "trace_on": 1000 * traced_wall / n},
        "publish_cpu_ms_per_letter": {"trace_off": 1000 * plain_cpu / n, "trace_on": 1000 * traced_cpu / n},
        "verify_ms_per_letter": {"mailroom_verify": 1000 * verify_wall / n, "sha256sum_openssl": 1000 * hand_wall / n},
        "verify_cpu_ms_per_letter": {"mailroom_verify": 1000 * verify_cpu / n,
                                     "sha256sum_openssl": 1000 * hand_cpu / n},
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    print(f"{n} letters (one page each), local TSA on 127.0.0.1")
    print(f"{'':38} {'wall ms/letter':>15} {'cpu ms/letter':>14}")
    rows = [("publish, [trace] off", plain_wall, plain_cpu), ("publish, [trace] on (fingerprint + token)",
                                                               traced_wall, traced_cpu),
            ("mailroom verify (chain, seal, files, tokens)", verify_wall, verify_cpu),
            ("sha256sum + openssl ts -verify by hand", hand_wall, hand_cpu)]
    for name, wall, used in rows:
        print(f"{name:44} {1000 * wall / n:9.1f} {1000 * used / n:14.1f}")
    print(f"ratios: publish on/off {traced_wall / plain_wall:.2f}; verify mailroom/by hand {verify_wall / hand_wall:.2f}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    sys.exit(main())
