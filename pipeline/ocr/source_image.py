"""Get a page's scan at its own resolution, keeping the scanner's compressed bytes when possible.

A scanner's PDF page is one image drawn over the whole page. Taking that image
as it is (instead of re-rendering the page at a fixed dpi) keeps its real
resolution, and lets an upright, straight page keep its original JPEG or G4
bytes: no second lossy compression, no size growth.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pikepdf
from PIL import Image

from ..ingest import PDF, Source, normalise_mode

# Filters whose bytes can be copied into the output as they are (PDF/A-2 allows all of them).
REUSABLE_FILTERS = {"/DCTDecode", "/CCITTFaxDecode", "/FlateDecode", "/JBIG2Decode", "/JPXDecode"}


@dataclass
class PageImage:
    image: Image.Image           # mode 1, L or RGB
    dpi: float                   # square resolution
    native: bool                 # image taken from the file as is (not re-rendered)
    jpeg_quality: int | None     # estimated quality of the original JPEG, if it was one
    reusable: bool               # the original bytes may go in the output untouched
    original_bytes: int | None = None  # size of the scanner's compressed image, when known


def estimate_jpeg_quality(image: Image.Image) -> int | None:
    """IJG quality that produced a JPEG's luminance table (re-encoding above it only wastes bytes)."""
    tables = getattr(image, "quantization", None)
    if not tables or 0 not in tables:
        return None
    base = [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
            14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
            49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99]
    ratio = sum(tables[0]) / sum(base) * 100.0  # the IJG scale factor, in percent
    quality = (200.0 - ratio) / 2.0 if ratio <= 100 else 5000.0 / ratio
    return max(1, min(100, int(round(quality))))


def _placed_image(page: pikepdf.Page) -> tuple[pikepdf.Object, float, float] | None:
    """The single image drawn upright over the whole page, with its (x, y) dpi; None for anything else."""
    if int(page.obj.get("/Rotate", 0)) % 360 or "/UserUnit" in page.obj:
        return None
    xobjects = page.resources.get("/XObject", {})
    images = [(name, xobject) for name, xobject in xobjects.items() if str(xobject.get("/Subtype")) == "/Image"]
    if len(images) != 1 or len(xobjects) != 1 or page.resources.get("/Font"):
        return None
    name, image = images[0]
    matrix = None
    for operands, operator in pikepdf.parse_content_stream(page):
        op = str(operator)
        if op == "cm":
            values = [float(v) for v in operands]
            matrix = values if matrix is None else matrix  # scanners write one cm; more is not a plain scan
        elif op == "Do":
            if str(operands[0]) != str(name):
                return None
        elif op not in ("q", "Q"):
            return None
    if matrix is None:
        return None
    a, b, c, d, e, f = matrix
    box = [float(v) for v in page.mediabox]
    page_w, page_h = box[2] - box[0], box[3] - box[1]
    if abs(b) > 1e-6 or abs(c) > 1e-6 or a <= 0 or d <= 0:
        return None
    if abs(a - page_w) > 2 or abs(d - page_h) > 2 or abs(e - box[0]) > 2 or abs(f - box[1]) > 2:
        return None
    width, height = int(image.Width), int(image.Height)
    return image, width / (a / 72.0), height / (d / 72.0)


def _multiply(m: list[float], n: list[float]) -> list[float]:
    """m × n for PDF matrices [a b c d e f] (m applied first)."""
    a, b, c, d, e, f = m
    a2, b2, c2, d2, e2, f2 = n
    return [a * a2 + b * c2, a * b2 + b * d2, c * a2 + d * c2, c * b2 + d * d2,
            e * a2 + f * c2 + e2, e * b2 + f * d2 + f2]


def page_profile(source_path: Path, page: int) -> tuple[float, bool]:
    """(share of the page covered by images, 0…1; whether it draws invisible text, as OCR layers do)."""
    try:
        with pikepdf.open(source_path) as pdf:
            pdf_page = pdf.pages[page - 1]
            box = [float(v) for v in pdf_page.mediabox]
            area = abs((box[2] - box[0]) * (box[3] - box[1])) or 1.0
            xobjects = pdf_page.resources.get("/XObject", {})
            ctm, stack, covered, invisible = [1.0, 0.0, 0.0, 1.0, 0.0, 0.0], [], 0.0, False
            for operands, operator in pikepdf.parse_content_stream(pdf_page):
                op = str(operator)
                if op == "Tr" and operands and int(operands[0]) == 3:
                    invisible = True
                elif op == "q":
                    stack.append(ctm)
                elif op == "Q" and stack:
                    ctm = stack.pop()
                elif op == "cm" and len(operands) == 6:
                    ctm = _multiply([float(v) for v in operands], ctm)
                elif op == "Do" and operands:
                    xobject = xobjects.get(str(operands[0]))
                    if xobject is not None and str(xobject.get("/Subtype")) == "/Image":
                        covered += abs(ctm[0] * ctm[3] - ctm[1] * ctm[2])
                elif op == "INLINE IMAGE":
                    covered += abs(ctm[0] * ctm[3] - ctm[1] * ctm[2])
            return min(1.0, covered / area), invisible
    except (pikepdf.PdfError, ValueError, TypeError, KeyError, AttributeError):
        return 0.0, False


def _filters(image: pikepdf.Object) -> list[str]:
    value = image.get("/Filter")
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, pikepdf.Array) else [str(value)]


def load(source: Source, page: int, raster_dpi: int) -> PageImage:
    """The page's scan: native when it is a plain scanner page, else rendered at ``raster_dpi``."""
    if source.kind == PDF:
        try:
            with pikepdf.open(source.path) as pdf:
                placed = _placed_image(pdf.pages[page - 1])
                if placed is not None:
                    xobject, dpi_x, dpi_y = placed
                    if abs(dpi_x - dpi_y) <= 0.02 * dpi_y and 100 <= dpi_x <= 1200 and "/SMask" not in xobject \
                            and "/Mask" not in xobject and not xobject.get("/ImageMask", False):
                        pil = pikepdf.PdfImage(xobject).as_pil_image()
                        quality = estimate_jpeg_quality(pil) if _filters(xobject) == ["/DCTDecode"] else None
                        reusable = (set(_filters(xobject)) <= REUSABLE_FILTERS and "/Decode" not in xobject
                                    and pil.mode in ("1", "L", "RGB", "P"))
                        pil = normalise_mode(pil)
                        size = len(xobject.read_raw_bytes())
                        return PageImage(pil, round((dpi_x + dpi_y) / 2, 2), True, quality, reusable, size)
        except (pikepdf.PdfError, NotImplementedError, ValueError, OSError, KeyError, TypeError, AttributeError):
            pass  # JBIG2 without a decoder, odd colour spaces…: let poppler render it
        image = source.render(page, raster_dpi)
        return PageImage(normalise_mode(image), float(raster_dpi), False, None, False)
    image = source.render(page)
    dpi = float(image.info.get("dpi", (raster_dpi, raster_dpi))[0])
    dpi_y = float(image.info.get("dpi", (dpi, dpi))[1] or dpi)
    if abs(dpi - dpi_y) > 0.02 * dpi:  # fax-style non-square pixels: make them square
        image = image.resize((image.width, round(image.height * dpi / dpi_y)), Image.Resampling.LANCZOS)
    quality, reusable, size = None, False, None
    with Image.open(source.path) as original:
        if original.format == "JPEG":
            quality = estimate_jpeg_quality(original)
            reusable = original.mode in ("L", "RGB") and source.page_count == 1 and abs(dpi - dpi_y) <= 0.02 * dpi
            size = source.path.stat().st_size
    return PageImage(image, dpi, True, quality, reusable, size)


def original_xobject(source_path: Path, page: int, target: pikepdf.Pdf) -> pikepdf.Object:
    """Copy the page's scan XObject into ``target`` untouched (its bytes, filters and colour space)."""
    with pikepdf.open(source_path) as pdf:
        placed = _placed_image(pdf.pages[page - 1])
        assert placed is not None
        return target.copy_foreign(placed[0])
