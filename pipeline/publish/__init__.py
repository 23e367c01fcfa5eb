"""Publication targets. Only this package writes to a destination.

A publisher takes a routed document and its searchable PDF and makes it appear,
exactly once, in the category's library and folder. Both publishers share the
naming rules below so that a letter has the same name locally and on SharePoint.
"""
from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Protocol

from ..config import Category, Config
from ..records import Document, PublishResult


from ..errors import PublishError  # noqa: E402,F401  (re-exported: publication failed, maybe transiently)


class Publisher(Protocol):
    def publish(self, doc: Document, pdf: Path, category: Category) -> PublishResult: ...

    def check(self) -> list[str]:
        """Problems with the target, in words; empty when everything is ready."""
        ...


def received_datetime(doc: Document) -> datetime:
    return datetime.fromisoformat(doc.received_at)


def folder_for(doc: Document, category: Category) -> str:
    received = received_datetime(doc)
    return category.folder.format(year=f"{received:%Y}", month=f"{received:%m}", day=f"{received:%d}",
                                  category=category.id)


def document_title(doc: Document, category: Category, pattern: str) -> str:
    """A readable base name such as '2026-03-12 Routes départementales - Dupont Jean' (no extension)."""
    sender = (doc.fields.get("sender") or "").strip() or "expéditeur inconnu"
    title = pattern.format(date=f"{received_datetime(doc):%Y-%m-%d}", label=category.label,
                           category=category.id, sender=sender, id=doc.id)
    return " ".join(title.split())


FORBIDDEN = re.compile(r'["*:<>?/\\|#%{}~&\x00-\x1f]')
RESERVED = {"con", "prn", "aux", "nul", "desktop.ini", ".lock",
            *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def safe_name(name: str, max_length: int = 120) -> str:
    """A file or folder name that SharePoint and every local file system accept."""
    name = unicodedata.normalize("NFC", name)
    name = FORBIDDEN.sub("-", name).replace("_vti_", "-vti-")
    name = re.sub(r"\s+", " ", name).strip(" .")
    if name.startswith("~$"):
        name = name[2:]
    if len(name) > max_length:
        name = name[:max_length].rstrip(" .")
    if not name or name.lower() in RESERVED or name.split(".")[0].lower() in RESERVED:
        name = f"_{name}" if name else "document"
    return name


def make_publisher(config: Config) -> Publisher:
    if config.publish.backend == "sharepoint":
        from .sharepoint import SharePointPublisher
        return SharePointPublisher(config)
    from .local import LocalPublisher
    return LocalPublisher(config)
