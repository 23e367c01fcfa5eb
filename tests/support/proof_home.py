"""A home with published, timestamped letters, made without OCR: the reliable-copy tests start here."""
from __future__ import annotations

import hashlib
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pikepdf
from PIL import Image

from pipeline.config import DEFAULT_CONFIG, Config, load_config
from pipeline.records import CLASSIFIED, OCR_DONE, REVIEW, ROUTED, SPLIT, Document
from pipeline.service import MailroomService
from pipeline.store import Store

from .tsa import LocalTsa


def trace_config_text(tsa: LocalTsa | None, extra: str = "") -> str:
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    text = text.replace("enabled = false             # true:", "enabled = true             # true:")
    if tsa is not None:
        text = text.replace('tsa_url = ""', f'tsa_url = "{tsa.url}"')
        text = text.replace('tsa_ca_file = ""', f'tsa_ca_file = "{tsa.ca_file}"')
    return text + "\n" + extra


def scan_pdf(path: Path, label: str, dpi: int = 200) -> Path:
    """A one-page 'scan': a gray image at ``dpi`` wrapped in a PDF page of A4 size."""
    image = Image.new("L", (int(8.27 * dpi), int(11.69 * dpi)), 255)
    image.paste(0, (100, 100, 400, 100 + 5 * (1 + sum(map(ord, label)) % 7)))  # differs per letter
    image.save(path, "PDF", resolution=dpi)
    return path


@dataclass
class ProofHome:
    home: Path
    config: Config
    store: Store
    documents: list[Document]

    def reload(self) -> "ProofHome":
        self.config = load_config(self.home)
        return self


def publish_letters(home: Path, tsa: LocalTsa | None, count: int = 2, extra: str = "",
                    received_at: str = "2026-03-03T09:00:00+01:00", category: str = "routes",
                    first_input: int = 1, review: bool = False) -> ProofHome:
    """``count`` one-letter inputs, each scanned, split, routed and published by the coordinator
    (``review``: left waiting for a supervisor instead)."""
    if not (home / "mailroom.toml").exists():
        (home / "mailroom.toml").write_text(trace_config_text(tsa, extra), encoding="utf-8")
    config = load_config(home)
    store = Store(config.database_path)
    service = MailroomService(config, store, workers=1)
    published = []
    for number in range(first_input, first_input + count):
        scan = scan_pdf(home / f"scan{number}.pdf", f"letter {number}")
        spooled = config.spool_dir / scan.name
        spooled.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(scan, spooled)
        sha = hashlib.sha256(spooled.read_bytes()).hexdigest()
        row = store.add_input(sha, scan.name, str(spooled), received_at, size=spooled.stat().st_size)
        work = config.work_dir / f"{row.id}-01"
        work.mkdir(parents=True, exist_ok=True)
        pdf = work / f"{row.id}-01.pdf"
        with pikepdf.open(spooled) as source:  # the 'searchable PDF': the scan itself, as OCR would keep it
            source.save(pdf)
        doc = Document(id=f"{row.id}-01", input_id=row.id, source=scan.name, source_sha256=sha, source_pages=[1],
                       received_at=received_at, batch=row.id, pdf=str(pdf))
        store.create_documents(row.id, [doc])
        doc = store.transition(doc.id, SPLIT, OCR_DONE, "ocr-done", document=doc).doc
        doc.category, doc.confidence, doc.route_source = category, 0.97, "model"
        doc.fields = {"sender": f"Mairie numéro {number}", "letter_date": "2026-03-01"}
        doc = store.transition(doc.id, OCR_DONE, CLASSIFIED, "classified", document=doc).doc
        if review:  # it waits for a supervisor
            published.append(store.transition(doc.id, CLASSIFIED, REVIEW, "review", document=doc).doc)
            continue
        doc = store.transition(doc.id, CLASSIFIED, ROUTED, "routed", document=doc,
                               library=config.categories[category].library).doc
        published.append(service.coordinator.publish(doc))
    service.close()
    return ProofHome(home, config, store, published)


def attack(database: Path, sql: str) -> None:
    """What someone holding the database file can do: drop the append-only triggers, then write."""
    db = sqlite3.connect(database)
    db.execute("DROP TRIGGER IF EXISTS events_append_only_update")
    db.execute("DROP TRIGGER IF EXISTS events_append_only_delete")
    db.execute(sql)
    db.commit()
    db.close()
