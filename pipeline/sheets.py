"""`mailroom sheets`: the printable separator sheet and routing cover sheets (A4 PDF).

The codes are large QR codes (error correction H, ~2 mm modules) so that a
photocopied, crumpled, blurred or 150-dpi scan still reads; each sheet carries
the code twice, so a sticky note or a staple over one does not matter. The
separator sheet also carries a Code 39 « PATCHT » bar code, the convention of
paperless-ngx and Kodak scanners, so it works in other software too.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reportlab.graphics import renderPDF
from reportlab.graphics.barcode import code39
from reportlab.graphics.barcode.qr import QrCodeWidget
from reportlab.graphics.shapes import Drawing
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from .barcodes import PATCH_T, ROUTE_PREFIX, SEPARATOR
from .config import Category, Config

FONT_FILES = {  # DejaVu covers every label a configuration may hold; Helvetica is the fallback
    "regular": Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
    "bold": Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
}
WIDTH, HEIGHT = A4
MARGIN = 18 * mm


def _fonts() -> tuple[str, str]:
    try:
        for style, path in FONT_FILES.items():
            if f"Mailroom-{style}" not in pdfmetrics.getRegisteredFontNames():
                pdfmetrics.registerFont(TTFont(f"Mailroom-{style}", str(path)))
        return "Mailroom-regular", "Mailroom-bold"
    except Exception:  # fonts missing: the standard fonts cover Latin-1 French
        return "Helvetica", "Helvetica-Bold"


def _fit(canvas: Canvas, text: str, font: str, size: float, width: float) -> float:
    """The largest size ≤ ``size`` at which ``text`` fits in ``width``."""
    return min(size, size * width / max(1.0, canvas.stringWidth(text, font, size)))


def _centred(canvas: Canvas, text: str, font: str, size: float, y: float) -> None:
    size = _fit(canvas, text, font, size, WIDTH - 2 * MARGIN)
    canvas.setFont(font, size)
    canvas.drawCentredString(WIDTH / 2, y, text)


def _qr(canvas: Canvas, value: str, x: float, y: float, side: float) -> None:
    widget = QrCodeWidget(value, barLevel="H", barBorder=0)
    left, bottom, right, top = widget.getBounds()
    drawing = Drawing(side, side, transform=[side / (right - left), 0, 0, side / (top - bottom), 0, 0])
    drawing.add(widget)
    renderPDF.draw(drawing, canvas, x, y)


def _instructions(canvas: Canvas, font: str, lines: list[str], top: float) -> None:
    """Bulleted lines, wrapped to the page width."""
    canvas.setFont(font, 11)
    y = top
    for line in lines:
        for index, part in enumerate(simpleSplit(line, font, 11, WIDTH - 2 * MARGIN - 14)):
            if index == 0:
                canvas.drawString(MARGIN, y, "•")
            canvas.drawString(MARGIN + 14, y, part)
            y -= 15
        y -= 3


def _separator_page(canvas: Canvas, regular: str, bold: str) -> None:
    _centred(canvas, "FEUILLE DE SÉPARATION", bold, 34, HEIGHT - MARGIN - 26)
    _centred(canvas, "Courrier entrant — numérisation par lots", regular, 14, HEIGHT - MARGIN - 50)
    side = 95 * mm
    _qr(canvas, SEPARATOR, (WIDTH - side) / 2, HEIGHT - MARGIN - 70 - side, side)
    canvas.setFont(regular, 9)
    canvas.drawCentredString(WIDTH / 2, HEIGHT - MARGIN - 82 - side, SEPARATOR)
    bars = code39.Standard39(PATCH_T, barWidth=0.6 * mm, barHeight=22 * mm, checksum=0, quiet=1)
    bars.drawOn(canvas, (WIDTH - bars.width) / 2, 118 * mm)
    canvas.setFont(regular, 9)
    canvas.drawCentredString(WIDTH / 2, 113 * mm, "PATCH T (compatible paperless-ngx)")
    _instructions(canvas, regular, [
        "Placer cette feuille AVANT chaque courrier du lot : le courrier qui suit commence un nouveau document.",
        "La feuille est retirée automatiquement ; elle n'apparaît dans aucun document.",
        "Numérisation recto verso possible : le verso blanc est retiré aussi.",
        "Imprimer en recto seul ; réutilisable : ne pas plier, ne pas agrafer, ne rien écrire sur les codes.",
        "Pour imposer le service destinataire, utiliser plutôt une page de garde d'aiguillage.",
    ], 100 * mm)
    _small_copy(canvas, SEPARATOR, regular)


def _cover_page(canvas: Canvas, category: Category, regular: str, bold: str) -> None:
    value = ROUTE_PREFIX + category.id
    _centred(canvas, "PAGE DE GARDE D'AIGUILLAGE", bold, 30, HEIGHT - MARGIN - 24)
    _centred(canvas, "Le courrier qui suit est classé dans :", regular, 15, HEIGHT - MARGIN - 52)
    _centred(canvas, category.label, bold, 40, HEIGHT - MARGIN - 100)
    _centred(canvas, f"Bibliothèque « {category.library} »", regular, 13, HEIGHT - MARGIN - 122)
    side = 90 * mm
    _qr(canvas, value, (WIDTH - side) / 2, HEIGHT - MARGIN - 140 - side, side)
    canvas.setFont(regular, 9)
    canvas.drawCentredString(WIDTH / 2, HEIGHT - MARGIN - 152 - side, value)
    _instructions(canvas, regular, [
        f"Placer cette page AVANT un courrier déjà trié à la main pour « {category.label} ».",
        "Le courrier qui suit est classé dans ce service sans passer par le classement automatique.",
        "Elle sépare aussi les courriers : pas besoin d'ajouter une feuille de séparation.",
        "Elle est retirée automatiquement, ainsi que son verso blanc en recto verso.",
        "Imprimer en recto seul ; réutilisable : ne pas plier, ne pas agrafer, ne rien écrire sur les codes.",
    ], 110 * mm)
    _small_copy(canvas, value, regular)


def _small_copy(canvas: Canvas, value: str, font: str) -> None:
    """A second, smaller copy of the code in the bottom corner, in case the big one is covered."""
    side = 24 * mm
    _qr(canvas, value, WIDTH - MARGIN - side, MARGIN - 4 * mm, side)
    canvas.setFont(font, 7)
    canvas.drawString(MARGIN, MARGIN, "mailroom — imprimer en A4, recto seul, 100 % (sans ajustement à la page)")


def write_sheets(config: Config, out: Path, categories: list[str] | None = None,
                 separator: bool = True) -> list[str]:
    """Write the sheets to ``out``; returns what each page is, in order (for the command's summary)."""
    regular, bold = _fonts()
    chosen = [config.categories[c] for c in categories] if categories else list(config.categories.values())
    out.parent.mkdir(parents=True, exist_ok=True)
    canvas = Canvas(str(out), pagesize=A4, pageCompression=1)
    canvas.setTitle("mailroom — feuilles de séparation et pages de garde")
    canvas.setAuthor("mailroom")
    # Printed recto verso, a sheet would carry two codes: ask viewers for one side, at 100 %.
    canvas.setViewerPreference("Duplex", "Simplex")
    canvas.setViewerPreference("PrintScaling", "None")
    pages = []
    if separator:
        _separator_page(canvas, regular, bold)
        canvas.showPage()
        pages.append("feuille de séparation")
    for category in chosen:
        _cover_page(canvas, category, regular, bold)
        canvas.showPage()
        pages.append(f"page de garde « {category.label} » ({category.id})")
    canvas.save()
    return pages


def cmd_sheets(config: Config, args: argparse.Namespace) -> int:
    categories = args.category or None
    unknown = [c for c in categories or [] if c not in config.categories]
    if unknown:
        print(f"catégorie inconnue : {unknown[0]} (catégories valides : {', '.join(sorted(config.categories))})",
              file=sys.stderr)
        return 2
    out = Path(args.out)
    try:
        pages = write_sheets(config, out, categories, separator=not args.no_separator)
    except OSError as error:
        print(f"impossible d'écrire {out} : {error.strerror or error}", file=sys.stderr)
        return 1
    print(f"{out} : {len(pages)} page(s) A4 à imprimer à 100 %")
    for number, page in enumerate(pages, start=1):
        print(f"  page {number} : {page}")
    return 0


def register(subparsers) -> None:
    """Add `mailroom sheets` to the command line."""
    parser = subparsers.add_parser(
        "sheets", help="print separator and routing cover sheets (A4 PDF)",
        description="Write ready-to-print A4 sheets: a separator sheet, then one routing cover sheet "
                    "per category of the configuration.")
    parser.add_argument("--out", required=True, help="PDF file to write")
    parser.add_argument("--category", action="append", metavar="ID",
                        help="only this category's cover sheet (repeatable); default: every category")
    parser.add_argument("--no-separator", action="store_true", help="leave out the separator sheet")
    parser.set_defaults(handler=cmd_sheets)
