"""Helpers for the registration tests: a home whose categories acknowledge, documents as the runner makes them,
and a local SMTP sink (aiosmtpd on 127.0.0.1, a free port)."""
from __future__ import annotations

import socket
from email import message_from_bytes, policy
from pathlib import Path

from pipeline.config import load_config
from pipeline.records import Document
from pipeline.store import Store

SERVICE = {
    "service_name": "Direction de l'insertion — service RSA",
    "service_address": "Hôtel du Département\n2 rue de la Préfecture\n76000 Rouen",
    "service_phone": "02 35 00 00 00",
    "service_email": "rsa@departement.example.fr",
}

LETTER = """Jeanne Martin
12 rue des Lilas
76100 Rouen
jeanne.martin@example.org

Rouen, le 12 mai 2026

Objet : demande de révision de mon RSA

Madame, Monsieur,
Je vous prie de bien vouloir réexaminer mes droits, joignant les pièces demandées
par l'agent (contact : agent.dupont@departement.example.fr).
Cordialement,
Jeanne Martin
"""


def write_config(home: Path, smtp_port: int | None = None, **ack) -> Path:
    ack_lines = [f"{key} = {value!r}".replace("'", '"') if isinstance(value, str) else f"{key} = {str(value).lower()}"
                 for key, value in ack.items()]
    if smtp_port:
        ack_lines += [f'smtp_host = "127.0.0.1"', f"smtp_port = {smtp_port}", "smtp_starttls = false",
                      'from = "courrier@departement.example.fr"']
    service = "\n".join(f'{k} = """{v}"""' for k, v in SERVICE.items())
    text = f"""
[registration]
organisation = "Département de Seine-Maritime"
[acknowledgement]
{chr(10).join(ack_lines)}
[categories.rsa-insertion]
label = "RSA et insertion"
library = "RSA-Insertion"
acknowledge = "svr"
{service}
[categories.routes]
label = "Routes départementales"
library = "Routes"
acknowledge = "sva"
{service}
[categories.colleges]
label = "Collèges"
library = "Colleges"
acknowledge = "simple"
{service}
[categories.factures]
label = "Factures"
library = "Factures"
[categories.autre-administration]
label = "Autre administration – à transmettre"
library = "Transmis"
always_review = true
transmit = true
[transmission.bodies.caf]
name = "Caisse d'allocations familiales de la Seine-Maritime"
address = "12 rue de la CAF\\n76000 Rouen"
email = "courrier@caf76.example.fr"
[categories.autre]
label = "Autre (à qualifier)"
library = "A-qualifier"
always_review = true
"""
    path = home / "mailroom.toml"
    path.write_text(text, encoding="utf-8")
    return path


def add_input(store: Store, name: str, received_at: str, documents: int = 1, text: str = LETTER,
              category: str | None = None, state: str = "split") -> list[Document]:
    """An input claimed and split into ``documents`` letters, as the runner leaves them."""
    row = store.add_input(f"sha-{name}", name, f"/spool/{name}", received_at)
    docs = [Document(id=f"{row.id}-{n:02d}", input_id=row.id, source=name, source_sha256=f"sha-{name}",
                     source_pages=[n], received_at=received_at, batch=row.id, text=text, category=category,
                     fields={"sender": "Jeanne Martin", "emails": ["jeanne.martin@example.org",
                                                                 "agent.dupont@departement.example.fr"],
                             "letter_date": "2026-05-12"})
            for n in range(1, documents + 1)]
    if state == "split":
        store.create_documents(row.id, docs)
    return docs


PATH_TO = {"published": [("ocr-done", "ocr-done"), ("classified", "classified"), ("routed", "routed"),
                         ("published", "published")],
           "review": [("ocr-done", "ocr-done"), ("classified", "classified"), ("review", "review")]}


def move_to(store: Store, doc: Document, state: str) -> Document:
    """Take a split document along the lifecycle's allowed moves to ``state`` (published or review)."""
    for to_state, event in PATH_TO[state]:
        result = store.transition(doc.id, doc.state, to_state, event, document=doc)
        assert result.ok, result
        doc = result.doc
    return store.get_document(doc.id)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpSink:
    """aiosmtpd on 127.0.0.1 keeping every message it accepts."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.messages.append(message_from_bytes(envelope.content, policy=policy.default))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()


def config_and_store(home: Path, smtp_port: int | None = None, **ack):
    config = load_config(home, write_config(home, smtp_port, **ack))
    return config, Store(config.database_path)
