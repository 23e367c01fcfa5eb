"""Quarantine: where a scan that cannot be processed waits, with a reason a clerk can act on.

Nothing is deleted: the file is moved (never copied then removed) next to a
``<name>.reason.txt``, and the journal records why.
"""
from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from .config import Config
from .publish import safe_name
from .errors import MailroomError
from .records import FINAL_STATES, QUARANTINED, REJECTED, Document, InputState
from .registration import steps as registration
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


def quarantine_input(config: Config, store: Store, row: InputRow, problem: MailroomError) -> Path:
    """Move an input's spooled file to quarantine/ with its reason file; journal the problem's code."""
    config.quarantine_dir.mkdir(parents=True, exist_ok=True)
    target = config.quarantine_dir / f"{row.id}-{safe_name(row.original_name, 150)}"
    spooled = Path(row.spool_path)
    reason = str(problem)  # the words, made here from the code (the reason file and `status` show them)
    # Reason first: a quarantined file is never without its explanation.
    reason_file = target.with_name(target.name + ".reason.txt")
    reason_file.write_text(reason_text(row, reason), encoding="utf-8")
    if spooled.exists() and spooled != target:
        os.replace(spooled, target)
    store.set_input_state(row.id, "quarantined", event="quarantined", reason=reason, spool_path=str(target),
                          reason_file=str(reason_file), code=problem.code, params=getattr(problem, "params", {}))
    registration.register(config, store)  # a scan quarantined before its split keeps a number; the next wait no more
    logging.getLogger("mailroom").warning("%s (%s) quarantined: %s", row.id, row.original_name, problem.code)
    return target


def quarantine_documents(store: Store, input_id: str, problem: MailroomError) -> None:
    """Stop every unsettled document of an input where it is; `mailroom retry` resumes it from there."""
    for doc in store.documents(input_id=input_id):
        if doc.state not in FINAL_STATES:
            doc.resume_state, doc.reason = doc.state, str(problem)
            store.transition(doc.id, doc.state, QUARANTINED, "quarantined", document=doc, reason=doc.reason,
                             code=problem.code)


def release_input(config: Config, store: Store, row: InputRow) -> None:
    """`mailroom retry`: put a quarantined input back in the queue, from its original bytes. Its documents,
    if it has some, resume from the last stage they completed; the stale reason is cleared."""
    quarantined = Path(row.spool_path)
    config.spool_dir.mkdir(parents=True, exist_ok=True)
    target = config.spool_dir / f"{row.id}{Path(row.original_name).suffix.lower()[:8]}"
    if quarantined.exists():
        os.replace(quarantined, target)
    elif not target.exists():
        raise FileNotFoundError(f"le fichier du lot {row.id} n'est plus en quarantaine ({quarantined})")
    quarantined.with_name(quarantined.name + ".reason.txt").unlink(missing_ok=True)
    documents = store.documents(input_id=row.id)
    for doc in documents:
        if doc.state == QUARANTINED and doc.resume_state:
            resume, doc.resume_state, doc.reason = doc.resume_state, None, None
            store.transition(doc.id, QUARANTINED, resume, "retried", "cli", document=doc)
    state = InputState.SPLIT if documents else InputState.RECEIVED
    store.transition_input(row.id, InputState.QUARANTINED, state, "retried", "cli", reason=None,
                           spool_path=str(target))


def rejected_copy(config: Config, doc: Document) -> Path:
    return config.quarantine_dir / f"{doc.id}.pdf"


def quarantine_document(config: Config, doc: Document, actor: str, at: str) -> Path:
    """A document a supervisor rejected (not mail): a copy of its PDF beside a reason file, in quarantine/.
    Idempotent: `complete_rejections` calls it again for a rejection whose files a crash kept from being written."""
    config.quarantine_dir.mkdir(parents=True, exist_ok=True)
    target = rejected_copy(config, doc)
    if doc.pdf and Path(doc.pdf).exists() and not target.exists():
        partial = target.with_name(target.name + ".part")
        shutil.copyfile(doc.pdf, partial)
        os.replace(partial, target)
    reason_file = target.with_name(target.name + ".reason.txt")
    if not reason_file.exists():
        reason_file.write_text(
            f"Document {doc.id} rejeté par {actor} le {at}.\n\nRaison : {doc.reason}\n\n"
            f"Fichier d'origine : {doc.source} (pages {doc.source_pages})\nIdentifiant : {doc.uid}\n",
            encoding="utf-8")
    logging.getLogger("mailroom").warning("%s (%s) rejected by %s: %s", doc.id, doc.source, actor, doc.reason)
    return target


def complete_rejections(config: Config, store: Store) -> list[str]:
    """After a crash: a rejection is journaled in the same transaction as its move, its copy and reason file
    are written just after; those a crash kept from being written are written now, from the journal."""
    completed = []
    for doc in store.documents(REJECTED):
        target = rejected_copy(config, doc)
        if target.exists() and target.with_name(target.name + ".reason.txt").exists():
            continue
        by, at = store.last_move(doc.id, REJECTED)
        quarantine_document(config, doc, by or "?", at or now_iso())
        completed.append(doc.id)
    return completed
