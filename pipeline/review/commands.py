"""`mailroom review` and `mailroom users add|set|list`: the command-line side of the review app."""
from __future__ import annotations

import argparse
import getpass
import signal
import sys
import threading

from ..config import Config
from ..errors import ExitCode
from ..store import Store
from .auth import (MIN_PASSWORD_LENGTH, ROLE_LABELS, ROLES, AccountError, check_new_account, check_role,
                   hash_password, parse_categories)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `review` and `users` to the main parser; each sets ``handler(config, args) -> int``."""
    review = subparsers.add_parser("review", help="serve the supervisors' review pages",
                                   description="Serve the supervisors' review web app until SIGINT/SIGTERM.")
    review.add_argument("--host", default=None, help="address to listen on (default: [review].host, 127.0.0.1)")
    review.add_argument("--port", type=int, default=None, help="port (default: [review].port, 8000)")
    review.set_defaults(handler=run_review)

    users = subparsers.add_parser("users", help="manage review accounts")
    actions = users.add_subparsers(dest="users_action", metavar="ACTION", required=True)
    add = actions.add_parser("add", help="create an account or reset its password and role",
                             description="Create a review account (or replace its password and role). The "
                                         "password is asked twice on a terminal, else read from stdin.")
    add.add_argument("name")
    add.add_argument("--role", choices=ROLES, default="supervisor")
    add.add_argument("--categories", default=None, metavar="A,B",
                     help="category ids the account may see (default: every category; kept when the account exists)")
    add.set_defaults(handler=add_user)
    change = actions.add_parser("set", help="change an account's role or categories",
                                description="Change the role or the visible categories of an existing account "
                                            "(--categories '' gives back every category).")
    change.add_argument("name")
    change.add_argument("--role", choices=ROLES, default=None)
    change.add_argument("--categories", default=None, metavar="A,B")
    change.set_defaults(handler=set_user)
    actions.add_parser("list", help="list accounts with their roles and categories").set_defaults(handler=list_users)


def read_password(stdin=None, prompt=getpass.getpass) -> str:
    """Twice with getpass on a terminal; the first line of stdin otherwise (for scripts)."""
    stdin = stdin or sys.stdin
    if stdin.isatty():
        first = prompt("Mot de passe : ")
        if first != prompt("Confirmez le mot de passe : "):
            raise AccountError("les deux mots de passe diffèrent")
        return first
    line = stdin.readline()
    return line[:-1] if line.endswith("\n") else line


def add_user(config: Config, args: argparse.Namespace) -> int:
    try:
        categories = _categories(config, args)
        password = read_password()
        check_new_account(args.name, password, args.role)
    except AccountError as error:
        print(f"mailroom users add : {error}", file=sys.stderr)
        return error.exit_code
    except (EOFError, KeyboardInterrupt):
        print("mailroom users add : abandon, aucun compte créé", file=sys.stderr)
        return 1
    store = Store(config.database_path)
    existed = store.get_user(args.name) is not None
    store.add_user(args.name, hash_password(password), args.role, categories, actor="cli")
    verb = "mis à jour" if existed else "créé"
    print(f"compte {args.name} {verb} (rôle : {args.role}, catégories : "
          f"{_shown(store.get_user(args.name)['categories'])}, mot de passe de {MIN_PASSWORD_LENGTH}+ caractères)")
    return 0


def set_user(config: Config, args: argparse.Namespace) -> int:
    try:
        categories = _categories(config, args)
        if args.role is not None:
            check_role(args.role)
    except AccountError as error:
        print(f"mailroom users set : {error}", file=sys.stderr)
        return error.exit_code
    if args.role is None and categories is None:
        print("mailroom users set : rien à changer (--role ou --categories)", file=sys.stderr)
        return ExitCode.USAGE
    store = Store(config.database_path)
    if not store.set_user(args.name, "cli", role=args.role, categories=categories):
        print(f"mailroom users set : aucun compte « {args.name} » (mailroom users add pour le créer)", file=sys.stderr)
        return ExitCode.FAILED
    user = store.get_user(args.name)
    print(f"compte {args.name} mis à jour (rôle : {user['role']}, catégories : {_shown(user['categories'])})")
    return 0


def list_users(config: Config, args: argparse.Namespace) -> int:
    users = Store(config.database_path).users()
    if not users:
        print("aucun compte (mailroom users add NOM pour en créer un)")
        return 0
    width = max(len(u["name"]) for u in users)
    for user in users:
        role = ROLE_LABELS.get(user["role"], user["role"])
        print(f"{user['name']:<{width}}  {user['role']:<10}  {_shown(user['categories'])}  ({role})")
    return 0


def _categories(config: Config, args: argparse.Namespace) -> list[str] | None:
    return None if args.categories is None else parse_categories(args.categories, config.categories)


def _shown(categories: list[str]) -> str:
    return ",".join(categories) if categories else "toutes"


def run_review(config: Config, args: argparse.Namespace) -> int:
    from .server import start

    try:
        server = start(config, host=args.host, port=args.port)
    except RuntimeError as error:
        print(f"mailroom review : {error}", file=sys.stderr)
        return 1
    print(f"revue du courrier : {server.url} (Ctrl+C pour arrêter)", flush=True)
    if server.host not in ("127.0.0.1", "localhost", "::1"):
        print("attention : l'application est joignable depuis le réseau ; placez-la derrière un proxy HTTPS "
              "pour que mots de passe et cookies ne circulent pas en clair", file=sys.stderr, flush=True)
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(1.0):
            if not server.running:
                print("mailroom review : le serveur s'est arrêté", file=sys.stderr)
                return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.stop()
    return 0
