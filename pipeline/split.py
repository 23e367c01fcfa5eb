"""Cut a scanned batch back into letters (issue #3).

Pages are rasterised one at a time at ``split.barcode_dpi`` (or taken from a
scanner page's own image, reduced to about that) and forgotten at once, so
memory does not grow with the batch. On each page the codes are read
first (a separator or cover sheet is never mistaken for a blank page, however
little ink it has), then blankness is measured on the same raster.

Who owns a removed page (``DocumentPlan.dropped_pages``): the document it was
scanned with. A blank page after content is the back of that content and
belongs to the document in progress. A separator or cover sheet, and the blank
pages that follow it (its own back), belong to the document that comes next,
the one the sheet introduces. Blank pages before the first letter go to the
first document; sheets and blanks at the very end go to the last one. A batch
with no letter at all gives no plan, and ``SplitResult.reason`` says why.

In "none" and "pages:N" modes no code is read (such an inbox receives no
sheets); only blank pages are removed, and "pages:N" counts source pages, so
that a blank back still takes its place in its group of N.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np
import pikepdf
from PIL import Image

from .barcodes import PageCodes, read_codes
from .blank import analyse_ink, blank_report, image_dpi, page_ink
from .config import Config
from .ingest import PDF, BadInput, Source
from .records import ROUTE_COVER_SHEET, DocumentPlan

log = logging.getLogger(__name__)

BLANK = "page blanche"
SEPARATOR_SHEET = "feuille de séparation"
COVER_SHEET = "page de garde d'aiguillage ({category})"
CONTENT, BLANK_PAGE, SEPARATOR_PAGE, COVER_PAGE = "content", "blank", "separator", "cover"
MAX_RASTER_DPI_FACTOR = 1.2   # scans finer than this × barcode_dpi are reduced first
MAX_RASTER_PIXELS = 10_000_000  # above an A3 page at 200 dpi; larger pages (posters) are rasterised coarser


@dataclass
class SplitResult:
    """The documents found in a batch, and every page that was removed with its reason (French)."""

    plans: list[DocumentPlan] = field(default_factory=list)
    dropped: list[tuple[int, str]] = field(default_factory=list)

    @property
    def problem(self) -> BadInput | None:
        """Why there is no document at all (for the quarantine), None when there is one."""
        if self.plans:
            return None
        if self.dropped and all(reason == BLANK for _, reason in self.dropped):
            return BadInput("no-letter-all-blank")
        return BadInput("no-letter")


@dataclass(frozen=True)
class PageKind:
    kind: str
    category: str | None = None

    @property
    def reason(self) -> str:
        if self.kind == BLANK_PAGE:
            return BLANK
        if self.kind == SEPARATOR_PAGE:
            return SEPARATOR_SHEET
        return COVER_SHEET.format(category=self.category)


def _page_inches(source: Source, page: int) -> tuple[float, float] | None:
    """A PDF page's size in inches (UserUnit included), None when it cannot be read."""
    try:
        with pikepdf.open(source.path) as pdf:
            pdf_page = pdf.pages[page - 1]
            box = [float(v) for v in pdf_page.mediabox]
            unit = float(pdf_page.obj.get("/UserUnit", 1))
    except Exception:  # the render below will say what is wrong with the file
        return None
    return abs(box[2] - box[0]) * unit / 72.0, abs(box[3] - box[1]) * unit / 72.0


def _scan_image(source: Source, page: int, dpi: int) -> Image.Image:
    """The page as scanned: a scanner page's own image when it is one (no poppler run), else a render.

    Taking the embedded image is several times cheaper than rendering, which
    matters when separation must stay small next to OCR. Only plain scanner
    pages qualify (one upright image over the whole page, nothing else drawn;
    see pipeline.ocr.source_image), so nothing that the render would show is
    missed; anything unusual about the image falls back to poppler. Posters
    and other oversized pages are rasterised coarser, never above MAX_RASTER_PIXELS.
    """
    if source.kind != PDF:
        return source.render(page, dpi)
    inches = _page_inches(source, page)
    if inches is not None and inches[0] * inches[1] * dpi * dpi > MAX_RASTER_PIXELS:
        return source.render(page, max(10, int((MAX_RASTER_PIXELS / (inches[0] * inches[1])) ** 0.5)))
    try:
        from .ocr.source_image import load
        scan = load(source, page, dpi)
        if not scan.native:  # load() already rendered it at ``dpi``
            scan.image.info["dpi"] = (scan.dpi, scan.dpi)
            return scan.image
        image, native = scan.image, scan.dpi
        if scan.reusable and image.width * image.height <= MAX_RASTER_PIXELS:
            if native >= 2 * dpi:  # a JPEG decodes straight at 1/2, 1/4…; other images ignore this
                full_width = image.width
                image.draft("L", (round(image.width * dpi / native), round(image.height * dpi / native)))
                native *= image.width / full_width
            image.load()  # decode now, so that a codec problem falls back to poppler below
            image.info["dpi"] = (native, native)
            return image
    except BadInput:
        raise
    except Exception as error:  # an optimisation only: JBIG2 without jbig2dec, odd colour spaces…
        log.debug("%s page %d: embedded image not usable (%s), rendering", source.path.name, page, error)
    return source.render(page, dpi)


def _gray_page(source: Source, page: int, dpi: int) -> tuple[np.ndarray, float]:
    """One page as an 8-bit gray array near ``dpi`` (finer scans are reduced, coarser ones kept)."""
    image = _scan_image(source, page, dpi)
    native = image_dpi(image)
    gray = np.asarray(image.convert("L"))
    del image
    if native > dpi * MAX_RASTER_DPI_FACTOR:
        scale = dpi / native
        gray = cv2.resize(gray, None, fx=scale, fy=scale,  # linear is 5× faster; area when aliasing bites
                          interpolation=cv2.INTER_LINEAR if scale >= 0.5 else cv2.INTER_AREA)
        native = float(dpi)
    return gray, native


def _route(codes: PageCodes, page: int, config: Config) -> str | None:
    routes = codes.routes
    if not routes:
        return None
    valid = ", ".join(sorted(config.categories))
    unknown = [category for category in routes if category not in config.categories]
    if unknown:
        raise BadInput("unknown-cover-category", page=page, category=unknown[0], valid=valid)
    if len(routes) > 1:
        raise BadInput("contradictory-cover-codes", page=page, routes=", ".join(routes))
    return routes[0]


def classify_page(source: Source, page: int, config: Config, with_codes: bool, number: int | None = None) -> PageKind:
    """Separator, cover sheet, blank or content: one raster and one ink mask, read then measured.

    ``number`` is the page's number in its batch when ``source`` holds that page alone (a remote worker).
    """
    gray, dpi = _gray_page(source, page, config.split.barcode_dpi)
    ink = None
    if with_codes:
        ink = page_ink(gray, dpi)
        codes = read_codes(gray, dpi, ink)
        category = _route(codes, number or page, config)
        if category is not None:
            return PageKind(COVER_PAGE, category)
        if codes.separator:
            return PageKind(SEPARATOR_PAGE)
        if codes.retried and not codes.texts:  # kept as content, as it must be; say so for support
            log.info("%s page %d: looks like it carries a code, none could be read (kept as content)",
                     source.path.name, number or page)
    if config.split.drop_blank_pages:
        report = analyse_ink(ink if ink is not None else page_ink(gray, dpi))
        if blank_report(report, config.ocr.blank_ink_ratio):
            return PageKind(BLANK_PAGE)
    return PageKind(CONTENT)


def _by_separators(kinds, result: SplitResult) -> None:
    """"separator" mode: a sheet ends the document in progress; the next content page starts one.

    Sheets in a row make no empty document. A cover sheet's route holds until
    the next letter, across plain separators; of two cover sheets in a row the
    one nearest the letter wins. A route with no letter after it is ignored.
    """
    current: DocumentPlan | None = None   # the document receiving content pages
    waiting: list[int] = []               # removed pages owned by the next document
    route: str | None = None              # category forced on the next document
    between = False                       # a sheet was seen since the last content page
    for page, kind in kinds:
        if kind.kind == CONTENT:
            if current is None or between:
                current = DocumentPlan(source_pages=[], dropped_pages=waiting, category=route,
                                       route_source=ROUTE_COVER_SHEET if route else None)
                result.plans.append(current)
                waiting, route, between = [], None, False
            current.source_pages.append(page)
            continue
        result.dropped.append((page, kind.reason))
        if kind.kind == BLANK_PAGE:
            (current.dropped_pages if current is not None and not between else waiting).append(page)
            continue
        waiting.append(page)
        between = True
        if kind.kind == COVER_PAGE:
            route = kind.category
    if waiting and current is not None:
        current.dropped_pages.extend(waiting)


def _by_count(kinds, result: SplitResult, size: int | None) -> None:
    """``none`` (size None) or ``pages:N``: groups of source pages, blank ones removed inside each group."""
    groups: dict[int, DocumentPlan] = {}
    for page, kind in kinds:
        key = 0 if size is None else (page - 1) // size
        plan = groups.setdefault(key, DocumentPlan(source_pages=[]))
        if kind.kind == BLANK_PAGE:
            plan.dropped_pages.append(page)
            result.dropped.append((page, kind.reason))
        else:
            plan.source_pages.append(page)
    orphans: list[int] = []  # blank groups before the first letter wait for it
    for key in sorted(groups):
        plan = groups[key]
        if not plan.source_pages:
            (result.plans[-1].dropped_pages if result.plans else orphans).extend(plan.dropped_pages)
            continue
        plan.dropped_pages.extend(orphans)
        orphans = []
        result.plans.append(plan)


def parse_mode(mode: str) -> tuple[int | None, bool]:
    """("separator" | "none" | "pages:N") → (group size or None, whether codes are read)."""
    if mode == "separator":
        return None, True
    if mode == "none":
        return None, False
    if mode.startswith("pages:") and mode[6:].isdigit() and int(mode[6:]) > 0:
        return int(mode[6:]), False
    raise ValueError(f'unknown split mode {mode!r}: "separator", "none" or "pages:N"')


def needs_raster(mode: str, config: Config) -> bool:
    """Whether pages must be looked at (codes or blank pages), or all are content."""
    return parse_mode(mode)[1] or config.split.drop_blank_pages


def plan_from_kinds(kinds, mode: str) -> SplitResult:
    """The documents of a batch from its pages' kinds, ``(page, PageKind)`` in page order."""
    size, with_codes = parse_mode(mode)
    result = SplitResult()
    if with_codes:
        _by_separators(kinds, result)
    else:
        _by_count(kinds, result, size)
    for plan in result.plans:
        plan.dropped_pages.sort()
    return result


def plan_documents(source: Source, mode: str, config: Config) -> SplitResult:
    """Split ``source`` according to ``mode`` ("separator" | "none" | "pages:N").

    Raises BadInput for a cover sheet naming an unknown category (the batch goes
    to quarantine rather than to the wrong service).
    """
    with_codes = parse_mode(mode)[1]
    raster = needs_raster(mode, config)

    def kinds():
        for page in range(1, source.page_count + 1):
            kind = classify_page(source, page, config, with_codes) if raster else PageKind(CONTENT)
            log.debug("%s page %d: %s", source.path.name, page, kind.kind)
            yield page, kind

    return plan_from_kinds(kinds(), mode)
