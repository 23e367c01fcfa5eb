"""Which image Tesseract reads: the page as scanned first, the cleaned page only when that reading is poor.

Clean-up tuned on one kind of damage harms another (faded typewriter ink loses
strokes to binarisation, « Louvain » becomes « Lourein »), while a plain
Tesseract pass on the scan is a floor nobody should fall under. So:

1. the first reading is of the scan itself, in gray, at its own resolution
   (brought to 300 dpi only outside 250-400 dpi), left to Tesseract's own
   thresholding — unless the page is plainly noisy (sensor noise, JPEG grain:
   clean.noise_level), where the cleaned image is read first;
2. a first reading that is good enough (quality.py: made of dictionary words *and*
   read with assurance) is kept: the extra pass is spent only where it may pay;
3. otherwise the other image is read too, and replaces the first only when its
   measured quality (confident dictionary words over the whole page) is clearly
   better: two readings of nearly the same image differ by a few tenths of a
   percent, so the first stands within one percent.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..config import Config
from . import clean, quality, tesseract

GOOD_ENOUGH = 80.0  # quality from which a first reading is kept without trying the other image…
SURE = 90.0         # …when Tesseract's own confidence is this high too (typewritten pages at 89-90 still
                    # lost 1-2 CER points a cleaned image would have saved)
CLEARLY = 1.01      # the other reading replaces the first only when its quality is this much higher
SCAN, CLEANED = "scan", "cleaned"


@dataclass
class Reading:
    recognition: tesseract.Recognition
    dpi: float                 # resolution of the image that was read (boxes are in its pixels)
    height: int                # its height in pixels
    image: str                 # SCAN or CLEANED
    quality: quality.Quality


def as_scanned(gray: np.ndarray, dpi: float) -> tuple[np.ndarray, float]:
    """The scan as it is, only brought to 300 dpi when its resolution is outside what Tesseract reads well."""
    if clean.MIN_DPI <= dpi <= clean.MAX_DPI:
        return gray, dpi
    factor = clean.RECOGNITION_DPI / dpi
    resized = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC if factor > 1
                         else cv2.INTER_AREA)
    return resized, float(clean.RECOGNITION_DPI)


def _image(kind: str, gray: np.ndarray, dpi: float) -> tuple[np.ndarray, float]:
    return as_scanned(gray, dpi) if kind == SCAN else clean.for_recognition(gray, dpi, binary=False)


def _read(kind: str, gray: np.ndarray, dpi: float, config: Config, scratch: Path) -> Reading:
    image, image_dpi = _image(kind, gray, dpi)
    path = tesseract.write_input(image, scratch / f"read-{kind}")
    height = image.shape[0]
    del image
    try:
        recognition = tesseract.recognise(path, image_dpi, config.ocr.languages, config.ocr.timeout_seconds,
                                          config.ocr.retries)
    finally:
        path.unlink(missing_ok=True)
    measured = quality.measure([(word.text, word.confidence) for word in recognition.words])
    return Reading(recognition, image_dpi, height, kind, measured)


def first_image(gray: np.ndarray) -> str:
    """The scan, unless its paper is visibly noisy: then the cleaned page is the likelier better reading."""
    return CLEANED if clean.noise_level(gray) >= clean.NOISY else SCAN


def read(gray: np.ndarray, dpi: float, config: Config, scratch: Path) -> Reading:
    """The better of at most two readings of the upright, straightened page ``gray``.

    Raises tesseract.TesseractFailed when the first image cannot be read (after the configured
    retries): a Tesseract that times out on one image is not given a second one to time out on."""
    order = [first_image(gray)]
    order.append(CLEANED if order[0] == SCAN else SCAN)
    best = _read(order[0], gray, dpi, config, scratch)  # a failure here, after its retries, is the page's
    if best.quality.score >= GOOD_ENOUGH and best.quality.confidence >= SURE:
        return best
    try:
        other = _read(order[1], gray, dpi, config, scratch)
    except tesseract.TesseractFailed:
        return best  # the first reading stands
    return other if other.quality.better_than(best.quality, margin=(CLEARLY - 1) * best.quality.score) else best
