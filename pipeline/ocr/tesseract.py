"""Tesseract calls: one recognition pass per page giving both the text-only PDF and the word boxes.

Tesseract writes several renderers from one recognition (``pdf`` + ``tsv``), so
the invisible text layer and the confidences come from the same pass. Tesseract
is single-threaded here (OMP_THREAD_LIMIT=1): the runner parallelises pages.
"""
from __future__ import annotations

import csv
import io
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytesseract

os.environ["OMP_THREAD_LIMIT"] = "1"  # inherited by every tesseract child process


class TesseractFailed(Exception):
    """Tesseract did not produce its output; ``reason`` is in French, for the review queue."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass
class Word:
    text: str
    confidence: float
    box: tuple[int, int, int, int]  # left, top, width, height in recognition pixels
    block: int
    paragraph: int
    line: int


@dataclass
class Recognition:
    pdf: bytes                      # text-only PDF page, same size as the image at its dpi
    words: list[Word] = field(default_factory=list)

    @property
    def confidence(self) -> float | None:
        scores = [w.confidence for w in self.words]
        return sum(scores) / len(scores) if scores else None

    @property
    def text(self) -> str:
        """Lines in Tesseract's reading order, a blank line between paragraphs."""
        out: list[str] = []
        previous = None
        for word in self.words:
            key = (word.block, word.paragraph, word.line)
            if previous is None:
                out.append(word.text)
            elif key == previous:
                out[-1] += " " + word.text
            else:
                if key[:2] != previous[:2]:
                    out.append("")
                out.append(word.text)
            previous = key
        return "\n".join(out)


def write_input(gray: np.ndarray, path: Path) -> Path:
    """PGM/PBM: the fastest format for Tesseract to read, and lossless."""
    binary = gray.dtype == np.uint8 and np.isin(np.unique(gray[:: 7, :: 7]), (0, 255)).all()
    path = path.with_suffix(".pbm" if binary else ".pgm")
    ok = cv2.imwrite(str(path), gray)
    if not ok:
        raise OSError(f"cannot write {path}")
    return path


def parse_tsv(tsv: str) -> list[Word]:
    words = []
    reader = csv.reader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE)
    next(reader, None)
    for row in reader:
        if len(row) < 12 or row[0] != "5":
            continue
        text = row[11].strip()
        confidence = float(row[10])
        if not text or confidence < 0:
            continue
        words.append(Word(text, confidence, (int(row[6]), int(row[7]), int(row[8]), int(row[9])),
                          int(row[2]), int(row[3]), int(row[4])))
    return words


def _french_error(error: Exception, timeout: float) -> str:
    if isinstance(error, RuntimeError) and "timeout" in str(error).lower():
        return f"Tesseract n'a pas répondu en {timeout:g} s"
    if isinstance(error, pytesseract.TesseractNotFoundError):
        return "Tesseract n'est pas installé sur le serveur"
    message = str(error).strip().splitlines()
    return "Tesseract a échoué ({})".format(message[-1][:160] if message else error.__class__.__name__)


def recognise(image_path: Path, dpi: float, languages: str, timeout: float, retries: int,
              psm: int = 3) -> Recognition:
    """One Tesseract pass → text-only PDF + TSV. Retries, then raises TesseractFailed (never a silent empty page)."""
    base = image_path.with_suffix("")
    config = (f"--psm {psm} --dpi {int(round(dpi))} -c textonly_pdf=1 -c tessedit_create_tsv=1 "
              "-c tessedit_create_pdf=1")
    last: Exception | None = None
    for _ in range(max(0, retries) + 1):
        for suffix in (".pdf", ".tsv"):
            base.with_suffix(suffix).unlink(missing_ok=True)
        try:
            pytesseract.pytesseract.run_tesseract(str(image_path), str(base), "", languages, config=config, timeout=timeout)
            pdf = base.with_suffix(".pdf").read_bytes()
            tsv = base.with_suffix(".tsv").read_text("utf-8")
            if not pdf.startswith(b"%PDF") or b"%%EOF" not in pdf[-64:]:
                raise RuntimeError("sortie PDF incomplète")
            return Recognition(pdf, parse_tsv(tsv))
        except (pytesseract.TesseractError, RuntimeError, OSError, UnicodeDecodeError) as error:
            last = error
    plural = "s" if retries else ""
    raise TesseractFailed(f"{_french_error(last, timeout)} après {max(0, retries) + 1} essai{plural}")


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


def quick_confidence(gray: np.ndarray, dpi: float, languages: str, timeout: float, workdir: Path, name: str) -> float:
    """Mean word confidence × word share of a small crop: which way up reads better."""
    path = write_input(gray, workdir / name)
    try:
        out = pytesseract.run_and_get_output(str(path), "tsv", lang=languages,
                                             config=f"--psm 6 --dpi {int(round(dpi))}", timeout=timeout)
    except (pytesseract.TesseractError, RuntimeError, OSError):
        return 0.0
    finally:
        path.unlink(missing_ok=True)
    words = parse_tsv(out)
    good = [w for w in words if sum(c.isalpha() for c in w.text) >= 2]
    if not good:
        return 0.0
    return sum(w.confidence for w in good) / len(good) * min(1.0, len(good) / 10)
