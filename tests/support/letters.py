"""Scanned letters for tests, rendered with the project's own renderer (samples/render.py)."""
from __future__ import annotations

from pathlib import Path

from samples.generate import SCANS_TO_WRITE
from samples.render import render_pages, save_scan_pdf

LETTERS = {name: text for name, text, _ in SCANS_TO_WRITE}


def letter_text(index: int) -> str:
    return list(LETTERS.values())[index % len(LETTERS)]


def write_letter_pdf(path: Path, index: int = 0, dpi: int = 150, seed: int = 0, first_page_only: bool = True,
                     **damage) -> Path:
    """A scan PDF of one of the sample letters; low resolution keeps OCR fast in tests."""
    text = letter_text(index)
    if first_page_only:
        text = text.split("\f")[0]
    pages = render_pages(text, dpi=dpi, seed=seed, **damage)
    if first_page_only:
        pages = pages[:1]
    return save_scan_pdf(pages, path, dpi=dpi)
