"""Read the separator and routing codes on one rasterised page.

The fast path is a single zxing-cpp pass on the grayscale page, restricted to the
three symbologies a separator can use (Code 39, Code 128, QR) and to symbols at
the page's own scale, upright or upside down (QR codes in any direction): about
10 ms, against seconds for OCR. Only when it finds nothing and the page has a
code-like patch (dense, striped ink) are the slower passes tried: every
direction and scale, then upscaled for small or low-resolution codes, then
sharpened for blurred ones. zxing only
returns symbols whose checksum/error correction passes, so a damaged code never
yields a wrong value: it yields nothing, and the page stays content.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp
from PIL import Image

from .blank import InkMask, image_dpi, page_ink

FORMATS = (zxingcpp.BarcodeFormat.Code39, zxingcpp.BarcodeFormat.Code128, zxingcpp.BarcodeFormat.QRCode)
PATCH_T = "PATCHT"                 # Kodak patch code T, paperless-ngx's separator value
SEPARATOR = "MAILROOM:SEP"
ROUTE_PREFIX = "MAILROOM:ROUTE:"
MAX_UPSCALED_PIXELS = 40_000_000   # bounds memory of the retry on huge pages


def _formats():
    try:
        return zxingcpp.BarcodeFormats(list(FORMATS))
    except (AttributeError, TypeError):  # older bindings: combine with |
        combined = FORMATS[0]
        for item in FORMATS[1:]:
            combined = combined | item
        return combined


_FORMATS = _formats()


@dataclass(frozen=True)
class PageCodes:
    """The codes found on a page that matter to separation."""

    texts: tuple[str, ...]     # every decoded value (Code 39/128/QR), in zxing's order
    retried: bool = False      # the slow passes ran

    @property
    def separator(self) -> bool:
        return any(_normal(text) in (PATCH_T, SEPARATOR) for text in self.texts)

    @property
    def routes(self) -> tuple[str, ...]:
        """Category ids of the routing codes, in order, without repeats."""
        found: list[str] = []
        for text in self.texts:
            normal = _normal(text)
            if normal.startswith(ROUTE_PREFIX):
                category = text.strip()[len(ROUTE_PREFIX):].strip().lower()
                if category not in found:
                    found.append(category)
        return tuple(found)


def _normal(text: str) -> str:
    return text.strip().upper()


def _read(gray: np.ndarray, thorough: bool = True) -> list[str]:
    """zxing's pass; the quick one looks for upright or upside-down symbols at this size only."""
    quick = {} if thorough else {"try_rotate": False, "try_downscale": False, "try_invert": False}
    return [result.text for result in zxingcpp.read_barcodes(gray, formats=_FORMATS, **quick)]


def looks_coded(ink: InkMask) -> bool:
    """A cheap guess that the page carries a code zxing missed: a dense patch of ink that is not solid.

    Over ~8 mm cells, lines of text stay under ~35 % ink (line spacing, word
    gaps) while barcodes and QR codes, even blurred, reach 50-90 %; solid
    blocks (logos, black borders) have no ink/paper transitions and are left out.
    Ink is measured against the paper around it, so edge shadows do not count.
    A false alarm only costs one slower read.
    """
    per_mm = ink.dpi / 25.4
    dense = ink.coverage >= 128
    cell = (max(2, int(round(8 * per_mm))),) * 2
    density = cv2.blur(ink.coverage, cell).astype(np.float32) / 255.0
    across = np.zeros(dense.shape, np.uint8)
    across[:, 1:] = dense[:, 1:] != dense[:, :-1]
    down = np.zeros(dense.shape, np.uint8)
    down[1:, :] = dense[1:, :] != dense[:-1, :]
    stripes = np.maximum(cv2.blur(across.astype(np.float32), cell), cv2.blur(down.astype(np.float32), cell))
    return bool(((density > 0.5) & (density < 0.92) & (stripes * per_mm > 0.15)).any())


def read_page_codes(image: Image.Image) -> PageCodes:
    """Decode the Code 39 / Code 128 / QR symbols on a PIL page."""
    return read_codes(np.asarray(image.convert("L")), image_dpi(image))


def read_codes(gray: np.ndarray, dpi: float, ink: InkMask | None = None) -> PageCodes:
    """Decode the codes on an 8-bit gray page; the slow passes run only where they may pay.

    ``ink`` is the page's ink mask when the caller already has it (the splitter shares it with
    blank detection); it is only needed when the fast pass finds nothing.
    """
    texts = _read(gray, thorough=False)  # ~10 ms: QR codes in any direction, bar codes upright or reversed
    if texts:
        return PageCodes(tuple(texts))
    if not looks_coded(ink if ink is not None else page_ink(gray, dpi)):
        return PageCodes(())
    texts = _read(gray)  # sideways bar codes, smaller scales, light-on-dark
    if texts:
        return PageCodes(tuple(texts), retried=True)
    factor = 3.0 if dpi < 100 else 2.0  # faxes and reduced copies need more than a doubling
    factor = min(factor, (MAX_UPSCALED_PIXELS / gray.size) ** 0.5)
    if factor > 1.05:
        upscaled = cv2.resize(gray, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC)
        texts = _read(upscaled)
        del upscaled
        if texts:
            return PageCodes(tuple(texts), retried=True)
    # Blurred scans: restore edges (unsharp mask) at the native size.
    soft = cv2.GaussianBlur(gray, (0, 0), 2.0)
    sharp = cv2.addWeighted(gray, 2.0, soft, -1.0, 0)
    return PageCodes(tuple(_read(sharp)), retried=True)
