"""Benchmark: what filing a letter costs in SharePoint requests and time (issue #13).

Side by side, against the local emulator over HTTP with the real office365 client:

* mailroom's publisher (find by uid with an indexed CAML query, upload, one
  ValidateUpdateListItem, check-in/publish where needed), in a library that is
  empty and in one seeded past the 5,000-item list view threshold;
* what an administrator would script by hand with the same client:
  `folder.upload_file()` then `validate_update_list_item()`, no identity check
  (a second run files the letter twice).

    .venv/bin/python -m bench.sharepoint [--letters 30] [--seeded 6000]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pipeline.config import load_config  # noqa: E402
from pipeline.publish import make_publisher  # noqa: E402
from tests.support.sp_emulator import SharePointEmulator, default_libraries, make_document, write_config  # noqa: E402

FOLDER = "Courrier entrant/2026/03"


def site(seeded: int) -> SharePointEmulator:
    server = SharePointEmulator().start()
    default_libraries(server)
    if seeded:
        server.seed("Routes", FOLDER, seeded, Identifiant="seed-{n}")
    return server


def mailroom(letters: int, seeded: int, work: Path) -> tuple[float, float]:
    server = site(seeded)
    try:
        home = work / f"home-{seeded}"
        home.mkdir()
        config = load_config(home, write_config(home, server))
        publisher = make_publisher(config)
        publisher.library("Routes")
        publisher.regional()
        sent, started = len(server.log), time.perf_counter()
        for n in range(letters):
            path = work / f"m{seeded}-{n}.pdf"
            path.write_bytes(b"%PDF-1.4\n" + os.urandom(30_000))
            publisher.publish(make_document(f"L{n:06d}-01"), path, config.categories["routes"])
        return (time.perf_counter() - started) / letters, (len(server.log) - sent) / letters
    finally:
        server.stop()


def by_hand(letters: int, work: Path) -> tuple[float, float]:
    from office365.sharepoint.client_context import ClientContext

    server = site(0)
    try:
        ctx = ClientContext(server.url).with_access_token(
            lambda: {"access_token": "test-token", "token_type": "Bearer", "expires_in": 3600})
        folder = ctx.web.ensure_folder_path(f"Routes/{FOLDER}").execute_query()
        sent, started = len(server.log), time.perf_counter()
        for n in range(letters):
            data = b"%PDF-1.4\n" + os.urandom(30_000)
            file = folder.upload_file(f"lettre {n}.pdf", data).execute_query()
            file.listItemAllFields.validate_update_list_item(
                {"Title": f"L{n:06d}-01", "Exp_x00e9_diteur": "Dupont Jean"}, new_document_update=True).execute_query()
        return (time.perf_counter() - started) / letters, (len(server.log) - sent) / letters
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--letters", type=int, default=30)
    parser.add_argument("--seeded", type=int, default=6000)
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    os.environ["MAILROOM_SHAREPOINT_TOKEN"] = "test-token"
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = [("mailroom, empty library", *mailroom(args.letters, 0, work)),
                (f"mailroom, {args.seeded} items in the folder", *mailroom(args.letters, args.seeded, work)),
                ("by hand: upload_file + validate_update", *by_hand(args.letters, work))]
    print(f"{'':45} {'ms/letter':>10} {'requests/letter':>16}")
    for name, seconds, requests in rows:
        print(f"{name:45} {seconds * 1000:10.1f} {requests:16.1f}")
    base = rows[2]
    print(f"ratio mailroom/by hand: time ×{rows[0][1] / base[1]:.2f}, requests ×{rows[0][2] / base[2]:.2f}; "
          f"past the threshold: time ×{rows[1][1] / base[1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
