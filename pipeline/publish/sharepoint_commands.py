"""`mailroom sharepoint check`: is the site ready to receive the mail, and if not, what to create."""
from __future__ import annotations

import argparse
import sys
import time

from ..config import Config
from . import PublishError


def run_check(config: Config, args: argparse.Namespace | None) -> int:
    """Connect, check every configured library and column; 0 when all is ready, 1 otherwise.

    `--create-columns` creates what is missing first; `--probe` then writes and reads back a probe file."""
    from .sharepoint import SharePointPublisher
    from .sharepoint_setup import create_columns, folder_warnings, probe

    out = sys.stdout
    settings = config.sharepoint
    if not settings.site_url:
        print("sharepoint.site_url n'est pas renseigné : indiquez l'adresse du site, par exemple "
              "https://tenant.sharepoint.com/sites/courrier", file=out)
        return 1
    print(f"Site : {settings.site_url} (authentification : {settings.auth})", file=out)
    publisher = SharePointPublisher(config)
    categories = {}
    for category in config.categories.values():
        categories.setdefault(category.library, []).append(category)
    try:
        reports = publisher.inspect()
        if getattr(args, "create_columns", False):
            for report in reports:
                if report.found:
                    for line in create_columns(publisher, report.title):
                        print(f"  « {report.title} » : {line}", file=out)
            reports = publisher.inspect()
        for report in reports:
            if report.found and not report.problems:
                report.warnings += folder_warnings(publisher, publisher.library(report.title),
                                                   categories[report.title])
        print(f"Fuseau horaire du site : {publisher.regional().zone_note}", file=out)
    except PublishError as error:
        print(f"Connexion impossible : {error}", file=out)
        return 1
    ready = True
    for report in reports:
        if report.found and not report.problems:
            print(f"  OK   « {report.title} » : {report.columns} colonnes reconnues", file=out)
            for line in report.settings:
                print(f"       · {line}", file=out)
            for line in report.warnings:
                print(f"       ! {line}", file=out)
            continue
        ready = False
        print(f"  À FAIRE « {report.title} » ({', '.join(report.categories)}) :", file=out)
        for problem in report.problems:
            print(f"       - {problem}", file=out)
    if ready and getattr(args, "probe", False):
        print("Sonde : un fichier déposé dans chaque bibliothèque, ses colonnes relues, puis supprimé", file=out)
        for report in reports:
            try:
                lines = probe(publisher, publisher.library(report.title), categories[report.title][0])
            except PublishError as error:
                lines = [f"ÉCART  la sonde n'a pu être déposée : {error}"]
            print(f"  « {report.title} » :", file=out)
            for line in lines:
                print(f"       {line}", file=out)
            ready = ready and not any(line.startswith("ÉCART") for line in lines)
    if ready:
        print("Tout est prêt.", file=out)
        return 0
    print("SharePoint n'est pas prêt : créez ce qui manque puis relancez « mailroom sharepoint check ».", file=out)
    return 1


def sharepoint_status(config: Config) -> dict | None:
    """For `mailroom status`: the shared pause and the letters awaiting approval (no network)."""
    if config.publish.backend != "sharepoint":
        return None
    from .sharepoint import AwaitingApproval
    from .sharepoint_client import Pause

    pause = Pause(config.home / "sharepoint" / "pause.json", time.time)
    return {"paused_until": pause.ends_at() if pause.remaining() > 0 else None, "pause_reason": pause.reason,
            "awaiting_approval": AwaitingApproval(config.home / "sharepoint" / "awaiting-approval.json").all()}


def sharepoint_lines(data: dict | None) -> list[str]:
    if not data:
        return []
    lines = []
    if data["paused_until"]:
        lines.append(f"SharePoint: en pause jusqu'à {data['paused_until']} ({data['pause_reason']}); "
                     "les publications attendent")
    if data["awaiting_approval"]:
        lines.append(f"En attente d'approbation dans SharePoint ({len(data['awaiting_approval'])}):")
        lines += [f"  {url}  (depuis {since})" for url, since in sorted(data["awaiting_approval"].items())]
    return lines


def register(subparsers) -> None:
    parser = subparsers.add_parser("sharepoint", help="SharePoint target: check that libraries and columns exist")
    commands = parser.add_subparsers(dest="sharepoint_command", metavar="COMMAND")
    commands.required = True
    check = commands.add_parser("check", help="connect and check every configured library and column")
    check.add_argument("--create-columns", action="store_true",
                       help="create the missing columns (identity column indexed with unique values)")
    check.add_argument("--probe", action="store_true",
                       help="upload a probe file to each library, set every column, read it back, delete it")
    check.set_defaults(handler=run_check)
