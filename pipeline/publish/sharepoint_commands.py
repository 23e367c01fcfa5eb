"""`mailroom sharepoint check`: is the site ready to receive the mail, and if not, what to create."""
from __future__ import annotations

import argparse
import sys

from ..config import Config
from . import PublishError


def run_check(config: Config, args: argparse.Namespace) -> int:
    """Connect, check every configured library and column; 0 when all is ready, 1 otherwise."""
    from .sharepoint import SharePointPublisher

    out = sys.stdout
    settings = config.sharepoint
    if not settings.site_url:
        print("sharepoint.site_url n'est pas renseigné : indiquez l'adresse du site, par exemple "
              "https://tenant.sharepoint.com/sites/courrier", file=out)
        return 1
    print(f"Site : {settings.site_url} (authentification : {settings.auth})", file=out)
    try:
        reports = SharePointPublisher(config).inspect()
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
    if ready:
        print("Tout est prêt.", file=out)
        return 0
    print("SharePoint n'est pas prêt : créez ce qui manque puis relancez « mailroom sharepoint check ».", file=out)
    return 1


def register(subparsers) -> None:
    parser = subparsers.add_parser("sharepoint", help="SharePoint target: check that libraries and columns exist")
    commands = parser.add_subparsers(dest="sharepoint_command", metavar="COMMAND")
    commands.required = True
    check = commands.add_parser("check", help="connect and check every configured library and column")
    check.set_defaults(handler=run_check)
