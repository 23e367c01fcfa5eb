"""Is a page mostly handwriting? Then its recognised text is not to be trusted, and supervisors must read the image.

Print and typewriting set letters of a few fixed heights (x-height, ascenders,
capitals) apart from one another; a hand joins letters into strokes whose
heights vary from word to word (loops, flourishes, slanting lines). Measured
on the text-sized ink blobs of the page's core (edges, folds and punch holes
excluded), the spread of their heights — both its plain and its robust
estimate — is about 0.2 on typed pages and above 0.5 on a cursive letter. A page
is called handwritten only when that shape evidence *and* a weak reading agree:
Tesseract, trained on print, reads cursive with low confidence and few French words.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .clean import flatten_background
from .quality import Quality

WORK_DPI = 150
SPREAD = 0.45          # std/mean of the blob heights above which the page looks written by hand…
ROBUST_SPREAD = 0.33   # …and the same, robustly (MAD/median), so a few folds or stains cannot fake it
WEAK_SCORE = 65.0      # a reading below this quality (quality.py) is weak
MIN_BLOBS = 40         # fewer text-sized blobs: too little writing to judge


@dataclass(frozen=True)
class Shape:
    blobs: int
    spread: float
    robust_spread: float

    @property
    def cursive(self) -> bool:
        return self.blobs >= MIN_BLOBS and self.spread >= SPREAD and self.robust_spread >= ROBUST_SPREAD


def shape(gray: np.ndarray, dpi: float) -> Shape:
    """Height spread of the page's text-sized ink blobs."""
    scale = min(1.0, WORK_DPI / dpi)
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
    work_dpi = dpi * scale
    flat = flatten_background(small, work_dpi)
    _, binary = cv2.threshold(flat, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    _, _, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    x, y = stats[1:, cv2.CC_STAT_LEFT], stats[1:, cv2.CC_STAT_TOP]
    w, h, area = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_AREA]
    height, width = binary.shape
    mm = work_dpi / 25.4
    inside = (x > 0.06 * width) & (x + w < 0.94 * width) & (y > 0.05 * height) & (y + h < 0.95 * height)
    text_sized = inside & (h >= 1.2 * mm) & (h <= 10 * mm) & (w <= 60 * mm) & (area >= 8)
    heights = h[text_sized].astype(np.float64)
    if heights.size < MIN_BLOBS:
        return Shape(int(heights.size), 0.0, 0.0)
    median = float(np.median(heights))
    return Shape(int(heights.size), float(heights.std() / heights.mean()),
                 float(1.4826 * np.median(np.abs(heights - median)) / median))


def is_handwritten(page_shape: Shape, reading: Quality) -> bool:
    return page_shape.cursive and reading.score < WEAK_SCORE
