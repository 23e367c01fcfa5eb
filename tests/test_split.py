"""Batch separation on paperless-ngx's real barcode samples, then the splitting rules page by page."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipeline.barcodes import read_codes, read_page_codes
from pipeline.ingest import BadInput, open_source
from pipeline.records import ROUTE_COVER_SHEET
from pipeline.split import BLANK, SEPARATOR_SHEET, SplitResult, plan_documents
from tests.support.corpus import corpus_file
from tests.test_split_support import ListSource, blank_back, config_for, letter, sheet, shapes, with_dpi

# file -> expected (source_pages, dropped_pages) per document, separator mode, blank pages dropped.
# Pages 1-based; values from MANIFEST.md (and paperless-ngx's own tests for the document counts).
PAPERLESS = {
    "barcodes__patch-code-t-middle.pdf": [([1], []), ([3], [2])],
    "barcodes__patch-code-t-middle-reverse.pdf": [([1], []), ([3], [2])],       # sheet upside down
    "barcodes__patch-code-t-middle-fuzzy.pdf": [([1], []), ([3], [2])],         # blurred
    "barcodes__patch-code-t-middle-distorted.pdf": [([1], []), ([3], [2])],     # 72-dpi, warped
    "barcodes__patch-code-t-middle-unreadable.pdf": [([1, 2, 3], [])],          # damaged: no split
    "barcodes__patch-code-t-middle.tiff": [([1], []), ([3], [2])],              # 3-frame RGB TIFF
    "barcodes__patch-code-t-middle-alpha.tiff": [([1], []), ([3], [2])],        # gray + alpha TIFF
    "barcodes__patch-code-t-double.pdf": [([1], []), ([4], [2, 3])],            # two sheets in a row
    "barcodes__several-patcht-codes.pdf": [([1, 2], []), ([4, 5], [3]), ([7], [6])],
    "barcodes__barcode-fax-image.pdf": [([1], []), ([3], [2])],                 # real CCITT scan
    "barcodes__patch-code-t.pdf": [],                                           # only a separator
    "barcodes__patch-code-t-qr.pdf": [],                                        # PATCHT as a QR code
    "barcodes__many-qr-codes.pdf": [([1, 2, 3], [])],                           # other codes: no split
    "barcodes__split-by-tag-basic.pdf": [([1, 2, 3, 4, 5, 6], [])],
    "barcodes__barcode-39-asn-123.pdf": [([1], [])],
    "barcodes__barcode-qr-custom.pdf": [([1], [])],
    # PATCHT on p3; pages 2, 7, 8, 10, 12 are truly blank (no ink at all) and are dropped.
    "barcodes__split-by-asn-2.pdf": [([1], [2]), ([4, 5, 6, 9, 11], [3, 7, 8, 10, 12])],
    "double-sided-odd.pdf": [([1, 2, 3], [])],    # one short line per page: not blank
    "double-sided-even.pdf": [([1, 2], [])],
}


@pytest.fixture(scope="module")
def config(tmp_path_factory):
    return config_for(tmp_path_factory.mktemp("home"))


@pytest.mark.parametrize("name", sorted(PAPERLESS))
def test_paperless_samples(name, config):
    source = open_source(corpus_file("paperless", name), config.ingest)
    result = plan_documents(source, "separator", config)
    assert [(p.source_pages, p.dropped_pages) for p in result.plans] == PAPERLESS[name]
    assert all(p.category is None and p.route_source is None for p in result.plans)
    kept = {page for plan in result.plans for page in plan.source_pages}
    dropped = {page for page, _ in result.dropped}
    assert kept | dropped == set(range(1, source.page_count + 1)) and not kept & dropped


def test_patcht_pages_are_recorded_as_separators(config):
    source = open_source(corpus_file("paperless", "barcodes__several-patcht-codes.pdf"), config.ingest)
    assert plan_documents(source, "separator", config).dropped == [(3, SEPARATOR_SHEET), (6, SEPARATOR_SHEET)]


def test_keeping_blank_pages_gives_paperless_own_split(tmp_path):
    config = config_for(tmp_path, drop_blank_pages=False)
    source = open_source(corpus_file("paperless", "barcodes__split-by-asn-2.pdf"), config.ingest)
    result = plan_documents(source, "separator", config)
    assert [(p.source_pages, p.dropped_pages) for p in result.plans] == [([1, 2], []), ([4, 5, 6, 7, 8, 9, 10, 11, 12], [3])]


def test_blank_batch_gives_no_plan_and_says_why(config):
    source = open_source(corpus_file("ocrmypdf", "blank.pdf"), config.ingest)
    result = plan_documents(source, "separator", config)
    assert result.plans == [] and result.dropped == [(1, BLANK)]
    assert result.problem.code == "no-letter-all-blank" and "toutes les pages sont blanches" in result.problem.reason


def test_separator_only_batch_reason(config):
    source = open_source(corpus_file("paperless", "barcodes__patch-code-t.pdf"), config.ingest)
    result = plan_documents(source, "separator", config)
    assert result.plans == [] and result.problem.code == "no-letter"
    assert "feuilles de séparation" in str(result.problem)


# -- modes --------------------------------------------------------------------------------------

def test_mode_none_keeps_one_document_and_ignores_sheets(config):
    source = open_source(corpus_file("paperless", "barcodes__several-patcht-codes.pdf"), config.ingest)
    assert shapes(plan_documents(source, "none", config)) == [([1, 2, 3, 4, 5, 6, 7], [], None)]


def test_mode_pages_counts_source_pages(config):
    source = open_source(corpus_file("paperless", "barcodes__several-patcht-codes.pdf"), config.ingest)
    result = plan_documents(source, "pages:3", config)
    assert shapes(result) == [([1, 2, 3], [], None), ([4, 5, 6], [], None), ([7], [], None)]


def test_mode_pages_drops_blank_backs_inside_each_group(config):
    # single-sheet forms scanned duplex, pages:2: every second page is a blank back, counted but dropped
    pages = [letter(0), blank_back(1), letter(1), blank_back(2, recto=letter(1)), letter(2), blank_back(3)]
    result = plan_documents(ListSource(pages), "pages:2", config)
    assert shapes(result) == [([1], [2], None), ([3], [4], None), ([5], [6], None)]
    assert result.dropped == [(2, BLANK), (4, BLANK), (6, BLANK)]


def test_mode_none_without_blank_dropping_renders_nothing(tmp_path):
    config = config_for(tmp_path, drop_blank_pages=False)
    source = ListSource([blank_back(1), letter(0)])
    assert shapes(plan_documents(source, "none", config)) == [([1, 2], [], None)]
    assert source.rendered == []


def test_unknown_mode_is_refused(config):
    with pytest.raises(ValueError):
        plan_documents(ListSource([letter(0)]), "pages:0", config)


# -- separator rules on made-up batches ------------------------------------------------------------

def test_duplex_rules_ownership_of_removed_pages(config):
    pages = [
        blank_back(1),                                  # 1 blank before anything: first document's
        letter(0), blank_back(2, recto=letter(0)),      # 2-3 letter A, its back
        sheet("separator"), blank_back(3),              # 4-5 separator and its back: B's
        letter(1), letter(1, page=2, seed=1),           # 6-7 letter B (two pages, simplex)
        sheet("separator"), sheet("separator"),         # 8-9 two separators in a row: no empty document
        letter(2), blank_back(4),                       # 10-11 letter C
        sheet("separator"), blank_back(5),              # 12-13 trailing separator: C's, no empty document
    ]
    result = plan_documents(ListSource(pages), "separator", config)
    assert shapes(result) == [([2], [1, 3], None), ([6, 7], [4, 5], None), ([10], [8, 9, 11, 12, 13], None)]
    assert [why for _, why in result.dropped] == [BLANK, BLANK, SEPARATOR_SHEET, BLANK, SEPARATOR_SHEET,
                                                  SEPARATOR_SHEET, BLANK, SEPARATOR_SHEET, BLANK]


def test_batch_without_separator_stays_one_document(config):
    pages = [letter(0), letter(1), blank_back(1), letter(2)]
    assert shapes(plan_documents(ListSource(pages), "separator", config)) == [([1, 2, 4], [3], None)]


def test_cover_sheet_routes_the_next_document_only(config):
    pages = [sheet("routes"), blank_back(1), letter(0), blank_back(2),
             sheet("separator"), letter(1),
             sheet("factures"), letter(2), letter(2, page=1, seed=3)]
    result = plan_documents(ListSource(pages), "separator", config)
    assert shapes(result) == [([3], [1, 2, 4], "routes"), ([6], [5], None), ([8, 9], [7], "factures")]
    assert [p.route_source for p in result.plans] == [ROUTE_COVER_SHEET, None, ROUTE_COVER_SHEET]
    assert (1, "page de garde d'aiguillage (routes)") in result.dropped


def test_nearest_cover_sheet_wins(config):
    pages = [sheet("routes"), sheet("separator"), sheet("factures"), letter(0)]
    assert shapes(plan_documents(ListSource(pages), "separator", config)) == [([4], [1, 2, 3], "factures")]


def test_route_holds_across_a_separator_and_a_trailing_one_is_ignored(config):
    pages = [sheet("colleges"), sheet("separator"), letter(4), sheet("routes"), blank_back(1)]
    result = plan_documents(ListSource(pages), "separator", config)
    assert shapes(result) == [([3], [1, 2, 4, 5], "colleges")]


def test_unknown_category_quarantines_the_batch(tmp_path):
    toml = '[categories.autre]\nlabel = "Autre"\nlibrary = "A-qualifier"\n' \
           '[categories.factures]\nlabel = "Factures"\nlibrary = "Factures"\n'
    config = config_for(tmp_path, toml=toml)
    with pytest.raises(BadInput) as error:
        plan_documents(ListSource([letter(0), sheet("routes"), letter(1)]), "separator", config)
    assert "« routes »" in error.value.reason and "autre, factures" in error.value.reason


def _page_with_qr_codes(*values: str) -> Image.Image:
    import zxingcpp

    page = blank_back(3).convert("L")
    for index, value in enumerate(values):
        code = Image.fromarray(np.asarray(zxingcpp.create_barcode(value, zxingcpp.BarcodeFormat.QRCode)
                                          .to_image(scale=10)))
        page.paste(code, (150 + index * 700, 600))
    return with_dpi(page)


def test_route_codes_are_read_case_and_space_tolerant(config):
    page = _page_with_qr_codes(" mailroom:route:Routes ")
    assert shapes(plan_documents(ListSource([page, letter(0)]), "separator", config)) == [([2], [1], "routes")]


def test_contradictory_route_codes_quarantine_the_batch(config):
    page = _page_with_qr_codes("MAILROOM:ROUTE:routes", "MAILROOM:ROUTE:factures")
    with pytest.raises(BadInput) as error:
        plan_documents(ListSource([letter(0), page, letter(1)]), "separator", config)
    assert "page 2" in error.value.reason and "contradictoires" in error.value.reason


def test_same_route_twice_on_a_page_is_fine(config):
    page = _page_with_qr_codes("MAILROOM:ROUTE:routes", "MAILROOM:ROUTE:routes")
    assert shapes(plan_documents(ListSource([page, letter(0)]), "separator", config)) == [([2], [1], "routes")]


def test_every_page_rendered_once_at_the_barcode_dpi(config):
    seen = []

    class Recording(ListSource):
        def render(self, page, dpi=None):
            seen.append((page, dpi))
            return super().render(page, dpi)

    plan_documents(Recording([letter(0), sheet("separator"), letter(1)]), "separator", config)
    assert seen == [(1, 200), (2, 200), (3, 200)]


# -- bad scans of separator sheets ----------------------------------------------------------------

def _downscaled(image: Image.Image, dpi: int) -> Image.Image:
    factor = dpi / image.info["dpi"][0]
    small = image.resize((round(image.width * factor), round(image.height * factor)), Image.Resampling.BILINEAR)
    return with_dpi(small, dpi)


def test_small_patcht_sheet_needs_the_upscaled_retry(config):
    patch = open_source(corpus_file("paperless", "barcodes__patch-code-t.pdf"), config.ingest).render(1, 200)
    tiny = _downscaled(patch, 60)  # a reduced copy of the sheet, or a 60-dpi fax
    codes = read_page_codes(tiny)
    assert codes.separator and codes.retried
    result = plan_documents(ListSource([letter(0), tiny, letter(1)]), "separator", config)
    assert shapes(result) == [([1], [], None), ([3], [2], None)]


def test_sideways_patcht_sheet_is_found_by_the_thorough_pass(config):
    """A Code 39 sheet fed landscape: the quick pass only looks upright, the retry in every direction."""
    patch = open_source(corpus_file("paperless", "barcodes__patch-code-t.pdf"), config.ingest).render(1, 200)
    sideways = with_dpi(patch.rotate(90, expand=True))
    codes = read_page_codes(sideways)
    assert codes.separator and codes.retried


@pytest.mark.parametrize("index", range(5))
def test_letters_do_not_take_the_slow_path(index):
    """Letterheads, rules and edge shadows must not look like codes: the retry is for sheets only."""
    image = letter(index)
    assert not read_codes(np.asarray(image.convert("L")), 200).retried


def test_split_result_is_a_dataclass_with_defaults():
    assert SplitResult().plans == [] and SplitResult().dropped == []


def test_memory_does_not_grow_with_the_batch(config):
    """Pages are rasterised one at a time and dropped: peak memory for 24 pages ≈ for 3 pages."""
    import tracemalloc

    class Scanner(ListSource):
        """Hands out fresh page images, as a renderer would, without keeping them."""

        def __init__(self, count):
            super().__init__([])
            self.page_count = count

        def render(self, page, dpi=None):
            return (sheet("separator") if page % 6 == 0 else blank_back(page % 2) if page % 2 else letter(0)).copy()

    peaks = []
    for count in (3, 24):
        source = Scanner(count)
        source.render(1), source.render(2), source.render(6)  # warm the page caches outside the measure
        tracemalloc.start()
        plan_documents(source, "separator", config)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[0] > 4_000_000  # numpy arrays are traced: one 200-dpi page is ~4 MB
    assert peaks[1] < peaks[0] * 1.5 + 1_000_000, peaks


@pytest.mark.parametrize("name,expected", [
    ("linn.pdf", [([1], [])]),        # JBIG2: falls back to poppler when pikepdf cannot decode it
    ("ccitt.pdf", [([1], [])]),       # the scanner/fax encoding, taken as embedded
    ("trivial.pdf", []),              # an empty page: blank
    ("hugemono.pdf", [([1], [])]),    # 117-inch 1-bit page: rasterised coarser, memory bounded
])
def test_odd_pdfs(name, expected, config):
    import resource

    source = open_source(corpus_file("ocrmypdf", name), config.ingest)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = plan_documents(source, "separator", config)
    assert [(p.source_pages, p.dropped_pages) for p in result.plans] == expected
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 400, grown_mb
