"""Blank-page detection for duplex backs.

A raw "share of dark pixels" is fooled both ways: scanner noise, dust, dark
borders, punch holes and recto bleed-through add ink to an empty back, while a
page holding one short line of text has less ink than a noisy blank. So ink is
measured only on marks that look like writing:

1. paper is normalised by a local background estimate (a max filter over ~7 mm),
   so shadows and gradients vanish and faint bleed-through stays under the
   contrast threshold;
2. connected marks are kept unless they are specks (dust, noise), touch the
   page edge (borders, shadows), are punch holes, or are isolated thin lines
   (scanner streaks, folds);
3. the page is blank when the kept ink is under ``ink_ratio`` of the page AND
   there is no text line (three or more character-sized marks in a row) AND no
   drawing (one mark of 12 × 4 mm or more: a signature, a stamp): a few words
   or a lone signature are content whatever their ink share. Dropping a page
   that carried something is worse than keeping a dirty back, so the doubt
   goes to "content".

Marks are analysed on a ~100-dpi copy of the ink mask (any ink in a 2×2 block
counts), which keeps 6-pt text and makes the analysis cheap next to OCR.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

CONTRAST = 0.75         # ink is at most 75 % as bright as the paper around it (faded typewriting: ~65 %)
BACKGROUND_MM = 7.0     # wider than any pen or print stroke, narrower than borders
WORK_DPI = 200          # finer scans are reduced first
MARK_DPI = 100          # resolution of the mark analysis
EDGE_MM = 1.5           # marks this close to the image edge are scanner artefacts
SPECK_MM2 = 0.25        # smaller marks are dust or noise (a full stop is ~0.1 mm², and not needed)
DRAWING_MM = (12, 4)    # a mark at least this wide and tall…
DRAWING_MM2 = 5.0       # …with this much ink is a signature or a stamp, whatever the page's ink share


@dataclass(frozen=True)
class InkReport:
    """What the detector saw on one page, for tests and the benchmark."""

    ink_ratio: float          # kept ink / page area
    raw_ratio: float          # every dark pixel / page area, before cleaning
    text_line: bool           # three or more character-sized marks in a row
    marks: int                # marks kept after cleaning
    drawing: bool = False     # a large hand-drawn or printed mark: a signature, a stamp, a sketch


@dataclass(frozen=True)
class InkMask:
    """Ink coverage of a page at ~MARK_DPI: 0 = paper, 255 = a block fully inked."""

    coverage: np.ndarray      # uint8
    dpi: float

    @property
    def any_ink(self) -> np.ndarray:
        return (self.coverage > 0).view(np.uint8)


def image_dpi(image: Image.Image) -> float:
    """The page's resolution; a missing or bogus tag is taken from an A4 page size."""
    dpi = float((image.info.get("dpi") or (0, 0))[0] or 0)
    return dpi if dpi >= 50 else max(image.size) / 11.69


def ink_mask(gray: np.ndarray, dpi: float) -> np.ndarray:
    """Pixels clearly darker than the paper around them (uint8 0/255), at the array's resolution."""
    step = 8
    small = cv2.resize(gray, (max(1, gray.shape[1] // step), max(1, gray.shape[0] // step)),
                       interpolation=cv2.INTER_AREA)
    size = max(3, int(round(BACKGROUND_MM / 25.4 * dpi / step)) | 1)
    paper = cv2.dilate(small, cv2.getStructuringElement(cv2.MORPH_RECT, (size, size)))
    limit = (cv2.medianBlur(paper, 3).astype(np.float32) * CONTRAST).astype(np.uint8)
    limit = cv2.resize(limit, (gray.shape[1], gray.shape[0]), interpolation=cv2.INTER_LINEAR)
    return cv2.compare(gray, limit, cv2.CMP_LT)


def page_ink(gray: np.ndarray, dpi: float) -> InkMask:
    """The ink mask of an 8-bit gray page, reduced to ~MARK_DPI (shared by blank and code detection)."""
    if dpi > WORK_DPI * 1.25:
        scale = WORK_DPI / dpi
        gray = cv2.resize(gray, None, fx=scale, fy=scale,  # linear is 5× faster; area when aliasing bites
                          interpolation=cv2.INTER_LINEAR if scale >= 0.5 else cv2.INTER_AREA)
        dpi = WORK_DPI
    sample = gray[::16, ::16]
    if ((sample == 0) | (sample == 255)).all():
        # Bilevel scan: error-diffusion dither turns shadows into dot clusters; a 5×5 mean
        # (0.6 mm at 200 dpi) makes them grey again while strokes of 2 px or more stay dark enough.
        gray = cv2.blur(gray, (5, 5))
    mask = ink_mask(gray, dpi)
    factor = int(dpi // MARK_DPI)
    if factor >= 2:
        height, width = mask.shape[0] // factor * factor, mask.shape[1] // factor * factor
        mask = cv2.resize(mask[:height, :width], (width // factor, height // factor), interpolation=cv2.INTER_AREA)
        dpi /= factor
    return InkMask(mask, dpi)


def _text_line(boxes: np.ndarray) -> bool:
    """True when some character-sized mark has two neighbours on its line."""
    if len(boxes) < 3:
        return False
    boxes = boxes[np.argsort(boxes[:, 0])][:400]  # by x; a real text page stops early anyway
    x, y, w, h = (boxes[:, i].astype(np.float32) for i in range(4))
    cy = y + h / 2
    for i in range(len(boxes)):
        tall = np.maximum(h, h[i])
        same_line = np.abs(cy - cy[i]) < 0.6 * tall
        gap = np.maximum(x - (x[i] + w[i]), x[i] - (x + w))
        near = same_line & (gap < 2.5 * tall)
        near[i] = False
        if near.sum() >= 2:
            return True
    return False


def analyse_ink(ink: InkMask) -> InkReport:
    """Measure the writing-like ink of a page (see the module docstring)."""
    mask = ink.any_ink
    height, width = mask.shape
    area = float(height * width)
    raw = float(ink.coverage.sum(dtype=np.int64)) / 255.0 / area
    if raw == 0.0:
        return InkReport(0.0, 0.0, False, 0)
    mm = ink.dpi / 25.4
    count, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    x, y, w, h, pixels = (stats[1:, i] for i in range(5))
    cx, cy = centroids[1:, 0], centroids[1:, 1]
    edge = EDGE_MM * mm
    touches_edge = (x <= edge) | (y <= edge) | (x + w >= width - edge) | (y + h >= height - edge)
    speck = pixels < SPECK_MM2 * mm * mm
    side_min, side_max = np.minimum(w, h), np.maximum(w, h)
    near_edge = np.minimum.reduce([cx, cy, width - cx, height - cy]) < 25 * mm
    punch_hole = (near_edge & (side_min >= 4 * mm) & (side_max <= 9 * mm) & (side_max <= 1.35 * side_min)
                  & (pixels >= 0.4 * w * h))
    length = np.hypot(w, h)
    thin_line = (pixels <= 0.6 * mm * length) & (length >= 25 * mm)  # hairs, streaks, folds, at any slant
    kept = ~(touches_edge | speck | punch_hole | thin_line)
    # The share of the page really inked (the 2×2 blocks' coverage), as blank_ink_ratio means it.
    coverage = np.bincount(labels.ravel(), weights=ink.coverage.ravel(), minlength=count)[1:]
    ratio = float(coverage[kept].sum()) / 255.0 / area
    character = kept & (h >= 0.8 * mm) & (h <= 15 * mm) & (w <= 20 * mm)
    boxes = stats[1:][character][:, :4]
    drawing = kept & (w >= DRAWING_MM[0] * mm) & (h >= DRAWING_MM[1] * mm) & (pixels >= DRAWING_MM2 * mm * mm)
    return InkReport(ratio, raw, _text_line(boxes), int(kept.sum()), bool(drawing.any()))


def analyse_gray(gray: np.ndarray, dpi: float) -> InkReport:
    return analyse_ink(page_ink(gray, dpi))


def analyse(image: Image.Image) -> InkReport:
    """Measure the writing-like ink on a PIL page."""
    return analyse_gray(np.asarray(image.convert("L")), image_dpi(image))


def blank_report(report: InkReport, ink_ratio: float) -> bool:
    """The blank decision on a measured page: less kept ink than ``ink_ratio`` and no text line."""
    return report.ink_ratio < ink_ratio and not report.text_line and not report.drawing


def is_blank(image: Image.Image, ink_ratio: float) -> bool:
    """True when the page carries no writing (see the module docstring for what is ignored)."""
    return blank_report(analyse(image), ink_ratio)
