"""Which way up a page is: turn it only on strong evidence that agrees, never on a hunch.

A wrong turn is far worse than none (the stored PDF shows the page upside down
and its text layer is garbage), so the page as scanned is the default:

1. Cheap evidence first: when the text lines run along the page and its ascenders
   outweigh its descenders, it is upright — no Tesseract call at all.
2. Otherwise Tesseract's OSD proposes a turn; a proposal is only a candidate. Lines that
   run across the page make both sideways turns candidates, and level lines whose ink
   leans upside down make the half turn one, when OSD is unsure or says « upright »
   (it is unsure of, or fooled by, faded typewriting and carbon copies).
3. The candidate is kept only if a band of the page's own text, read after the
   turn, reads clearly better (quality.py: confident dictionary words) than the
   same kind of band read as scanned. Sparse pages, lists, tables, stamps and logos
   stay as scanned unless both agree.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import geometry, quality, tesseract

OSD_TRUSTED = 2.0    # OSD confidence from which its verdict is a candidate
UPRIGHT_SURE = 0.2   # ascender/descender balance beyond which level lines are upright, no question asked
READ_GAIN = 1.3      # the turned band must read this much better than the band as scanned…
READ_MARGIN = 8.0    # …and by this many points of quality at least
READ_FLOOR = 35.0    # a turned band reading worse than this proves nothing


def rotate(array: np.ndarray, clockwise: int) -> np.ndarray:
    return np.ascontiguousarray(np.rot90(array, k=-(clockwise // 90))) if clockwise % 360 else array


def text_band(gray: np.ndarray) -> np.ndarray:
    """The horizontal band of the page with the most ink (about eight lines), to test which way up reads."""
    height = gray.shape[0]
    band = max(64, height // 8)
    ink = (gray < 128).sum(axis=1).astype(np.float64)
    if ink.sum() == 0 or height <= band:
        return gray
    window = np.convolve(ink, np.ones(band), mode="valid")
    top = int(window.argmax())
    return gray[top:top + band]


def _band_reading(gray: np.ndarray, turn: int, dpi: float, languages: str, timeout: float, workdir: Path,
                  name: str) -> float:
    words = tesseract.quick_words(text_band(rotate(gray, turn)), dpi, languages, timeout, workdir, name)
    measured = quality.measure(words)
    # A handful of characters is no reading: scale down what rests on less than ~40 characters.
    return measured.score * min(1.0, measured.characters / 40)


def upright_turn(gray: np.ndarray, dpi: float, quarter: int, languages: str, timeout: float, workdir: Path,
                 stem: str = "page") -> int:
    """Clockwise quarter turn (0, 90, 180, 270) that makes the page upright; 0 unless the evidence agrees.

    ``quarter`` is the line axis from the ink profiles (0: lines along the page, 90: across it).
    """
    leaning = geometry.upright_score(gray, dpi) if quarter == 0 else 0.0
    if leaning >= UPRIGHT_SURE:
        return 0
    timeout = min(60.0, timeout)
    path = tesseract.write_input(gray, workdir / f"{stem}-osd")
    try:
        verdict = tesseract.osd(path, dpi, timeout)
    finally:
        path.unlink(missing_ok=True)
    if verdict is not None and verdict[1] >= OSD_TRUSTED and verdict[0] != 0:
        # OSD tells sideways from level far better than it tells 90 from 270: read both sideways turns.
        candidates = (90, 270) if verdict[0] in (90, 270) else (180,)
    elif quarter == 90:
        # OSD unsure (faded carbon copies) but the ink's lines run across the page: read both sideways turns.
        candidates = (90, 270)
    elif leaning < 0:
        # OSD unsure, or sure of « upright » as faded typewriting fools it into, but the ink leans upside
        # down (more of it below the x-height band than above): the page's own text tells.
        candidates = (180,)
    else:
        return 0
    readings = {turn: _band_reading(gray, turn, dpi, languages, timeout, workdir, f"{stem}-q{turn}")
                for turn in candidates}
    candidate = max(readings, key=readings.get)
    if readings[candidate] < READ_FLOOR:
        return 0
    as_scanned = _band_reading(gray, 0, dpi, languages, timeout, workdir, f"{stem}-q0")
    if readings[candidate] >= max(as_scanned * READ_GAIN, as_scanned + READ_MARGIN):
        return candidate
    return 0
