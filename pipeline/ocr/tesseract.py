"""Tesseract calls: one recognition pass per page, in hOCR, gives the text layer and the confidences.

hOCR carries every word's box and confidence and every line's baseline: the
invisible text layer (textlayer.py) and the confidences come from the same pass. Tesseract
is single-threaded here (OMP_THREAD_LIMIT=1): the runner parallelises pages.
"""
from __future__ import annotations

import csv
import io
import os
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytesseract

from . import textlayer

os.environ["OMP_THREAD_LIMIT"] = "1"  # inherited by every tesseract child process


from ..errors import TesseractFailed  # noqa: E402,F401  (re-exported)


@dataclass
class Recognition:
    """One page's words with their boxes, baselines and confidences (from Tesseract's hOCR)."""

    lines: list[textlayer.Line] = field(default_factory=list)

    @property
    def words(self) -> list[textlayer.Word]:
        return [word for line in self.lines for word in line.words]

    @property
    def confidence(self) -> float | None:
        scores = [w.confidence for w in self.words]
        return sum(scores) / len(scores) if scores else None

    @property
    def text(self) -> str:
        return textlayer.plain_text(self.lines)


def write_input(gray: np.ndarray, path: Path) -> Path:
    """PGM/PBM: the fastest format for Tesseract to read, and lossless."""
    binary = gray.dtype == np.uint8 and np.isin(np.unique(gray[:: 7, :: 7]), (0, 255)).all()
    path = path.with_suffix(".pbm" if binary else ".pgm")
    ok = cv2.imwrite(str(path), gray)
    if not ok:
        raise OSError(f"cannot write {path}")
    return path


def parse_tsv(tsv: str) -> list[tuple[str, float]]:
    """(word, confidence) pairs of Tesseract's TSV output."""
    words = []
    reader = csv.reader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE)
    next(reader, None)
    for row in reader:
        if len(row) < 12 or row[0] != "5":
            continue
        text = row[11].strip()
        confidence = float(row[10])
        if text and confidence >= 0:
            words.append((text, confidence))
    return words


def _failure(error: Exception | None, timeout: float, tries: int) -> TesseractFailed:
    """What went wrong, as a code and its facts (the words are in messages.py)."""
    if isinstance(error, RuntimeError) and "timeout" in str(error).lower():
        return TesseractFailed("tesseract-timeout", timeout=timeout, tries=tries)
    if isinstance(error, pytesseract.TesseractNotFoundError):
        return TesseractFailed("tesseract-missing")
    message = str(error).strip().splitlines()
    return TesseractFailed("tesseract-failed", error=message[-1][:160] if message else error.__class__.__name__,
                           tries=tries)


def recognise(image_path: Path, dpi: float, languages: str, timeout: float, retries: int,
              psm: int = 3) -> Recognition:
    """One Tesseract pass → hOCR (words, boxes, baselines, confidences). Retries, then raises
    TesseractFailed: a page is never silently left without text."""
    base = image_path.with_suffix("")
    config = f"--psm {psm} --dpi {int(round(dpi))} -c tessedit_create_hocr=1 -c hocr_char_boxes=0"
    last: Exception | None = None
    for _ in range(max(0, retries) + 1):
        output = base.with_suffix(".hocr")
        output.unlink(missing_ok=True)
        try:
            pytesseract.pytesseract.run_tesseract(str(image_path), str(base), "", languages, config=config,
                                                  timeout=timeout)
            hocr = output.read_text("utf-8")
            if "</html>" not in hocr[-200:]:
                raise RuntimeError("sortie hOCR incomplète")
            return Recognition(textlayer.parse_hocr(hocr))
        except (pytesseract.TesseractError, RuntimeError, OSError, UnicodeDecodeError, ET.ParseError) as error:
            last = error
    raise _failure(last, timeout, max(0, retries) + 1)


OSD_ROTATE = re.compile(r"Rotate:\s*(\d+)")
OSD_CONFIDENCE = re.compile(r"Orientation confidence:\s*([\d.]+)")


def osd(image_path: Path, dpi: float, timeout: float) -> tuple[int, float] | None:
    """Tesseract orientation detection → (clockwise turn that makes the page upright, confidence), or None."""
    try:
        out = pytesseract.run_and_get_output(str(image_path), "osd", config=f"--psm 0 --dpi {int(round(dpi))}",
                                             timeout=timeout)
    except (pytesseract.TesseractError, RuntimeError, OSError):
        return None  # too little text for OSD: the caller falls back
    rotate, confidence = OSD_ROTATE.search(out), OSD_CONFIDENCE.search(out)
    if not rotate or not confidence:
        return None
    return int(rotate.group(1)) % 360, float(confidence.group(1))


def quick_words(gray: np.ndarray, dpi: float, languages: str, timeout: float, workdir: Path,
                name: str) -> list[tuple[str, float]]:
    """(word, confidence) pairs of a quick block reading of a small crop (psm 6, TSV); none on failure."""
    path = write_input(gray, workdir / name)
    try:
        out = pytesseract.run_and_get_output(str(path), "tsv", lang=languages,
                                             config=f"--psm 6 --dpi {int(round(dpi))} -c tessedit_create_tsv=1",
                                             timeout=timeout)
    except (pytesseract.TesseractError, RuntimeError, OSError):
        return []
    finally:
        path.unlink(missing_ok=True)
    return parse_tsv(out)
