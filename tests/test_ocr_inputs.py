"""Every input kind a scanner or a mail gateway sends goes through OCR: PDF (JPEG, CCITT, JBIG2, mixed),
multi-page TIFF (G4, LZW, alpha, 16-bit), JPEG (CMYK, no DPI), PNG (palette, alpha, gray, 1-bit)."""
from __future__ import annotations

import subprocess

import numpy as np
import pikepdf
import pytest
from PIL import Image

from pipeline.config import load_config
from pipeline.ingest import open_source
from pipeline.ocr import ocr_page
from samples.render import render_letter
from tests.support.corpus import corpus_file

pytestmark = pytest.mark.slow

LETTER = """\
Madame Sophie LEROUX
12, rue des Capucins
76000 Rouen

> Rouen, le 3 mars 2026

# Objet : demande d'allocation personnalisée d'autonomie
"""


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return load_config(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def letter():
    return render_letter(LETTER, dpi=200, noise=0.02, seed=1)


def page_size(pdf_path) -> tuple[float, float]:
    with pikepdf.open(pdf_path) as pdf:
        box = pdf.pages[0].mediabox
        return float(box[2]) - float(box[0]), float(box[3]) - float(box[1])


def searchable(result) -> str:
    assert result.error is None
    text = subprocess.run(["pdftotext", str(result.pdf), "-"], capture_output=True, text=True).stdout
    assert text.strip(), "no text layer"
    return text


def ocr(path, config, tmp_path, page=1):
    return ocr_page(open_source(path, config.ingest), page, config, tmp_path / "work")


def sixteen_bit(image: Image.Image) -> Image.Image:
    data = (np.asarray(image.convert("L"), dtype=np.uint16) * 257)
    image = Image.fromarray(data)
    assert image.mode.startswith("I;16")
    return image


GENERATED = {
    "tiff-g4-multipage": lambda im: ([im.convert("1"), im.convert("1").rotate(180)], dict(compression="group4")),
    "tiff-lzw-gray": lambda im: ([im], dict(compression="tiff_lzw")),
    "tiff-16bit": lambda im: ([sixteen_bit(im)], {}),
    "tiff-alpha": lambda im: ([im.convert("RGBA")], dict(compression="tiff_adobe_deflate")),
    "jpeg-cmyk": lambda im: ([im.convert("RGB").convert("CMYK")], dict(quality=85)),
    "jpeg-no-dpi": lambda im: ([im.convert("RGB")], dict(quality=85, dpi=None)),
    "png-palette": lambda im: ([im.point(lambda v: v // 32 * 32).convert("RGB").quantize(8)], {}),
    "png-1bit-no-dpi": lambda im: ([im.convert("1")], dict(dpi=None)),
    "png-gray-alpha": lambda im: ([im.convert("LA")], {}),
}


@pytest.mark.parametrize("kind", sorted(GENERATED))
def test_generated_input_kinds(kind, letter, config, tmp_path):
    frames, options = GENERATED[kind](letter)
    extension = {"tiff": "tif", "jpeg": "jpg", "png": "png"}[kind.split("-")[0]]
    path = tmp_path / f"scan.{extension}"
    dpi = options.pop("dpi", (200, 200))
    save = dict(options, **({"dpi": dpi} if dpi else {}))
    if len(frames) > 1:
        save.update(save_all=True, append_images=frames[1:])
    frames[0].save(path, **save)

    last = len(frames)
    result = ocr(path, config, tmp_path, page=last)
    text = searchable(result)
    assert "Sophie LEROUX" in text and "3 mars 2026" in text
    assert result.result.rotation == (180 if last == 2 else 0)
    width, height = page_size(result.pdf)
    assert width == pytest.approx(595.3, abs=2) and height == pytest.approx(841.9, abs=2)  # A4, DPI inferred


@pytest.mark.parametrize("name,page,words", [
    ("ocrmypdf/baiona_alpha.png", 1, ["Milafranga", "Komunikabideak", "BAIONA"]),
    ("ocrmypdf/baiona_cmyk.jpg", 1, ["Milafranga", "Komunikabideak", "BAIONA"]),
    ("ocrmypdf/baiona_colormapped.png", 1, ["Milafranga", "Komunikabideak", "BAIONA"]),
    ("ocrmypdf/baiona_gray.png", 1, ["Milafranga", "Komunikabideak", "BAIONA"]),
    ("ocrmypdf/ccitt.pdf", 1, ["LinnSequencer", "MIDI"]),
    ("ocrmypdf/jbig2.pdf", 1, ["LinnSequencer", "MIDI"]),
    ("ocrmypdf/francais.pdf", 1, ["whisky", "île"]),
    ("paperless/tesseract__multi-page-images.tiff", 2, ["multi", "Page 2"]),
    ("paperless/tesseract__multi-page-images-alpha.tiff", 3, ["multi", "Page 3"]),
    ("paperless/tesseract__simple-no-dpi.png", 1, ["This is a test document"]),
    ("paperless/tesseract__rotated.pdf", 1, ["first page"]),
])
def test_corpus_input_kinds(name, page, words, config, tmp_path):
    path = corpus_file(*name.split("/"))
    result = ocr(path, config, tmp_path, page)
    text = searchable(result)
    for word in words:
        assert word in text, f"{word!r} not in {text[:200]!r}"


def test_ccitt_scan_stays_bilevel_and_small(config, tmp_path):
    path = corpus_file("ocrmypdf", "ccitt.pdf")
    result = ocr(path, config, tmp_path)
    listing = subprocess.run(["pdfimages", "-list", str(result.pdf)], capture_output=True, text=True).stdout
    assert "ccitt" in listing
    assert result.pdf.stat().st_size < 2 * path.stat().st_size
