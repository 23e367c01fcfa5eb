"""The `mailroom` command: parses arguments, calls the rest, talks to people."""
from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from . import __version__
from .config import Config, load_config, redact_url, to_toml_dict
from .coordinator import Coordinator
from .errors import ExitCode, MailroomError
from .messages import reason_code, say_reason
from .records import DUPLICATE, FINAL_STATES, PUBLISH_FAILED, PUBLISHED, QUARANTINED, REVIEW, InputState
from .service import MailroomService
from .store import Store
from .watch import Watcher, claim, is_junk, recover_incoming

# Feature modules that add their own sub-commands through register(subparsers).
COMMAND_MODULES = (
    "pipeline.classify.commands",      # train, eval
    "pipeline.sheets",                 # sheets
    "pipeline.publish.sharepoint_commands",  # sharepoint check
    "pipeline.review.commands",        # review, users
    "pipeline.registration.commands",  # register
    "pipeline.trace.commands",         # verify, proof, seal, archive export, purge, process-description
)
PUBLISH_RETRY_SECONDS = 60.0


# -- helpers ------------------------------------------------------------------------------------

def open_store(config: Config) -> Store:
    config.home.mkdir(parents=True, exist_ok=True)
    return Store(config.database_path)


def collect_files(paths: list[str]) -> list[Path]:
    files = []
    for name in paths:
        path = Path(name)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and not is_junk(p)))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {name}")
    return files


def report_lines(store: Store, input_ids: list[str]) -> list[dict]:
    """One line per output document; a quarantined input that made none gets one line of its own."""
    lines = []
    for input_id in input_ids:
        documents = store.documents(input_id=input_id)
        for doc in documents:
            line = doc.report_line()
            line["review_reasons"] = [say_reason(r) for r in doc.review_reasons]  # words, made here
            line["review_codes"] = [reason_code(r) for r in doc.review_reasons]
            original = store.get_document(doc.duplicate_of) if doc.duplicate_of else None
            if original is not None:  # recorded early: the original may have been finished since
                line.update(pdf=original.pdf, destination=original.destination, category=original.category,
                            confidence=original.confidence, duplicate_of=original.id)
            lines.append(line)
        row = store.get_input(input_id)
        if not documents and row.state == InputState.QUARANTINED:
            lines.append({"id": row.id, "source": row.original_name, "source_sha256": row.sha256,
                          "source_pages": [], "pages": 0, "status": QUARANTINED, "category": None,
                          "confidence": None, "candidates": [], "fields": {}, "destination": None,
                          "reason": row.reason, "received_at": row.received_at, "pdf": None,
                          "quarantine": row.spool_path})
    return lines


STATUS_WORDS = {PUBLISHED: "published", REVIEW: "to review", QUARANTINED: "quarantined", DUPLICATE: "duplicates",
                PUBLISH_FAILED: "publish failed"}


def summary_counts(lines: list[dict]) -> Counter:
    return Counter(line["status"] for line in lines)


def format_summary(counts: Counter) -> str:
    parts = [f"{counts.get(state, 0)} {word}" for state, word in STATUS_WORDS.items()
             if counts.get(state, 0) or state in (PUBLISHED, REVIEW, QUARANTINED, DUPLICATE)]
    other = sum(n for state, n in counts.items() if state not in STATUS_WORDS)
    if other:
        parts.append(f"{other} in progress")
    return " · ".join(parts)


class ProgressLine:
    """A one-line progress display on a terminal; silent when output is redirected."""

    def __init__(self, total_files: int, stream=sys.stderr):
        self.total_files = total_files
        self.stream = stream
        self.enabled = stream.isatty()
        self.started = time.monotonic()

    def __call__(self, pipeline: Coordinator) -> None:
        if not self.enabled:
            return
        counts = pipeline.store.document_counts()
        elapsed = time.monotonic() - self.started
        text = (f"\r[{pipeline.pages_done}/{max(pipeline.pages_total, pipeline.pages_done)} pages] "
                f"{len(pipeline.touched)}/{self.total_files} files · published {counts.get(PUBLISHED, 0)} · "
                f"review {counts.get(REVIEW, 0)} · quarantine {len(pipeline.store.inputs('quarantined'))} · "
                f"{elapsed:.0f}s")
        self.stream.write(text[:160].ljust(100))
        self.stream.flush()

    def done(self) -> None:
        if self.enabled:
            self.stream.write("\n")


def install_stop_handlers() -> threading.Event:
    stop = threading.Event()

    def handler(signum, frame):
        logging.getLogger("mailroom").info("signal %s: stopping cleanly", signum)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


# -- commands -------------------------------------------------------------------------------------

def outcome(lines: list[dict]) -> ExitCode:
    """0 when every input ended published, in review or a duplicate; INCOMPLETE when something was
    quarantined or a publication failed (so that scripts and cron jobs notice)."""
    bad = {QUARANTINED, PUBLISH_FAILED, "rejected"}
    return ExitCode.INCOMPLETE if any(line["status"] in bad for line in lines) else ExitCode.OK


def cmd_process(config: Config, args) -> int:
    files = collect_files(args.paths)
    service = MailroomService(config)
    store, pipeline = service.store, service.coordinator
    recover_incoming(config, store)
    progress = ProgressLine(len(files))
    try:
        for path in files:
            row = claim(config, store, path, inbox=None, move=False)
            pipeline.submit(row.id)
            progress(pipeline)
        pipeline.run_until_idle(progress)
        for row_id in list(pipeline.touched):  # duplicates of files processed in this same run
            if store.get_input(row_id).state == InputState.DUPLICATE:
                pipeline.submit(row_id)
    finally:
        service.close()
        progress.done()
    lines = report_lines(store, pipeline.touched)
    if args.report:
        with open(args.report, "w", encoding="utf-8") as handle:
            for line in lines:
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    for line in lines:
        if line["status"] == QUARANTINED:
            print(f"quarantined: {line['source']}: {line['reason']}", file=sys.stderr)
    print(f"{len(files)} file(s) → {len(lines)} document(s): {format_summary(summary_counts(lines))}")
    return outcome(lines)


def run_service(config: Config, stop: threading.Event, with_review: bool) -> int:
    """watch and serve: claim settled files, run the stages, retry failed publications."""
    log = logging.getLogger("mailroom")
    service = MailroomService(config)
    store, pipeline = service.store, service.coordinator
    review_server = None
    if with_review:
        from .review.server import start as start_review
        try:
            review_server = start_review(config, service=service)  # decisions use the same publisher
        except RuntimeError as error:  # the port is taken, most often
            print(f"error: the review app cannot start: {error}", file=sys.stderr)
            service.close()
            return ExitCode.FAILED
        log.info("review app on %s", review_server.url)
    recover_incoming(config, store)
    resumed = pipeline.resume()
    if resumed:
        log.info("resuming %d input(s) after a restart", len(resumed))
    from .registration.commands import RegistrationDuties
    duties = RegistrationDuties(config, store)
    duties.tick()
    watcher = Watcher(config, store, on_claimed=lambda row: (
        log.info("received %s as %s", row.original_name, row.id), pipeline.submit(row.id)))
    watcher.start()
    from .trace.service import TraceService
    trace = TraceService(config, store)  # timestamps due again, daily seal, nightly verify, old work/ files
    from .publish.redirect import RedirectPoller
    redirects = RedirectPoller(config, store, service.publisher)  # « Réorienter vers » set by agents
    inboxes = ", ".join(str(inbox.path) for inbox in config.all_inboxes())
    log.info("watching %s (home %s)", inboxes, config.home)
    last_retry = time.monotonic()
    try:
        while not stop.is_set():
            watcher.poll()
            if pipeline.busy:
                pipeline.step(timeout=0.25)
            else:
                stop.wait(0.25)
            if time.monotonic() - last_retry >= PUBLISH_RETRY_SECONDS:
                last_retry = time.monotonic()
                pipeline.retry_due_publications()
                duties.tick()
                for row in store.inputs(InputState.DUPLICATE):
                    pipeline.submit(row.id)
            if not pipeline.busy:
                trace.tick()
                redirects.tick()
    finally:
        watcher.stop()
        service.close(wait=True)
        if review_server is not None:
            review_server.stop()
        store.close()
        log.info("stopped")
    return 0


def cmd_watch(config: Config, args) -> int:
    return run_service(config, install_stop_handlers(), with_review=False)


def cmd_serve(config: Config, args) -> int:
    return run_service(config, install_stop_handlers(), with_review=True)


def status_data(store: Store) -> dict:
    documents = store.documents()
    waiting = [d for d in documents if d.state not in FINAL_STATES]
    not_split_yet = store.inputs("received")
    oldest = min([(d.received_at, d.id, d.state) for d in waiting] +
                 [(r.received_at, r.id, "received") for r in not_split_yet], default=None)
    return {
        "documents": dict(Counter(d.state for d in documents)),
        "inputs": store.input_counts(),
        "oldest_waiting": {"received_at": oldest[0], "id": oldest[1], "state": oldest[2]} if oldest else None,
        "quarantined": [{"id": r.id, "source": r.original_name, "received_at": r.received_at, "reason": r.reason,
                         "file": r.spool_path} for r in store.inputs("quarantined")]
                       + [{"id": d.id, "source": d.source, "received_at": d.received_at, "reason": d.reason,
                           "file": None} for d in documents if d.state in (QUARANTINED, "rejected")],
        "publish_failed": [{"id": d.id, "source": d.source, "category": d.category, "attempts": d.attempts,
                            "error": d.reason, "retry_after": d.retry_after}
                           for d in documents if d.state == PUBLISH_FAILED],
        "acknowledgements_waiting": [
            {"id": d.id, "registration": d.registration, "state": d.acknowledgement["state"],
             "channel": d.acknowledgement.get("channel"), "to": d.acknowledgement.get("to"),
             "attempts": d.acknowledgement.get("attempts"), "error": d.acknowledgement.get("error"),
             "retry_after": d.acknowledgement.get("retry_after")}
            for d in documents if d.acknowledgement.get("state") in ("failed", "unconfirmed")],
        "transmissions_waiting": [  # L114-2: the slip to the competent body, the notice to the sender
            {"id": d.id, "registration": d.registration, "part": part, "body": d.transmission.get("body_name"),
             "state": item["state"], "channel": item.get("channel"), "to": item.get("to"),
             "attempts": item.get("attempts"), "error": item.get("error"), "retry_after": item.get("retry_after")}
            for d in documents for part, item in _transmission_parts(d) if item.get("state") in ("failed", "unconfirmed")],
        "list": [{"id": d.id, "state": d.state, "category": d.category, "confidence": d.confidence,
                  "destination": d.destination, "source": d.source, "received_at": d.received_at,
                  "registration": d.registration, "deadline": d.deadline,
                  "acknowledgement": d.acknowledgement.get("state")}
                 for d in documents],
    }


def _transmission_parts(doc) -> list[tuple[str, dict]]:
    from .registration.board import TRANSMISSION_PARTS

    return [(part, doc.transmission[part]) for part in TRANSMISSION_PARTS if doc.transmission.get(part)]


def cmd_worker(config: Config, args) -> int:
    from .distributed.app import run_worker

    if args.concurrency < 0:
        raise SystemExit("mailroom worker: --concurrency must be 1 or more")
    queues = [q.strip() for q in args.queues.split(",") if q.strip()]
    return run_worker(config, args.concurrency or config.runner.worker_count, queues, args.hostname or None)


def queue_status(config: Config) -> dict | None:
    """The Celery queue and its live workers (None with the local backend)."""
    if config.runner.backend != "celery":
        return None
    from .distributed.app import broker_state

    return broker_state(config)


def cmd_status(config: Config, args) -> int:
    from .publish.sharepoint_commands import sharepoint_lines, sharepoint_status
    from .trace.report import status_lines, trace_status

    store = open_store(config)
    data = status_data(store)
    data["queue"] = queue_status(config)
    data["trace"] = trace_status(config, store)
    data["sharepoint"] = sharepoint_status(config)
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return 0
    print("Documents: " + (", ".join(f"{state} {n}" for state, n in sorted(data["documents"].items())) or "none"))
    print("Inputs:    " + (", ".join(f"{state} {n}" for state, n in sorted(data["inputs"].items())) or "none"))
    oldest = data["oldest_waiting"]
    print(f"Oldest waiting: {oldest['id']} ({oldest['state']}, received {oldest['received_at']})" if oldest
          else "Oldest waiting: nothing is waiting")
    queue = data["queue"]
    if queue is not None and not queue["available"]:
        print(f"Queue: « file d'attente indisponible » ({redact_url(config.runner.broker_url)}: {queue['error']})")
    elif queue is not None:
        print(f"Queue: {config.runner.queue}, {queue['queued']} page(s) waiting; "
              f"{len(queue['workers'])} live worker(s)" + (":" if queue["workers"] else ""))
        for name, queues in queue["workers"].items():
            print(f"  {name}  queues: {', '.join(queues)}")
    if data["quarantined"]:
        print(f"Quarantined ({len(data['quarantined'])}):")
        for item in data["quarantined"]:
            print(f"  {item['id']}  {item['source']}: {item['reason']}")
    for line in sharepoint_lines(data["sharepoint"]):
        print(line)
    if data["publish_failed"]:
        print(f"Failed publications ({len(data['publish_failed'])}):")
        for item in data["publish_failed"]:
            print(f"  {item['id']}  {item['source']} → {item['category']}: {item['error']} "
                  f"(attempts {item['attempts']}, next try after {item['retry_after']})")
    for key, title in (("acknowledgements_waiting", "Acknowledgements"), ("transmissions_waiting", "Transmissions")):
        if data[key]:
            print(f"{title} not sent ({len(data[key])}):")
        for item in data[key]:
            what = ("interrupted while sending: check the mailbox before forcing it from the review app"
                    if item["state"] == "unconfirmed" else
                    f"{item['error']} (attempts {item['attempts']}, next try after {item['retry_after']})")
            part = {"slip": f" slip to {item.get('body')}", "notice": " notice to the sender"}.get(item.get("part"), "")
            print(f"  {item['id']}  {item['registration']}{part} → {item['to'] or 'paper'}: {what}")
    for line in status_lines(data["trace"]):
        print(line)
    return 0


def cmd_retry(config: Config, args) -> int:
    from .quarantine import release_input

    service = MailroomService(config)
    store, pipeline = service.store, service.coordinator
    retried = []
    try:
        if args.failed:
            for doc in store.documents(PUBLISH_FAILED):
                store.journal("retried", doc.input_id, doc.id, actor="cli")
                retried.append(pipeline.publish(doc, actor="cli"))
            for row in store.inputs(InputState.QUARANTINED):
                release_input(config, store, row)
                pipeline.submit(row.id)
        else:
            row = store.get_input(args.id)
            doc = store.get_document(args.id)
            if row is not None and row.state == InputState.QUARANTINED:
                release_input(config, store, row)
                pipeline.submit(row.id)
            elif doc is not None and doc.state == PUBLISH_FAILED:
                store.journal("retried", doc.input_id, doc.id, actor="cli")
                retried.append(pipeline.publish(doc, actor="cli"))
            else:
                known = row or doc
                state = known.state if known else None
                print(f"error: {args.id} is {'unknown' if known is None else 'in state ' + state}: only quarantined "
                      "inputs and failed publications can be retried", file=sys.stderr)
                return ExitCode.USAGE
        pipeline.run_until_idle()
    finally:
        service.close()
    lines = report_lines(store, pipeline.touched) + [d.report_line() for d in retried]
    print(f"retried: {format_summary(summary_counts(lines))}")
    return outcome(lines)


def cmd_config_show(config: Config, args) -> int:
    import tomli_w

    print(f"# effective configuration (from {config.source}, home {config.home})")
    print(tomli_w.dumps(to_toml_dict(config)))
    return 0


def doctor_checks(config: Config) -> list[tuple[bool, str, str]]:
    """(ok, what, what to do) for everything the main job needs."""
    checks = []
    tesseract = shutil.which("tesseract")
    checks.append((bool(tesseract), "tesseract", "sudo apt-get install tesseract-ocr"))
    if tesseract:
        langs = subprocess.run([tesseract, "--list-langs"], capture_output=True, text=True).stdout.split()
        for lang in [*config.ocr.languages.split("+"), "osd"]:
            checks.append((lang in langs, f"tesseract language '{lang}'", f"sudo apt-get install tesseract-ocr-{lang}"))
    for tool in ("pdftoppm", "pdfinfo", "pdftotext"):
        checks.append((bool(shutil.which(tool)), tool, "sudo apt-get install poppler-utils"))
    model_ok, model_error = True, ""
    try:
        from .classify.model import get_classifier
        get_classifier(config.model_dir)
    except Exception as error:  # the model is data from disk: any failure is worth saying
        model_ok, model_error = False, str(error)
    checks.append((model_ok, f"classifier model {config.model_dir}" + (f" ({model_error})" if model_error else ""),
                   "run: mailroom train"))
    try:
        config.home.mkdir(parents=True, exist_ok=True)
        probe = config.home / ".doctor"
        probe.write_text("ok")
        probe.unlink()
        checks.append((True, f"write access to {config.home}", ""))
    except OSError as error:
        checks.append((False, f"write access to {config.home} ({error})", "fix the folder's permissions"))
    from .publish import make_publisher
    try:
        problems = make_publisher(config).check()
    except Exception as error:
        problems = [str(error)]
    checks.append((not problems, f"publish target ({config.publish.backend})" +
                   (": " + "; ".join(problems) if problems else ""), "see the problems above"))
    queue = queue_status(config)
    if queue is not None:
        checks.append((queue["available"], f"Redis queue {redact_url(config.runner.broker_url)}" +
                       (f" ({queue['error']})" if queue["error"] else f", {len(queue['workers'])} live worker(s)"),
                       "start redis-server, check [runner] broker_url and $" + config.runner.password_env))
    from .trace.report import doctor_check
    checks.append(doctor_check(config))
    return checks


def cmd_doctor(config: Config, args) -> int:
    checks = doctor_checks(config)
    for ok, what, fix in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {what}" + ("" if ok or not fix else f"  → {fix}"))
    return ExitCode.OK if all(ok for ok, _, _ in checks) else ExitCode.FAILED


# -- parser ---------------------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mailroom", description="Digital mailroom: scans → searchable PDFs → libraries.")
    parser.add_argument("--home", default=os.environ.get("MAILROOM_HOME", "./var"),
                        help="folder with all state (default: $MAILROOM_HOME or ./var)")
    parser.add_argument("--config", type=Path, help="configuration file (default: HOME/mailroom.toml, else bundled)")
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--version", action="version", version=f"mailroom {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    process = sub.add_parser("process", help="process these files or folders now, then return")
    process.add_argument("paths", nargs="+", metavar="PATH")
    process.add_argument("--report", metavar="FILE", help="write one JSON line per output document")
    process.set_defaults(handler=cmd_process)

    sub.add_parser("watch", help="watch the inboxes until SIGINT/SIGTERM").set_defaults(handler=cmd_watch)
    sub.add_parser("serve", help="the main job: watch + review web app").set_defaults(handler=cmd_serve)

    status = sub.add_parser("status", help="counts, oldest waiting item, quarantine, failed publications")
    status.add_argument("--json", action="store_true")
    status.set_defaults(handler=cmd_status)

    retry = sub.add_parser("retry", help="put quarantined or failed items back in the queue")
    which = retry.add_mutually_exclusive_group(required=True)
    which.add_argument("id", nargs="?", help="input id (L000012) or document id (L000012-01)")
    which.add_argument("--failed", action="store_true", help="every quarantined input and failed publication")
    retry.set_defaults(handler=cmd_retry)

    config_parser = sub.add_parser("config", help="configuration")
    config_sub = config_parser.add_subparsers(dest="config_command", required=True)
    config_sub.add_parser("show", help="the effective configuration as TOML").set_defaults(handler=cmd_config_show)

    sub.add_parser("doctor", help="check the installation").set_defaults(handler=cmd_doctor)

    worker = sub.add_parser("worker", help="read pages from the Redis queue ([runner] backend = \"celery\")")
    worker.add_argument("--concurrency", type=int, default=0, help="pages read at once (default: one per core)")
    worker.add_argument("--queues", default="", help="comma-separated queues (default: [runner] queue)")
    worker.add_argument("--hostname", default="", help="worker name shown by status (default: celery@host)")
    worker.set_defaults(handler=cmd_worker)

    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    quiet = args.command == "process"  # its progress line and summary say it all; -v shows each step
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.ERROR if quiet else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        config = load_config(Path(args.home), args.config)
        return int(args.handler(config, args) or ExitCode.OK)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except MailroomError as error:  # the one place errors become words and exit codes
        prefix = "configuration error" if error.code == "config-invalid" else f"error ({error.code})"
        print(f"{prefix}: {error}", file=sys.stderr)
        return int(error.exit_code)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return ExitCode.USAGE


if __name__ == "__main__":
    sys.exit(main())
