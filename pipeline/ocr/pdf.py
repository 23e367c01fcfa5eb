"""Searchable PDF pages, written with pikepdf: the scan over the whole page, the invisible words on top."""
from __future__ import annotations

import contextlib
import io
import math
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pikepdf
from PIL import Image

from . import source_image, textlayer

MIN_QUALITY = 40  # below this JPEG artefacts start to hurt reading on screen


@dataclass
class TextLayer:
    lines: list[textlayer.Line]
    dpi: float          # resolution of the image the boxes refer to
    height_px: int      # its height in pixels


def _is_bilevel(image: Image.Image) -> bool:
    if image.mode == "1":
        return True
    if image.mode == "L":
        histogram = image.histogram()
        return sum(histogram[1:255]) == 0
    return False


def _is_gray(image: Image.Image) -> bool:
    """An RGB scan of a black-and-white letter: store it as gray (a third of the JPEG)."""
    if image.mode != "RGB":
        return False
    array = np.asarray(image)[::4, ::4].astype(np.int16)
    spread = array.max(axis=2) - array.min(axis=2)
    return float(np.percentile(spread, 99.5)) <= 24


def g4_bytes(image: Image.Image) -> tuple[bytes, int]:
    """CCITT Group 4 data of a 1-bit image (one strip), via libtiff."""
    buffer = io.BytesIO()
    image.convert("1").save(buffer, "TIFF", compression="group4",
                            strip_size=math.ceil(image.width / 8) * image.height)
    with Image.open(io.BytesIO(buffer.getvalue())) as tiff:
        offsets, counts = tiff.tag_v2[273], tiff.tag_v2[279]
        photometric = tiff.tag_v2.get(262, 0)
    if len(offsets) != 1:
        raise ValueError("G4 image written in several strips")
    data = buffer.getvalue()[offsets[0]:offsets[0] + counts[0]]
    return data, photometric


def _flate_over(data: bytes) -> bytes | None:
    """JPEG data deflated once more, when that saves at least 2 %: the blank paper of a letter
    leaves long runs in the entropy-coded data that Flate still finds (OCRmyPDF does the same)."""
    packed = zlib.compress(data, 9)
    return packed if len(packed) <= 0.98 * len(data) else None


def jpeg_xobject(pdf: pikepdf.Pdf, data: bytes, mode: str, width: int, height: int) -> pikepdf.Stream:
    stream = pikepdf.Stream(pdf, b"", Type=pikepdf.Name.XObject, Subtype=pikepdf.Name.Image, Width=width,
                            Height=height, BitsPerComponent=8,
                            ColorSpace=pikepdf.Name.DeviceGray if mode == "L" else pikepdf.Name.DeviceRGB)
    packed = _flate_over(data)
    if packed is None:
        stream.write(data, filter=pikepdf.Name.DCTDecode)
    else:
        stream.write(packed, filter=[pikepdf.Name.FlateDecode, pikepdf.Name.DCTDecode])
    return stream


def image_xobject(pdf: pikepdf.Pdf, image: Image.Image, quality: int, max_bytes: int | None = None) -> pikepdf.Stream:
    """Bilevel → CCITT G4 (lossless, compact); gray or colour → progressive JPEG at ``quality``.

    ``max_bytes`` is the size of the scanner's own image: a re-encoded (turned or
    deskewed) page steps its JPEG quality down until it is no larger, as keeping
    the original bytes would have been.
    """
    if image.mode == "RGB" and _is_gray(image):
        image = image.convert("L")
    if _is_bilevel(image):
        data, photometric = g4_bytes(image)
        return pikepdf.Stream(pdf, data, Type=pikepdf.Name.XObject, Subtype=pikepdf.Name.Image,
                              Width=image.width, Height=image.height, BitsPerComponent=1,
                              ColorSpace=pikepdf.Name.DeviceGray, Filter=pikepdf.Name.CCITTFaxDecode,
                              DecodeParms=pikepdf.Dictionary(K=-1, Columns=image.width, Rows=image.height,
                                                             BlackIs1=photometric == 0))
    while True:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality, optimize=True, progressive=True)
        stream = jpeg_xobject(pdf, buffer.getvalue(), image.mode, image.width, image.height)
        if max_bytes is None or len(stream.read_raw_bytes()) <= max_bytes or quality <= MIN_QUALITY:
            return stream
        quality = max(MIN_QUALITY, quality - 8)


def reuse_original(pdf: pikepdf.Pdf, source: pikepdf.Pdf, page: int) -> pikepdf.Object:
    """The scanner's image XObject, bytes untouched (a plain JPEG gets a lossless Flate layer on top)."""
    placed = source_image._placed_image(source.pages[page - 1])
    xobject = pdf.copy_foreign(placed[0])
    if str(xobject.get("/Filter")) == "/DCTDecode" and "/DecodeParms" not in xobject:
        packed = _flate_over(xobject.read_raw_bytes())
        if packed is not None:
            xobject.write(packed, filter=[pikepdf.Name.FlateDecode, pikepdf.Name.DCTDecode])
    return xobject


def write_scan_page(path: Path, image: Image.Image, dpi: float, quality: int, text: TextLayer | None,
                    original: tuple[Path, int] | None = None, original_jpeg: bytes | None = None,
                    max_bytes: int | None = None) -> Path:
    """One-page PDF: the scan (original bytes when given, else encoded) under the invisible text layer."""
    width_pt, height_pt = image.width / dpi * 72.0, image.height / dpi * 72.0
    # Foreign objects are copied lazily: the source file stays open until the page is saved.
    with contextlib.ExitStack() as stack:
        pdf = stack.enter_context(pikepdf.new())
        if original is not None:
            source = stack.enter_context(pikepdf.open(original[0]))
            xobject = reuse_original(pdf, source, original[1])
        elif original_jpeg is not None:
            xobject = jpeg_xobject(pdf, original_jpeg, image.mode, image.width, image.height)
        else:
            xobject = image_xobject(pdf, image, quality, max_bytes)
        page = pdf.add_blank_page(page_size=(width_pt, height_pt))
        resources = pikepdf.Dictionary(XObject=pikepdf.Dictionary(Im0=xobject))
        stream = b"q %.4f 0 0 %.4f 0 0 cm /Im0 Do Q\n" % (width_pt, height_pt)
        if text is not None and text.lines:
            resources.Font = pikepdf.Dictionary({str(textlayer.FONT_KEY): textlayer.glyphless_font(pdf)})
            stream += textlayer.content(text.lines, text.dpi, text.height_px)
        page.obj.Resources = resources
        page.obj.Contents = pikepdf.Stream(pdf, stream)
        pdf.save(path, compress_streams=True, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    return path


def copy_page(source_path: Path, page: int, path: Path) -> Path:
    """A born-digital page, copied as it is (fonts, vectors, annotations)."""
    with pikepdf.open(source_path) as source, pikepdf.new() as pdf:
        pdf.pages.append(source.pages[page - 1])
        pdf.save(path, compress_streams=True, object_stream_mode=pikepdf.ObjectStreamMode.generate)
    return path
