"""Page images for the review pages, rendered on demand from the searchable PDF.

Only a document id and a page number ever come from the request; the PDF path
comes from the store. Images are cached under work/previews/<id>/ and rendered
into a temporary name first, so that two browsers asking at once never see a
half-written file.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

from ..config import Config
from ..records import Document

SIZES = {"vignette": 24, "page": 100, "zoom": 200}  # dots per inch
SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
RENDER_TIMEOUT = 60

# A queue page asks for dozens of thumbnails at once; render a couple at a time, not one per request thread.
_renders = threading.BoundedSemaphore(max(1, min(2, os.cpu_count() or 1)))
_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


class PreviewUnavailable(LookupError):
    """No image can be made for this page (no PDF yet, page out of range, renderer failed)."""


def _lock_for(key: str) -> threading.Lock:
    with _locks_guard:
        if len(_locks) > 1000:
            _locks.clear()
        return _locks.setdefault(key, threading.Lock())


def preview_path(config: Config, doc: Document, page: int, size: str) -> Path:
    if not SAFE_ID.match(doc.id) or ".." in doc.id:
        raise PreviewUnavailable("identifiant de document inattendu")
    return config.work_dir / "previews" / doc.id / f"{page}-{size}.png"


def page_image(config: Config, doc: Document, page: int, size: str) -> Path:
    """The PNG of one page (1-based) at one of SIZES, rendered once and cached."""
    if size not in SIZES:
        raise PreviewUnavailable("taille inconnue")
    if not 1 <= page <= max(doc.pages, 1):
        raise PreviewUnavailable("page hors du document")
    if not doc.pdf or not Path(doc.pdf).is_file():
        raise PreviewUnavailable("le PDF du document n'est pas disponible")
    pdf = Path(doc.pdf)
    target = preview_path(config, doc, page, size)
    with _lock_for(str(target)):
        if target.is_file() and target.stat().st_mtime >= pdf.stat().st_mtime:
            return target
        with _renders:
            _render(pdf, page, size, target)
    return target


def _render(pdf: Path, page: int, size: str, target: Path) -> None:
    """pdftoppm into a scratch folder beside the cache, then one atomic rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".render-", ignore_cleanup_errors=True) as scratch:
        prefix = Path(scratch) / "page"
        try:
            subprocess.run(
                ["pdftoppm", "-png", "-r", str(SIZES[size]), "-f", str(page), "-l", str(page),
                 "-singlefile", str(pdf), str(prefix)],
                check=True, capture_output=True, timeout=RENDER_TIMEOUT)
        except (subprocess.SubprocessError, OSError) as error:
            raise PreviewUnavailable(f"rendu impossible : {error}") from error
        rendered = prefix.with_suffix(".png")
        if not rendered.is_file():
            raise PreviewUnavailable("page hors du document")
        try:
            os.replace(rendered, target)
        except OSError as error:  # the cache was pruned meanwhile
            raise PreviewUnavailable(f"cache d'images indisponible : {error}") from error


def prune(config: Config, keep: set[str]) -> int:
    """Drop the cached images of documents that left the review set; returns how many folders went."""
    root = config.work_dir / "previews"
    if not root.is_dir():
        return 0
    removed = 0
    for folder in root.iterdir():
        if folder.is_dir() and not folder.is_symlink() and folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
