"""OCR of one source page: upright, straight, recognised once, written as a one-page searchable PDF."""
from __future__ import annotations

import hashlib
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from ..config import Config
from ..ingest import PDF, Source
from ..records import PageResult
from . import clean, geometry, handwriting, lexicon, orientation, pdf, source_image, spacing, strategy, tesseract

STAMP_LETTERS = 100  # fewer letters than this on a page-sized image: a stamp, not a text layer


@dataclass
class PageOcr:
    """What the runner gets back from a worker for one page (picklable)."""

    page: int                 # 1-based page of the source
    pdf: Path                 # one-page searchable PDF under the work folder
    text: str
    result: PageResult
    error: str | None = None  # French reason when Tesseract failed: the page has no text layer
    seconds: float = 0.0


WORD = re.compile(r"[^\W\d_]{2,}")


def has_real_text(text: str) -> bool:
    """A text layer worth keeping: some letters, mostly words (not a font without Unicode mapping)."""
    letters = sum(ch.isalpha() for ch in text)
    tokens = text.split()
    if letters < 10 or not tokens:
        return False
    junk = sum(1 for ch in text if ch == "\ufffd" or "\ue000" <= ch <= "\uf8ff" or (ord(ch) < 32 and ch not in "\n\t\f\r"))
    wordlike = sum(1 for token in tokens if WORD.search(token) and sum(ch.isalpha() for ch in token) >= 0.6 * len(token))
    return junk <= 0.02 * len(text) and wordlike >= 0.4 * len(tokens)


def _stamped_scan(source: Source, page: int, text: str) -> bool:
    """A scan with a few visible words printed on it (a scanner's stamp, a page number) still needs OCR;
    an earlier OCR layer (invisible text) is kept."""
    if sum(ch.isalpha() for ch in text) >= STAMP_LETTERS:
        return False
    coverage, invisible_text = source_image.page_profile(source.path, page)
    return coverage >= 0.5 and not invisible_text


def tidy_layout_text(text: str) -> str:
    """pdftotext -layout pads columns with spaces: keep the lines, drop the padding."""
    lines = [re.sub(r"[ \t]{2,}", "  ", line).strip() for line in text.replace("\f", "").splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _bw(image: Image.Image, dpi: float) -> Image.Image:
    """The scan binarised for black-and-white output (CCITT G4), with the recognition cleanup."""
    if image.mode == "1":
        return image
    gray = clean.flatten_background(clean.to_gray(image), dpi)
    return Image.fromarray(clean.binarise(clean.denoise(gray), dpi)).convert("1")


def straighten(image: Image.Image, dpi: float, config: Config, scratch: Path,
               stem: str = "page") -> tuple[Image.Image, int, float]:
    """The scan upright and level: (image, clockwise quarter turn applied, deskew angle applied)."""
    quarter, skew, _ = geometry.line_axis_and_skew(clean.to_gray(image), dpi)
    applied_skew = round(skew, 2) if abs(skew) >= geometry.MIN_DESKEW else 0.0
    as_scanned = image if quarter == 90 else None  # kept in case the sideways lines were a misreading
    image = geometry.deskew(image, applied_skew)
    look, look_dpi = clean.for_recognition(clean.to_gray(image), dpi, binary=False)
    rotation = orientation.upright_turn(look, look_dpi, quarter, config.ocr.languages, config.ocr.timeout_seconds,
                                        scratch, stem)
    del look
    if as_scanned is not None and rotation in (0, 180):
        # The lines did not run across the page after all: level it along its own rows instead.
        skew = geometry.level_skew(clean.to_gray(as_scanned), dpi)
        applied_skew = round(skew, 2) if abs(skew) >= geometry.MIN_DESKEW else 0.0
        image = geometry.deskew(as_scanned, applied_skew)
    return geometry.turn(image, rotation), rotation, applied_skew


def page_pdf_name(source_path: Path, page: int) -> str:
    """The one-page PDF's file name; several sources may share a work folder, so it names the source too."""
    tag = hashlib.sha1(str(Path(source_path).resolve()).encode()).hexdigest()[:8]
    return f"{Path(source_path).stem[:40]}-{tag}-p{page:04d}.pdf"


def ocr_page(source: Source, page: int, config: Config, workdir: Path) -> PageOcr:
    """OCR page ``page`` (1-based) of ``source`` into ``workdir``; a born-digital page is copied, not OCRed."""
    started = time.monotonic()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    output = workdir / page_pdf_name(source.path, page)
    with tempfile.TemporaryDirectory(dir=workdir, prefix=".ocr-") as scratch:
        return _ocr_page(source, page, config, Path(scratch), output, started)


def _ocr_page(source: Source, page: int, config: Config, scratch: Path, output: Path, started: float) -> PageOcr:
    stem = "page"

    if source.kind == PDF:
        existing = source.page_text(page)
        if has_real_text(existing) and not _stamped_scan(source, page, existing):
            pdf.copy_page(source.path, page, output)
            text = tidy_layout_text(existing)
            result = PageResult(source_page=page, born_digital=True, words=len(text.split()))
            return PageOcr(page, output, text, result, None, time.monotonic() - started)

    scan = source_image.load(source, page, config.ingest.raster_dpi)
    image, dpi, scanned_mode = scan.image, scan.dpi, scan.image.mode
    scan.image = None  # one copy of the page in memory at a time
    image, rotation, applied_skew = straighten(image, dpi, config, scratch, stem)

    error, reading, handwritten = None, None, False
    gray = clean.to_gray(image)
    try:
        reading = strategy.read(gray, dpi, config, scratch)
    except tesseract.TesseractFailed as failed:
        error = failed.reason
    recognition = reading.recognition if reading else None
    if recognition is not None:
        spacing.join_letter_spaced(recognition.lines)
        handwritten = reading.quality.score < handwriting.WEAK_SCORE and \
            handwriting.is_handwritten(handwriting.shape(gray, dpi), reading.quality)
    del gray
    if recognition is not None and "fra" in config.ocr.languages.split("+"):
        for line in recognition.lines:  # the text layer and the document text get the repaired words
            for word in line.words:
                word.text = lexicon.repair(word.text)

    untouched = rotation == 0 and applied_skew == 0.0
    if config.ocr.output == "bw":
        image = _bw(image, dpi)
        untouched = untouched and scanned_mode == "1"
    quality = min(config.ocr.jpeg_quality, scan.jpeg_quality or 100)
    original = (source.path, page) if (untouched and scan.reusable and source.kind == PDF) else None
    original_jpeg = source.path.read_bytes() if (untouched and scan.reusable and source.kind != PDF) else None
    layer = pdf.TextLayer(recognition.lines, reading.dpi, reading.height) if recognition else None
    pdf.write_scan_page(output, image, dpi, quality, layer, original=original, original_jpeg=original_jpeg,
                        max_bytes=scan.original_bytes if scan.jpeg_quality else None)

    result = PageResult(source_page=page, rotation=rotation, skew=applied_skew,
                        confidence=round(recognition.confidence, 2) if recognition and recognition.words else
                        (0.0 if recognition else None),
                        born_digital=False, words=len(recognition.words) if recognition else 0,
                        handwritten=handwritten)
    text = recognition.text if recognition else ""
    return PageOcr(page, output, text, result, error, time.monotonic() - started)
