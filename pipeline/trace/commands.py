"""Sub-commands of the reliable copy: verify, proof, seal, archive export, purge, process-description."""
from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

from ..config import Config
from ..errors import ExitCode
from ..store import Store


def _store(config: Config) -> Store:
    config.home.mkdir(parents=True, exist_ok=True)
    return Store(config.database_path)


def run_verify(config: Config, args) -> int:
    from .verify import verify

    report = verify(config, _store(config), args.ids or None, remote=args.remote)  # CannotCheck: exit 2
    for problem in report.problems:
        print(problem.line())
    summary = f"{len(report.checked)} document(s) checked, {len(report.problems)} problem(s)"
    print(summary if report.problems else f"{summary}: journal, seals, files and timestamps intact", file=sys.stderr)
    return ExitCode.FAILED if report.problems else ExitCode.OK


def run_proof(config: Config, args) -> int:
    from .proof import build_proof

    members = build_proof(config, _store(config), args.id, Path(args.out))
    print(f"{args.out}: {len(members)} files ({', '.join(members)})")
    return 0


def run_seal(config: Config, args) -> int:
    from .stamp import seal_journal

    seal = seal_journal(config, _store(config))
    print(f"sealed event {seal['head_id']} ({seal['head_hash']})" if seal else "nothing new to seal")
    return 0


def run_export(config: Config, args) -> int:
    from .seda import export_sip

    count = export_sip(config, _store(config), args.date_from, args.date_to, args.category, Path(args.out))
    print(f"{args.out}: SEDA 2.2 ArchiveTransfer with {count} letter(s)")
    return 0


def run_purge(config: Config, args) -> int:
    from .retention import purge

    removals = purge(config, _store(config), dry_run=args.dry_run)
    for removal in removals:
        print(("would remove " if args.dry_run else "removed ") + removal.line())
    total = sum(r.size for r in removals)
    print(f"{len(removals)} cop{'y' if len(removals) == 1 else 'ies'}, {total / 1e6:.1f} MB"
          + (" (dry run: nothing removed)" if args.dry_run else ""), file=sys.stderr)
    return 0


def run_description(config: Config, args) -> int:
    from .description import write_description

    write_description(config, Path(args.out))
    print(f"{args.out}: description of the digitisation process (French)")
    return 0


def register(sub) -> None:
    verify = sub.add_parser("verify", help="check the journal's chain, seals, files and timestamps",
                            description="Exit codes: 0 all intact; 1 problems found (one line each); "
                                        "2 the check could not be made.")
    verify.add_argument("ids", nargs="*", metavar="ID", help="documents (L000012-01) or inputs (L000012); "
                                                              "default: every published document")
    verify.add_argument("--remote", action="store_true", help="download published PDFs from SharePoint")
    verify.set_defaults(handler=run_verify)

    proof = sub.add_parser("proof", help="the proof file of one document (zip, README in French)")
    proof.add_argument("id", metavar="ID")
    proof.add_argument("--out", required=True, metavar="FILE.zip")
    proof.set_defaults(handler=run_proof)

    sub.add_parser("seal", help="seal (and timestamp) the journal's chain head now").set_defaults(handler=run_seal)

    archive = sub.add_parser("archive", help="transfers to the Archives départementales")
    archive_sub = archive.add_subparsers(dest="archive_command", required=True)
    export = archive_sub.add_parser("export", help="a SEDA 2.2 ArchiveTransfer package (zip)")
    export.add_argument("--from", dest="date_from", type=date.fromisoformat, required=True, metavar="DATE")
    export.add_argument("--to", dest="date_to", type=date.fromisoformat, required=True, metavar="DATE")
    export.add_argument("--category", metavar="ID")
    export.add_argument("--out", required=True, metavar="SIP.zip")
    export.set_defaults(handler=run_export)

    purge = sub.add_parser("purge", help="remove local copies past their retention (published, verified, "
                                         "timestamped only) and old work/ intermediates")
    purge.add_argument("--dry-run", action="store_true", help="say what would be removed, remove nothing")
    purge.set_defaults(handler=run_purge)

    description = sub.add_parser("process-description", help="the description of the process (PDF, French)")
    description.add_argument("--out", required=True, metavar="FILE.pdf")
    description.set_defaults(handler=run_description)
