"""Blank-page detection: empty duplex backs are blank however dirty the scan; a few words never are."""
from __future__ import annotations

import random

import pytest
from PIL import Image, ImageDraw

from pipeline.blank import analyse, is_blank
from pipeline.config import IngestConfig
from pipeline.ingest import open_source
from samples.render import INK, PAPER, damage, render_letter
from tests.support.corpus import corpus_file
from tests.test_split_support import A4_PX, DPI, blank_back, letter, with_dpi

RATIO = 0.002  # the default ocr.blank_ink_ratio
MM = DPI / 25.4


def paper() -> Image.Image:
    return with_dpi(Image.new("L", A4_PX, PAPER))


def dirty(image: Image.Image, seed: int) -> Image.Image:
    return with_dpi(damage(image, noise=0.03, uneven_light=True, jpeg_quality=55, seed=seed))


# -- blank --------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", range(4))
def test_noisy_back_with_shadow_is_blank(seed):
    page = blank_back(seed)
    assert analyse(page).raw_ratio > 0 or seed  # there is dirt to ignore
    assert is_blank(page, RATIO)


@pytest.mark.parametrize("bleed", [0.15, 0.25, 0.35])
def test_recto_showing_through_is_blank(bleed):
    assert is_blank(blank_back(7, recto=letter(0), bleed=bleed), RATIO)


def test_dark_borders_and_punch_holes_are_blank():
    page = paper()
    draw = ImageDraw.Draw(page)
    width, height = page.size
    draw.rectangle((0, 0, width, 3 * MM), fill=20)                 # lid shadow along the top
    draw.rectangle((width - 2.5 * MM, 0, width, height), fill=40)  # page narrower than the glass
    for y in (height / 2 - 40 * MM, height / 2 + 40 * MM):         # two punch holes, 6 mm, 12 mm in
        draw.ellipse((9 * MM, y - 3 * MM, 15 * MM, y + 3 * MM), fill=45)
    page = dirty(page, 3)
    assert analyse(page).raw_ratio > 0.01   # a naive ink count would call it a page of text
    assert is_blank(page, RATIO)


def test_dust_hair_and_scanner_streak_are_blank():
    page = paper()
    draw = ImageDraw.Draw(page)
    rng = random.Random(5)
    for _ in range(60):                                   # dust: specks up to 0.5 mm
        x, y, size = rng.uniform(80, 1500), rng.uniform(80, 2200), rng.uniform(1, 4)
        draw.ellipse((x, y, x + size, y + size), fill=INK)
    draw.line((300, 400, 330, 900), fill=40, width=2)     # a hair
    draw.line((900, 1200, 1300, 1500), fill=40, width=2)  # another, slanted
    draw.line((700, 60, 700, A4_PX[1] - 60), fill=90, width=3)  # a dirty-glass streak
    assert is_blank(with_dpi(page), RATIO)


def test_blank_in_every_pixel_format():
    """Bilevel scans included, thresholded or dithered (dithering turns shadows into dot clusters)."""
    page = blank_back(2)
    for image in (page.convert("1"), page.convert("1", dither=Image.Dither.NONE), page, page.convert("RGB")):
        assert is_blank(with_dpi(image), RATIO), image.mode
    text = letter(2)
    for image in (text.convert("1"), text.convert("1", dither=Image.Dither.NONE)):
        assert not is_blank(with_dpi(image), RATIO)


def test_landscape_and_high_resolution_blank():
    page = blank_back(4).rotate(90, expand=True)
    big = page.resize((page.width * 3 // 2, page.height * 3 // 2))
    assert is_blank(with_dpi(page), RATIO) and is_blank(with_dpi(big, 300), RATIO)


def test_real_blank_pdf_is_blank():
    source = open_source(corpus_file("ocrmypdf", "blank.pdf"), IngestConfig())
    assert is_blank(source.render(1, 200), RATIO)


def test_paperless_blank_pages_are_blank():
    source = open_source(corpus_file("paperless", "barcodes__split-by-asn-1.pdf"), IngestConfig())
    found = [page for page in range(1, source.page_count + 1) if is_blank(source.render(page, 150), RATIO)]
    assert found == [2, 5, 6, 8, 10]


# -- not blank ----------------------------------------------------------------------------------

def test_letter_is_not_blank():
    assert not is_blank(letter(1), RATIO)


def test_short_note_is_not_blank():
    note = render_letter("Merci de noter ma nouvelle adresse :\n12 rue des Lilas, 76000 Rouen.\nJ. Martin",
                         dpi=DPI, noise=0.03, uneven_light=True, seed=4)
    report = analyse(note)
    assert report.ink_ratio < RATIO  # less ink than the threshold: the text line keeps it
    assert not is_blank(note, RATIO)


def test_one_short_line_in_light_ink_is_not_blank():
    page = paper()
    draw = ImageDraw.Draw(page)
    from PIL import ImageFont
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", round(10 / 72 * DPI))
    draw.text((40 * MM, 200 * MM), "Vu le 3 mars", fill=140, font=font)  # pencil-grey, 10 pt, three words
    page = dirty(page, 8)
    assert not is_blank(page, RATIO)


@pytest.mark.parametrize("name,pages", [("double-sided-odd.pdf", 3), ("double-sided-even.pdf", 2),
                                        ("barcodes__patch-code-t-middle-distorted.pdf", 1)])
def test_pages_with_one_line_of_text_are_not_blank(name, pages):
    source = open_source(corpus_file("paperless", name), IngestConfig())
    for page in range(1, pages + 1):
        assert not is_blank(source.render(page, 200), RATIO), page


def test_lone_signature_or_stamp_is_not_blank():
    """Little ink and no text line, but a drawn mark: a signed back is content."""
    page = paper()
    draw = ImageDraw.Draw(page)
    points = [(60 * MM + x * MM, 200 * MM + 6 * MM * ((x * 7) % 11 - 5) / 5) for x in range(0, 45, 3)]
    draw.line(points, fill=50, width=round(0.5 * MM), joint="curve")   # a 45 mm scrawl
    page = dirty(page, 10)
    report = analyse(page)
    assert report.ink_ratio < RATIO and not report.text_line and report.drawing
    assert not is_blank(page, RATIO)


def test_threshold_is_tunable():
    """Scattered blots (no text line, no drawing): their ink share decides, against the configured ratio."""
    page = paper()
    draw = ImageDraw.Draw(page)
    rng = random.Random(11)
    for _ in range(25):  # ink spots of 1.5-3 mm, well apart
        x, y, size = rng.uniform(30, 180) * MM, rng.uniform(30, 270) * MM, rng.uniform(1.5, 3) * MM
        draw.ellipse((x, y, x + size, y + size), fill=40)
    page = dirty(page, 9)
    report = analyse(page)
    assert not report.text_line and not report.drawing
    assert 0.0005 < report.ink_ratio < 0.01
    assert not is_blank(page, report.ink_ratio / 2)
    assert is_blank(page, report.ink_ratio * 2)


def test_real_typewritten_letters_are_not_blank():
    """tapuscorpus-fr: real scans, some faded (Delatre's 1858 letter: grey type on cream paper)."""
    from pathlib import Path

    pages = sorted(Path(corpus_file("tapuscorpus-fr", "pages")).glob("*.jpg"))
    assert len(pages) >= 15
    blank = [page.name for page in pages if is_blank(Image.open(page), RATIO)]
    assert blank == []
