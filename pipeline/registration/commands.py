"""`mailroom register`: the arrival register as CSV or PDF; and the registration duties of `serve`."""
from __future__ import annotations

import argparse
import logging
import sys
from datetime import date, timedelta
from pathlib import Path

from ..config import Config
from ..store import Store
from .acknowledgement import Acknowledger
from .delivery import Courier
from .numbers import register_pending
from .register import write_daily_register, write_register
from .transmission import Transmitter

log = logging.getLogger("mailroom")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "register", help="write the arrival register (CSV for a spreadsheet, or printable PDF)",
        description="One line per registered letter, in number order: number, arrival date and time, sender, "
                    "object, category, pages, status, deadline, acknowledgement. The format follows --out's "
                    "extension (.csv: UTF-8 with BOM and ';'; .pdf: A4 landscape).")
    parser.add_argument("--from", dest="start", type=_day, metavar="DATE", help="first arrival day (YYYY-MM-DD)")
    parser.add_argument("--to", dest="end", type=_day, metavar="DATE", help="last arrival day (YYYY-MM-DD)")
    parser.add_argument("--category", metavar="ID", help="only this category")
    parser.add_argument("--out", type=Path, required=True, metavar="FILE", help="register.csv or register.pdf")
    parser.set_defaults(handler=cmd_register)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def cmd_register(config: Config, args) -> int:
    if args.category and args.category not in config.categories:
        print(f"error: unknown category {args.category!r} (known: {', '.join(config.categories)})", file=sys.stderr)
        return 2
    if args.out.suffix.lower() not in (".csv", ".pdf"):
        print(f"error: {args.out}: the register is written as .csv or .pdf", file=sys.stderr)
        return 2
    count = write_register(config, Store(config.database_path), args.out, args.start, args.end, args.category)
    print(f"{count} letter(s) → {args.out}")
    return 0


class RegistrationDuties:
    """What `serve` does besides filing: numbers whose turn has come (a scan quarantined by the watcher), due
    acknowledgements, transmission slips and notices, and yesterday's register after midnight."""

    def __init__(self, config: Config, store: Store):
        self.config = config
        self.store = store
        self.courier = Courier(config, store, [Acknowledger(config, store).kind, *Transmitter(config, store).kinds])

    def tick(self, today: date | None = None) -> None:
        try:
            register_pending(self.config, self.store)
            self.courier.send_due()
            yesterday = (today or date.today()) - timedelta(days=1)
            target = self.config.home / "registers" / f"registre-{yesterday.isoformat()}.pdf"
            registered = self.store.registrations()
            if not target.exists() and registered and min(r["received_at"][:10] for r in registered) <= str(yesterday):
                write_daily_register(self.config, self.store, yesterday)
                log.info("daily register written: %s", target)
        except Exception:  # never stop the watcher
            log.exception("registration duties failed; retried at the next tick")
