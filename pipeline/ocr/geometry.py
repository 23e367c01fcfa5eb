"""Page geometry: which way the text lines run, how skewed they are, and how to straighten the scan.

Skew and the line axis come from projection profiles of the ink: rows of text
give the sharpest profile when projected along the lines. Telling 0° from 180°
needs to read the glyphs; that is Tesseract OSD's job (see tesseract.py).
"""
from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

from .clean import flatten_background

WORK_DPI = 100          # enough for 0.1° on a 16 cm line, and fast
MAX_SKEW = 15.0         # degrees
MIN_DESKEW = 0.3        # below this the page looks straight: keep the scan's own bytes


def ink_points(gray: np.ndarray, dpi: float, max_points: int = 120_000) -> np.ndarray:
    """Coordinates (x, y) of ink pixels on a reduced, flattened copy of the page, in reduced pixels."""
    scale = min(1.0, WORK_DPI / dpi)
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
    flat = cv2.medianBlur(flatten_background(small, dpi * scale), 3)
    _, binary = cv2.threshold(flat, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    # The page edges hold shadows and scanner borders, never the body text: they would pose as a line.
    margin_y, margin_x = int(binary.shape[0] * 0.04), int(binary.shape[1] * 0.04)
    binary[:margin_y], binary[-margin_y:], binary[:, :margin_x], binary[:, -margin_x:] = 0, 0, 0, 0
    # Drop big blobs (photos, logos, black borders): they carry no line direction.
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    limit = dpi * scale * 0.6  # larger than any letter
    big = np.nonzero((stats[:, cv2.CC_STAT_WIDTH] > limit * 3) | (stats[:, cv2.CC_STAT_HEIGHT] > limit))[0]
    big = big[big != 0]
    if big.size:
        binary[np.isin(labels, big)] = 0
    ys, xs = np.nonzero(binary)
    if xs.size > max_points:
        pick = np.random.default_rng(0).choice(xs.size, max_points, replace=False)
        xs, ys = xs[pick], ys[pick]
    return np.stack([xs, ys], axis=1).astype(np.float32) if xs.size else np.zeros((0, 2), np.float32)


def _scores(points: np.ndarray, angles: np.ndarray) -> np.ndarray:
    """Sharpness of the row profile after turning the points by each angle (degrees, counter-clockwise)."""
    xs, ys = points[:, 0], points[:, 1]
    centre_x, centre_y = xs.mean(), ys.mean()
    xs, ys = xs - centre_x, ys - centre_y
    out = np.empty(len(angles))
    for index, angle in enumerate(np.radians(angles)):
        rows = ys * np.cos(angle) - xs * np.sin(angle)  # y after a counter-clockwise turn of the image
        counts = np.bincount((rows - rows.min()).astype(np.int64))
        out[index] = float((counts.astype(np.float64) ** 2).sum())
    return out


def _best_angle(points: np.ndarray, centre: float) -> tuple[float, float]:
    coarse = np.arange(centre - MAX_SKEW, centre + MAX_SKEW + 0.01, 0.5)
    scores = _scores(points, coarse)
    best = coarse[int(scores.argmax())]
    fine = np.arange(best - 0.5, best + 0.51, 0.05)
    fine_scores = _scores(points, fine)
    return float(fine[int(fine_scores.argmax())]), float(fine_scores.max())


def line_axis_and_skew(gray: np.ndarray, dpi: float) -> tuple[int, float, float]:
    """(quarter, skew, strength): text lines run along the page when quarter=0, across it when 90.

    ``skew`` is the counter-clockwise angle (degrees) that makes the lines level once
    the page is turned so they run horizontally; ``strength`` (≥ 1) is how much
    better the chosen axis explains the ink than the other one — near 1, unsure.
    """
    points = ink_points(gray, dpi)
    if len(points) < 200:
        return 0, 0.0, 1.0
    skew_h, score_h = _best_angle(points, 0.0)
    skew_v, score_v = _best_angle(points, 90.0)
    if score_h >= score_v:
        return 0, skew_h, score_h / max(score_v, 1.0)
    # Lines run vertically: after a quarter turn the residual skew is measured from 90°.
    return 90, skew_v - 90.0, score_v / max(score_h, 1.0)


def level_skew(gray: np.ndarray, dpi: float) -> float:
    """Counter-clockwise angle (degrees) that levels lines running along the page (no axis choice)."""
    points = ink_points(gray, dpi)
    return _best_angle(points, 0.0)[0] if len(points) >= 200 else 0.0


def turn(image: Image.Image, clockwise: int) -> Image.Image:
    """Exact quarter turns (no resampling)."""
    ops = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}
    clockwise %= 360
    return image.transpose(ops[clockwise]) if clockwise else image


def deskew(image: Image.Image, angle: float) -> Image.Image:
    """Turn the scan counter-clockwise by ``angle`` degrees on the same canvas, filling with its paper colour."""
    if abs(angle) < MIN_DESKEW:
        return image
    array = np.asarray(image)
    height, width = array.shape[:2]
    matrix = cv2.getRotationMatrix2D((width / 2.0, height / 2.0), angle, 1.0)
    if image.mode == "1":
        gray = np.asarray(image.convert("L"))
        turned = cv2.warpAffine(gray, matrix, (width, height), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=255)
        result = Image.fromarray(turned).point(lambda v: 255 if v >= 128 else 0).convert("1")
    else:
        border = np.concatenate([array[:4].reshape(-1, *array.shape[2:]), array[-4:].reshape(-1, *array.shape[2:]),
                                 array[:, :4].reshape(-1, *array.shape[2:]), array[:, -4:].reshape(-1, *array.shape[2:])])
        fill = np.median(border, axis=0)
        fill_value = tuple(float(v) for v in np.atleast_1d(fill))
        turned = cv2.warpAffine(array, matrix, (width, height), flags=cv2.INTER_CUBIC,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=fill_value if len(fill_value) > 1
                                else fill_value[0])
        result = Image.fromarray(turned, image.mode)
    result.info = dict(image.info)
    return result


def upright_score(gray: np.ndarray, dpi: float) -> float:
    """Evidence (-1…1) that level text lines are right way up rather than upside down.

    Latin script has more ascenders (capitals, digits, b d f h k l t, accents) than
    descenders (g j p q y): in each text line, ink above the x-height band outweighs
    ink below it. Positive: upright; negative: upside down; near 0: no verdict.
    """
    scale = min(1.0, 150.0 / dpi)
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
    _, binary = cv2.threshold(small, 0, 1, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    rows = binary.sum(axis=1).astype(np.float64)
    inked = rows > 0.002 * binary.shape[1]
    above = below = 0.0
    tallest = 0.6 * dpi * scale  # taller than this is a picture, not a line of text
    y, count = 0, len(rows)
    while y < count:
        if not inked[y]:
            y += 1
            continue
        start = y
        while y < count and inked[y]:
            y += 1
        line = rows[start:y]
        if len(line) < 6 or len(line) > tallest:
            continue
        core = np.nonzero(line >= 0.5 * line.max())[0]
        above += line[: core[0]].sum()
        below += line[core[-1] + 1:].sum()
    total = above + below
    return float((above - below) / total) if total > 0 else 0.0
