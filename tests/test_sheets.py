"""`mailroom sheets`: the printed sheets, and the round trip print → scan → split."""
from __future__ import annotations

import argparse
import subprocess

import pikepdf
import pytest
from PIL import Image

from pipeline.ingest import open_source
from pipeline.records import ROUTE_COVER_SHEET
from pipeline.sheets import cmd_sheets, register
from pipeline.split import BLANK, SEPARATOR_SHEET, plan_documents
from samples.render import damage, save_scan_pdf
from tests.test_split_support import DPI, ListSource, blank_back, config_for, letter, sheet, shapes, with_dpi


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return config_for(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="module")
def all_sheets(config, tmp_path_factory):
    out = tmp_path_factory.mktemp("sheets") / "feuilles.pdf"
    code = cmd_sheets(config, argparse.Namespace(out=str(out), category=None, no_separator=False))
    assert code == 0
    return out


def test_one_separator_then_one_cover_sheet_per_category_on_a4(all_sheets, config):
    with pikepdf.open(all_sheets) as pdf:
        assert len(pdf.pages) == 1 + len(config.categories)
        for page in pdf.pages:
            width, height = (float(v) for v in page.mediabox[2:])
            assert abs(width - 595.3) < 1 and abs(height - 841.9) < 1


def test_sheets_ask_for_one_sided_printing(all_sheets):
    """Printed recto verso, one sheet would carry two codes (and the nearest route would win)."""
    with pikepdf.open(all_sheets) as pdf:
        preferences = pdf.Root.ViewerPreferences
        assert preferences.Duplex == "/Simplex" and preferences.PrintScaling == "/None"


def test_sheets_say_in_french_what_they_are(all_sheets, config):
    text = subprocess.run(["pdftotext", "-layout", str(all_sheets), "-"], capture_output=True, check=True,
                          text=True).stdout
    pages = text.split("\f")
    assert "FEUILLE DE SÉPARATION" in pages[0] and "AVANT chaque courrier" in pages[0]
    assert all("recto seul" in page for page in pages[:-1])
    for page, category in zip(pages[1:], config.categories.values()):
        assert "PAGE DE GARDE D'AIGUILLAGE" in page
        assert category.label in page and f"MAILROOM:ROUTE:{category.id}" in page


def test_summary_is_printed(config, tmp_path, capsys):
    cmd_sheets(config, argparse.Namespace(out=str(tmp_path / "f.pdf"), category=["routes"], no_separator=False))
    output = capsys.readouterr().out
    assert "2 page(s)" in output and "feuille de séparation" in output and "Routes départementales" in output


def test_category_filter_and_no_separator(config, tmp_path):
    out = tmp_path / "f.pdf"
    assert cmd_sheets(config, argparse.Namespace(out=str(out), category=["factures", "routes"],
                                                 no_separator=True)) == 0
    result = plan_documents(open_source(out, config.ingest), "separator", config)
    assert [why for _, why in result.dropped] == ["page de garde d'aiguillage (factures)",
                                                  "page de garde d'aiguillage (routes)"]


def test_unknown_category_is_refused(config, tmp_path, capsys):
    code = cmd_sheets(config, argparse.Namespace(out=str(tmp_path / "f.pdf"), category=["voirie"],
                                                 no_separator=False))
    assert code == 2 and "voirie" in capsys.readouterr().err
    assert not (tmp_path / "f.pdf").exists()


def test_unwritable_destination_is_reported(config, tmp_path, capsys):
    blocker = tmp_path / "fichier"
    blocker.write_text("")
    code = cmd_sheets(config, argparse.Namespace(out=str(blocker / "f.pdf"), category=None, no_separator=False))
    assert code == 1 and "impossible d'écrire" in capsys.readouterr().err


def test_register_adds_the_command():
    parser = argparse.ArgumentParser(prog="mailroom")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["sheets", "--out", "feuilles.pdf", "--category", "routes"])
    assert args.handler is cmd_sheets and args.out == "feuilles.pdf" and args.category == ["routes"]


def test_every_printed_sheet_reads_back(all_sheets, config):
    """Print → split: every sheet is removed and says what it is; nothing is left as a document."""
    result = plan_documents(open_source(all_sheets, config.ingest), "separator", config)
    assert result.plans == []
    assert result.dropped == [(1, SEPARATOR_SHEET)] + [
        (number, f"page de garde d'aiguillage ({category})")
        for number, category in enumerate(config.categories, start=2)]


# -- a generated duplex batch of five letters, with damaged sheets ---------------------------------

def _low_resolution(image: Image.Image, dpi: int) -> Image.Image:
    """Scanned at ``dpi`` then stored at the batch's resolution (pixelated, as a fax would be)."""
    factor = dpi / DPI
    small = image.resize((round(image.width * factor), round(image.height * factor)), Image.Resampling.BILINEAR)
    return with_dpi(small.resize(image.size, Image.Resampling.NEAREST))


def _bilevel(image: Image.Image) -> Image.Image:
    return with_dpi(image.convert("L").point(lambda v: 255 if v > 150 else 0).convert("L"))


def duplex_batch() -> tuple[list[Image.Image], list]:
    upside_down = with_dpi(sheet("separator").rotate(180))
    blurred = with_dpi(damage(sheet("routes"), blur=2.5, noise=0.03, seed=1))
    fax = _low_resolution(sheet("separator"), 72)
    skewed = _bilevel(with_dpi(sheet("factures").rotate(3, fillcolor=255, resample=Image.Resampling.BICUBIC)))
    sideways = with_dpi(sheet("rsa-insertion").rotate(90, expand=True).resize(sheet("rsa-insertion").size))
    pages = [
        upside_down, blank_back(1),                              # 1-2
        letter(0), letter(0, page=2),                            # 3-4 two-page letter, printed recto verso
        blurred, blank_back(2),                                  # 5-6
        letter(1), blank_back(3, recto=letter(1)),               # 7-8
        fax, blank_back(4),                                      # 9-10
        letter(2), blank_back(5, recto=letter(2), bleed=0.3),    # 11-12
        skewed, blank_back(6),                                   # 13-14
        letter(3), blank_back(7), letter(3, seed=9), blank_back(8),  # 15-18 two sheets, simplex printed
        sideways, blank_back(9),                                 # 19-20
        letter(4), blank_back(10, recto=letter(4)),              # 21-22
    ]
    expected = [
        ([3, 4], [1, 2], None),
        ([7], [5, 6, 8], "routes"),
        ([11], [9, 10, 12], None),
        ([15, 17], [13, 14, 16, 18], "factures"),
        ([21], [19, 20, 22], "rsa-insertion"),
    ]
    return pages, expected


def test_five_letter_duplex_batch_round_trip(config, tmp_path):
    pages, expected = duplex_batch()
    batch = save_scan_pdf([page.convert("L") for page in pages], tmp_path / "lot.pdf", dpi=DPI, quality=70)
    source = open_source(batch, config.ingest)
    assert source.page_count == 22
    result = plan_documents(source, "separator", config)
    assert shapes(result) == expected
    assert [p.route_source for p in result.plans] == [None, ROUTE_COVER_SHEET, None, ROUTE_COVER_SHEET,
                                                      ROUTE_COVER_SHEET]
    reasons = dict(result.dropped)
    assert reasons[1] == reasons[9] == SEPARATOR_SHEET
    assert reasons[5] == "page de garde d'aiguillage (routes)"
    assert all(reasons[page] == BLANK for page in (2, 6, 8, 10, 12, 14, 16, 18, 20, 22))
    used = sorted(page for plan in result.plans for page in plan.source_pages + plan.dropped_pages)
    assert used == list(range(1, 23))


def test_same_batch_without_blank_dropping_keeps_the_backs(tmp_path):
    config = config_for(tmp_path, drop_blank_pages=False)
    pages, _ = duplex_batch()
    result = plan_documents(ListSource(pages), "separator", config)
    assert [plan.source_pages for plan in result.plans] == [
        [2, 3, 4], [6, 7, 8], [10, 11, 12], [14, 15, 16, 17, 18], [20, 21, 22]]


def test_mailroom_sheets_command_line(tmp_path, capsys):
    """Through the real `mailroom` entry point (the lead's cli.py registers this module)."""
    from pipeline.cli import main

    out = tmp_path / "feuilles.pdf"
    assert main(["--home", str(tmp_path / "home"), "sheets", "--out", str(out), "--category", "colleges"]) == 0
    assert "page de garde « Collèges »" in capsys.readouterr().out
    with pikepdf.open(out) as pdf:
        assert len(pdf.pages) == 2


def test_duplex_batch_as_multipage_tiff(config, tmp_path):
    """The same sheets in a 300-dpi multi-page TIFF (the other format scanners write)."""
    pages = [sheet("separator"), blank_back(1), letter(0), blank_back(2, recto=letter(0)),
             sheet("colleges"), blank_back(3), letter(4), letter(4, seed=2)]
    frames = [page.convert("L").resize((2480, 3508)) for page in pages]
    path = tmp_path / "lot.tif"
    frames[0].save(path, save_all=True, append_images=frames[1:], compression="tiff_lzw", dpi=(300, 300))
    source = open_source(path, config.ingest)
    assert source.kind == "image" and source.page_count == 8
    result = plan_documents(source, "separator", config)
    assert shapes(result) == [([3], [1, 2, 4], None), ([7, 8], [5, 6], "colleges")]


def test_cover_sheet_with_its_big_code_hidden_still_routes(config):
    """A sticky note over the big QR code: the copy in the corner still routes the letter."""
    from PIL import ImageDraw

    cover = sheet("factures")
    width, height = cover.size
    ImageDraw.Draw(cover).rectangle((width * 0.2, height * 0.2, width * 0.8, height * 0.6), fill=235)
    result = plan_documents(ListSource([cover, letter(2)]), "separator", config)
    assert shapes(result) == [([2], [1], "factures")]
