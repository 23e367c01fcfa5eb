"""Open and validate an input file, then hand out its pages one at a time.

Validation happens before any stage runs, so that a bad scan is quarantined with
a reason a mailroom clerk can act on, instead of failing somewhere deep in OCR.
Pages are rendered on demand: memory does not grow with the page count.
"""
from __future__ import annotations

import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import pikepdf
from pdf2image import convert_from_path
from PIL import Image

from .config import IngestConfig

PDF, IMAGE = "pdf", "image"
A4_INCHES = (8.27, 11.69)
LETTER_INCHES = (8.5, 11.0)


from .errors import BadInput  # noqa: E402,F401  (re-exported: what stages raise for a file they cannot process)


def sniff(path: Path) -> str | None:
    """The real kind of a file from its first bytes, whatever its name says."""
    with open(path, "rb") as handle:
        head = handle.read(1024)
    if b"%PDF-" in head:
        return PDF
    if head[:4] in (b"II*\x00", b"MM\x00*") or head[:3] == b"\xff\xd8\xff" or head[:8] == b"\x89PNG\r\n\x1a\n":
        return IMAGE
    return None


def infer_dpi(width: int, height: int) -> float:
    """Resolution of a scan without DPI information, from the paper size it must be (A4 or Letter).

    An image that is not page-shaped (a crop, a photo of a label) is given 300 dpi,
    the usual scanning resolution: guessing a page size for it would mis-scale its text.
    """
    long_side, short_side = max(width, height), min(width, height)
    aspect = long_side / short_side
    paper = A4_INCHES if abs(aspect - A4_INCHES[1] / A4_INCHES[0]) <= abs(aspect - LETTER_INCHES[1] / LETTER_INCHES[0]) \
        else LETTER_INCHES
    if abs(aspect - paper[1] / paper[0]) > 0.1 * paper[1] / paper[0]:
        return 300
    return round(long_side / paper[1])


def normalise_mode(image: Image.Image) -> Image.Image:
    """Any scanner pixel format → 1-bit, L or RGB, alpha flattened on white paper."""
    if image.mode in ("1", "L", "RGB"):
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        import numpy as np
        data = np.asarray(image, dtype="float64")
        top = data.max() or 1.0
        scale = 255.0 / (65535.0 if top > 255 else 255.0)
        return Image.fromarray((data * scale).clip(0, 255).astype("uint8"), "L")
    if image.mode in ("LA", "RGBA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        flattened = Image.alpha_composite(paper, rgba)
        return flattened.convert("L" if image.mode == "LA" else "RGB")
    return image.convert("RGB")  # CMYK (Pillow undoes Adobe's inversion), YCbCr, P, …


@dataclass
class Source:
    """A validated input: a PDF or a (multi-frame) image."""

    path: Path
    kind: str
    page_count: int
    config: IngestConfig

    def render(self, page: int, dpi: int | None = None) -> Image.Image:
        """Page ``page`` (1-based) as an upright-as-scanned PIL image with its DPI in ``info['dpi']``."""
        dpi = dpi or self.config.raster_dpi
        if self.kind == PDF:
            images = convert_from_path(str(self.path), dpi=dpi, first_page=page, last_page=page)
            if not images:
                raise BadInput("pdf-page-unrenderable", page=page)
            image = images[0]
            image.info["dpi"] = (dpi, dpi)
            return image
        with Image.open(self.path) as container:
            container.seek(page - 1)
            image = container.copy()
            info_dpi = container.info.get("dpi")
        image = normalise_mode(image)
        if not info_dpi or min(info_dpi) < 50:
            inferred = infer_dpi(*image.size)
            info_dpi = (inferred, inferred)
        image.info["dpi"] = tuple(float(d) for d in info_dpi)
        return image

    def page_text(self, page: int) -> str:
        """The text layer a PDF page already carries ('' for images and scanned pages)."""
        if self.kind != PDF:
            return ""
        result = subprocess.run(["pdftotext", "-layout", "-f", str(page), "-l", str(page), str(self.path), "-"],
                                capture_output=True, timeout=120)
        return result.stdout.decode("utf-8", "replace") if result.returncode == 0 else ""


def _open_pdf(path: Path, config: IngestConfig) -> Source:
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - 2048))
        if b"%%EOF" not in handle.read():
            raise BadInput("pdf-truncated")
    try:
        with pikepdf.open(path) as pdf:
            declared = int(pdf.trailer.Root.Pages.get("/Count", 0))
            count = len(pdf.pages)
    except pikepdf.PasswordError:
        raise BadInput("pdf-encrypted") from None
    except (pikepdf.PdfError, OSError, ValueError, AttributeError, KeyError, TypeError) as error:
        raise BadInput("pdf-unreadable", error=error.__class__.__name__) from None
    if count == 0:
        raise BadInput("pdf-no-page")
    if declared and declared != count:
        raise BadInput("pdf-pages-missing", declared=declared, count=count)
    if count > config.max_pages:
        raise BadInput("too-many-pages", count=count, limit=config.max_pages)
    # A truncated file can still list its pages: make sure poppler can read the whole file.
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, timeout=120)
    if info.returncode != 0:
        message = info.stderr.decode("utf-8", "replace").strip().splitlines()
        raise BadInput("pdf-poppler", error=message[-1] if message else "?")
    return Source(path, PDF, count, config)


def _open_image(path: Path, config: IngestConfig) -> Source:
    Image.MAX_IMAGE_PIXELS = config.max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                frames = getattr(image, "n_frames", 1)
                for index in range(frames):
                    image.seek(index)
                    width, height = image.size
                    if width * height > config.max_pixels:
                        raise Image.DecompressionBombError(f"{width}×{height}")
                    if min(width, height) < config.min_side_pixels:
                        raise BadInput("image-too-small", page=index + 1, width=width, height=height)
                    image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise BadInput("image-too-large", error=str(error)) from None
    except BadInput:
        raise
    except (OSError, ValueError, SyntaxError) as error:
        raise BadInput("image-unreadable", error=str(error)) from None
    if frames > config.max_pages:
        raise BadInput("too-many-pages", count=frames, limit=config.max_pages)
    return Source(path, IMAGE, frames, config)


def open_source(path: Path, config: IngestConfig) -> Source:
    """Validate ``path`` and return a Source, or raise BadInput with a reason for the clerk."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as error:
        raise BadInput("unreadable-file", error=str(error)) from None
    if size == 0:
        raise BadInput("empty-file")
    kind = sniff(path)
    if kind is None:
        raise BadInput("not-a-scan-named", extension=path.suffix) if path.suffix else BadInput("not-a-scan")
    return _open_pdf(path, config) if kind == PDF else _open_image(path, config)
