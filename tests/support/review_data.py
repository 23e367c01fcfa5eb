"""Test data for the review app: a home with users and letters waiting for review.

Documents are made the way the pipeline leaves them (an input row, a searchable
PDF in the work folder, state "review"), so the app and the runner see real data.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from pipeline.config import Config, load_config
from pipeline.records import REVIEW, Candidate, Document
from pipeline.store import Store

PASSWORDS = {"claire": "motdepasse-superviseur", "victor": "motdepasse-lecteur",
             "sophie": "motdepasse-enfance-rsa", "alain": "motdepasse-administrateur"}
SCOPED = ("enfance-famille", "rsa-insertion")  # sophie's directions: children and social aid only
# Cheap Argon2 parameters for test accounts only: the hash carries its parameters, so logging in stays
# fast in tests while `mailroom users add` keeps the library's slow defaults.
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def make_pdf(path: Path, lines: list[str], pages: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet = canvas.Canvas(str(path), pagesize=A4)
    for number in range(1, pages + 1):
        y = 780
        for line in lines + [f"Page {number}/{pages}"]:
            sheet.drawString(72, y, line)
            y -= 18
        sheet.showPage()
    sheet.save()
    return path


def make_home(home: Path) -> tuple[Config, Store]:
    config = load_config(home)
    store = Store(config.database_path)
    store.add_user("claire", FAST_HASHER.hash(PASSWORDS["claire"]), "supervisor")
    store.add_user("victor", FAST_HASHER.hash(PASSWORDS["victor"]), "viewer")
    store.add_user("sophie", FAST_HASHER.hash(PASSWORDS["sophie"]), "supervisor", list(SCOPED))
    store.add_user("alain", FAST_HASHER.hash(PASSWORDS["alain"]), "admin")
    return config, store


def add_review_document(config: Config, store: Store, name: str, text: str, guesses: list[tuple[str, float]],
                        hours_ago: float = 1.0, urgent: bool = False, pages: int = 1,
                        state: str = REVIEW, sender: str = "Jean Dupont") -> Document:
    """One letter waiting for a supervisor (or in another state, to test refusals)."""
    received = (datetime.now().astimezone() - timedelta(hours=hours_ago)).isoformat(timespec="seconds")
    sha = hashlib.sha256(f"{name}{text}".encode()).hexdigest()
    row = store.add_input(sha, f"{name}.pdf", str(config.spool_dir / f"{name}.pdf"), received)
    pdf = make_pdf(config.work_dir / "documents" / f"{row.id}-1.pdf", text.splitlines(), pages)
    doc = Document(
        id=f"{row.id}-1", input_id=row.id, source=f"{name}.pdf", source_sha256=sha,
        source_pages=list(range(1, pages + 1)), received_at=received, batch=row.id, state=state,
        pdf=str(pdf), text=text, ocr_confidence=71.5,
        category=guesses[0][0] if guesses else None, confidence=guesses[0][1] if guesses else None,
        candidates=[Candidate(c, p) for c, p in guesses], route_source="model",
        fields={"sender": sender, "letter_date": "2026-03-12",
                "references": [{"kind": "allocataire", "value": "1234567"}], "urgent": urgent,
                "urgent_reasons": ["mise en demeure"] if urgent else []},
        review_reasons=["confiance du classement 52 % sous le seuil de 80 %"],
    )
    store.save_document(doc, event="classified")
    return doc
