"""Quarantine: where a scan that cannot be processed waits, with a reason a clerk can act on.

Nothing is deleted: the file is moved (never copied then removed) next to a
``<name>.reason.txt``, and the journal records why.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from .config import Config
from .publish import safe_name
from .store import InputRow, Store, now_iso

ADVICE = ("Une fois le problème réglé, redéposer le fichier corrigé dans la corbeille d'arrivée, "
          "ou relancer ce lot tel quel avec : mailroom retry {id}")


def reason_text(row: InputRow, reason: str) -> str:
    return "\n".join([
        "Ce fichier n'a pas pu être traité par mailroom.",
        "",
        f"Raison : {reason}",
        "",
        f"Fichier d'origine : {row.original_name}",
        f"Reçu le : {row.received_at}",
        f"Empreinte SHA-256 : {row.sha256}",
        f"Lot : {row.id}",
        f"Mis en quarantaine le : {now_iso()}",
        "",
        ADVICE.format(id=row.id),
        "",
    ])


def quarantine_input(config: Config, store: Store, row: InputRow, reason: str) -> Path:
    """Move an input's spooled file to quarantine/ with its reason file; journal it."""
    config.quarantine_dir.mkdir(parents=True, exist_ok=True)
    target = config.quarantine_dir / f"{row.id}-{safe_name(row.original_name, 150)}"
    spooled = Path(row.spool_path)
    # Reason first: a quarantined file is never without its explanation.
    reason_file = target.with_name(target.name + ".reason.txt")
    reason_file.write_text(reason_text(row, reason), encoding="utf-8")
    if spooled.exists() and spooled != target:
        os.replace(spooled, target)
    store.set_input_state(row.id, "quarantined", event="quarantined", reason=reason, spool_path=str(target),
                          reason_file=str(reason_file))
    logging.getLogger("mailroom").warning("%s (%s) quarantined: %s", row.id, row.original_name, reason)
    return target


def release_input(config: Config, store: Store, row: InputRow) -> None:
    """`mailroom retry`: put a quarantined input back in the queue, from its original bytes."""
    quarantined = Path(row.spool_path)
    config.spool_dir.mkdir(parents=True, exist_ok=True)
    target = config.spool_dir / f"{row.id}{Path(row.original_name).suffix.lower()[:8]}"
    if quarantined.exists():
        os.replace(quarantined, target)
    elif not target.exists():
        raise FileNotFoundError(f"le fichier du lot {row.id} n'est plus en quarantaine ({quarantined})")
    quarantined.with_name(quarantined.name + ".reason.txt").unlink(missing_ok=True)
    store.set_input_state(row.id, "received", event="retried", spool_path=str(target))
