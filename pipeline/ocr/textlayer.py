"""The invisible text layer, drawn from Tesseract's hOCR: every word on its own box.

Each word is set on its line's baseline in a glyphless font (Tesseract's
``pdf.ttf``: every code point is the same invisible glyph), font size from the
line height and horizontal scaling (Tz) so that its advance covers exactly the
word's box. A stretched space fills the gap to the next word, so that text
extraction and viewers see real spaces and keep the words of a line together.
"""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pikepdf

GLYPHLESS_TTF = Path("/usr/share/tesseract-ocr/5/tessdata/pdf.ttf")
FONT_KEY = pikepdf.Name("/FGlyphless")
GLYPH_WIDTH = 0.5  # em: the font's single glyph is 500 units wide
JUNK_CONFIDENCE = 60  # below this, a "word" without a letter or digit is dropped
ASCENT = 0.8       # em: where the selection box of a word stops above the baseline
MIN_SPACE = 0.2    # em: the least room left between two words' glyphs (extractors join closer words)


@dataclass
class Word:
    text: str
    confidence: float
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels, y down


@dataclass
class Line:
    box: tuple[int, int, int, int]
    slope: float
    offset: float                   # baseline = box.y1 + offset + slope * (x - box.x0)
    size: float                     # text height in pixels (hOCR x_size)
    paragraph: str
    words: list[Word] = field(default_factory=list)


TITLE_BOX = re.compile(r"bbox (-?\d+) (-?\d+) (-?\d+) (-?\d+)")
TITLE_BASELINE = re.compile(r"baseline (-?[\d.]+) (-?[\d.]+)")
TITLE_SIZE = re.compile(r"x_size ([\d.]+)")
TITLE_CONF = re.compile(r"x_wconf (\d+)")
LINE_CLASSES = {"ocr_line", "ocr_header", "ocr_caption", "ocr_textfloat"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def parse_hocr(hocr: str) -> list[Line]:
    """Lines and words of a Tesseract hOCR page, in Tesseract's reading order."""
    root = ET.fromstring(hocr.encode("utf-8"))
    lines: list[Line] = []
    paragraph = ""
    for element in root.iter():
        klass = element.get("class", "")
        if klass == "ocr_par":
            paragraph = element.get("id", str(len(lines)))
            continue
        if klass not in LINE_CLASSES:
            continue
        title = element.get("title", "")
        box = TITLE_BOX.search(title)
        if not box:
            continue
        baseline = TITLE_BASELINE.search(title)
        size = TITLE_SIZE.search(title)
        x0, y0, x1, y1 = (int(v) for v in box.groups())
        line = Line((x0, y0, x1, y1), float(baseline.group(1)) if baseline else 0.0,
                    float(baseline.group(2)) if baseline else 0.0,
                    float(size.group(1)) if size else float(y1 - y0), paragraph)
        for span in element:
            if span.get("class") != "ocrx_word":
                continue
            text = "".join(span.itertext()).strip()
            word_box = TITLE_BOX.search(span.get("title", ""))
            confidence = TITLE_CONF.search(span.get("title", ""))
            score = float(confidence.group(1)) if confidence else 0.0
            if not text or not word_box or (score < JUNK_CONFIDENCE and not any(ch.isalnum() for ch in text)):
                continue  # a doubtful lone '|' or '.' is a speck of dust, not a word
            line.words.append(Word(text, score, tuple(int(v) for v in word_box.groups())))
        if line.words:
            lines.append(line)
    return lines


def plain_text(lines: list[Line]) -> str:
    """The page's text: one line per OCR line, a blank line between paragraphs."""
    out: list[str] = []
    previous = None
    for line in lines:
        if previous is not None and line.paragraph != previous:
            out.append("")
        out.append(" ".join(word.text for word in line.words))
        previous = line.paragraph
    return "\n".join(out)


def _encode(text: str) -> bytes:
    """UTF-16BE code units as CIDs (Identity-H); characters outside the BMP become U+FFFD."""
    return "".join(ch if ord(ch) < 0x10000 and not 0xD800 <= ord(ch) < 0xE000 else "\ufffd"
                   for ch in text).encode("utf-16-be")


def _hex(data: bytes) -> bytes:
    return b"<" + data.hex().encode() + b">"


def content(lines: list[Line], dpi: float, page_height_px: int) -> bytes:
    """Content stream drawing every word invisibly (text render mode 3) on its box."""
    scale = 72.0 / dpi
    ops = [b"BT", b"3 Tr"]
    for line in lines:
        angle = -math.atan(line.slope)  # PDF y goes up
        cos, sin = math.cos(angle), math.sin(angle)
        size = max(1.0, line.size * scale)
        ops.append(b"/FGlyphless %.2f Tf" % size)
        for index, word in enumerate(line.words):
            x0, _, x1, _ = word.box
            if index + 1 < len(line.words):
                # Word boxes hug the ink: « penser à » can leave a pixel between two words, and pdftotext
                # (poppler) then reads one word. Such a word's glyphs end a little short of its box.
                room = line.words[index + 1].box[0] - MIN_SPACE * line.size
                x1 = max(min(x1, room), x0 + 0.7 * (x1 - x0))
            base_y = line.box[3] + line.offset + line.slope * (x0 - line.box[0])
            x, y = x0 * scale, (page_height_px - base_y) * scale
            width = max(1.0, x1 - x0) * scale
            chars = len(word.text)
            ops.append(b"%.4f %.4f %.4f %.4f %.2f %.2f Tm" % (cos, sin, -sin, cos, x, y))
            ops.append(b"%.2f Tz %s Tj" % (100.0 * width / (chars * GLYPH_WIDTH * size), _hex(_encode(word.text))))
            if index + 1 < len(line.words):
                gap = max(1.0, line.words[index + 1].box[0] - x1) * scale
                ops.append(b"%.2f Tz <0020> Tj" % (100.0 * gap / (GLYPH_WIDTH * size)))
    ops.append(b"ET")
    return b"\n".join(ops) + b"\n"


def _to_unicode(pdf: pikepdf.Pdf) -> pikepdf.Stream:
    ranges = [b"<%02X00> <%02XFF> <%02X00>" % (high, high, high) for high in range(256) if not 0xD8 <= high < 0xE0]
    blocks = []
    for start in range(0, len(ranges), 100):
        chunk = ranges[start:start + 100]
        blocks.append(b"%d beginbfrange\n" % len(chunk) + b"\n".join(chunk) + b"\nendbfrange")
    cmap = (b"/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
            b"/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            b"/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
            b"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n" + b"\n".join(blocks) +
            b"\nendcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n")
    return pikepdf.Stream(pdf, cmap)


def glyphless_font(pdf: pikepdf.Pdf) -> pikepdf.Dictionary:
    """A Type 0 font whose every CID shows the same empty glyph, embedded (PDF/A needs it)."""
    font_file = pikepdf.Stream(pdf, GLYPHLESS_TTF.read_bytes())
    font_file.Length1 = len(GLYPHLESS_TTF.read_bytes())
    descriptor = pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.FontDescriptor, FontName=pikepdf.Name.GlyphLessFont, Flags=5,
        FontBBox=[0, -200, 500, 800], ItalicAngle=0, Ascent=int(ASCENT * 1000), Descent=-200,
        CapHeight=800, StemV=80, FontFile2=font_file))
    cid_to_gid = pikepdf.Stream(pdf, b"\x00\x01" * 65536)
    descendant = pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.CIDFontType2, BaseFont=pikepdf.Name.GlyphLessFont,
        CIDSystemInfo=pikepdf.Dictionary(Registry=pikepdf.String("Adobe"), Ordering=pikepdf.String("Identity"),
                                         Supplement=0),
        FontDescriptor=descriptor, DW=int(GLYPH_WIDTH * 1000), CIDToGIDMap=cid_to_gid))
    return pdf.make_indirect(pikepdf.Dictionary(
        Type=pikepdf.Name.Font, Subtype=pikepdf.Name.Type0, BaseFont=pikepdf.Name.GlyphLessFont,
        Encoding=pikepdf.Name("/Identity-H"), DescendantFonts=[descendant], ToUnicode=_to_unicode(pdf)))
