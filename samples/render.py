"""Typeset French letters on A4 and damage them the way a real scanner does.

Used by ``samples/generate.py`` (the demo scans), the OCR tests (pages with known
angles) and the OCR benchmark (a ground-truth set). Every damage is seeded, so a
page is the same on every machine and its text is known exactly.

Text markup, one source line per line (long lines are wrapped):

* ``^ text``  letterhead: large, bold, coloured (the page becomes RGB)
* ``# text``  bold line (subject, heading)
* ``> text``  right-hand block (recipient, place and date, signature)
* ``\\f``      page break (see :func:`render_pages`)
* empty line  paragraph space

The laid-out text, in reading order, is kept in ``image.info["groundtruth"]``.
"""
from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

A4_MM = (210.0, 297.0)
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/truetype/liberation"),
             Path("/usr/share/fonts/truetype/breip"))
FONTS = {  # family -> (regular, bold)
    "serif": ("LiberationSerif-Regular.ttf", "LiberationSerif-Bold.ttf"),
    "sans": ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
    "liberation-sans": ("LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf"),
    "dejavu-serif": ("DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf"),
    "handwriting": ("Breip.ttf", "Breip.ttf"),  # Debian's fonts-breip: an informal hand, for the demo only
}
PAPER = 246          # scanned paper is never pure white
INK = 28             # nor the toner pure black
LETTERHEAD_RGB = (31, 78, 154)


class PageOverflow(ValueError):
    """The text does not fit on one page: use render_pages, or add a \\f."""


def _font_path(name: str) -> str:
    for folder in FONT_DIRS:
        if (folder / name).exists():
            return str(folder / name)
    raise FileNotFoundError(f"font {name} not found (install fonts-dejavu-core / fonts-liberation / fonts-breip)")


@dataclass
class _Layout:
    dpi: int
    family: str
    size_pt: float

    def __post_init__(self) -> None:
        regular, bold = FONTS[self.family]
        px = round(self.size_pt / 72 * self.dpi)
        self.regular = ImageFont.truetype(_font_path(regular), px)
        self.bold = ImageFont.truetype(_font_path(bold), px)
        self.head = ImageFont.truetype(_font_path(bold), round(px * 1.6))
        self.width = round(A4_MM[0] / 25.4 * self.dpi)
        self.height = round(A4_MM[1] / 25.4 * self.dpi)
        self.left = round(25 / 25.4 * self.dpi)        # 2.5 cm margins, as a secretary would set them
        self.right = self.width - self.left
        self.top = round(20 / 25.4 * self.dpi)
        self.bottom = self.height - round(22 / 25.4 * self.dpi)
        self.column = self.left + round((self.right - self.left) * 0.52)
        self.leading = round(px * 1.35)


def _wrap(text: str, font: ImageFont.FreeTypeFont, width: int) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        candidate = f"{line} {word}" if line else word
        if line and font.getlength(candidate) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines or [""]


def _layout_lines(text: str, layout: _Layout) -> list[list[tuple[str, str, str]]]:
    """Source text → pages of (kind, line, markup) rows; kind is 'text' or 'space'."""
    pages: list[list[tuple[str, str, str]]] = [[]]
    y = layout.top
    for chunk_index, chunk in enumerate(text.split("\f")):
        if chunk_index:
            pages.append([])
            y = layout.top
        for raw in chunk.strip("\n").split("\n"):
            markup, body = "", raw.rstrip()
            if body[:2] in ("^ ", "# ", "> "):
                markup, body = body[0], body[2:]
            if not body.strip():
                pages[-1].append(("space", "", ""))
                y += layout.leading // 2
                continue
            font = {"^": layout.head, "#": layout.bold}.get(markup, layout.regular)
            left = layout.column if markup == ">" else layout.left
            for line in _wrap(body, font, layout.right - left):
                step = round(layout.leading * (1.6 if markup == "^" else 1))
                if y + step > layout.bottom:
                    pages.append([])
                    y = layout.top
                pages[-1].append(("text", line, markup))
                y += step
    return [page for page in pages if any(kind == "text" for kind, _, _ in page)]


def _typeset(rows: list[tuple[str, str, str]], layout: _Layout) -> Image.Image:
    colour = any(markup == "^" for _, _, markup in rows)
    image = Image.new("RGB" if colour else "L", (layout.width, layout.height), (PAPER,) * 3 if colour else PAPER)
    draw = ImageDraw.Draw(image)
    ink = (INK,) * 3 if colour else INK
    y = layout.top
    lines = []
    for kind, line, markup in rows:
        if kind == "space":
            y += layout.leading // 2
            continue
        font = {"^": layout.head, "#": layout.bold}.get(markup, layout.regular)
        left = layout.column if markup == ">" else layout.left
        draw.text((left, y), line, font=font, fill=LETTERHEAD_RGB if markup == "^" else ink)
        if markup == "^":  # a rule under the letterhead, as printed stationery has
            rule_y = y + round(layout.leading * 1.35)
            draw.rectangle((layout.left, rule_y, layout.right, rule_y + max(2, layout.dpi // 100)), fill=LETTERHEAD_RGB)
        y += round(layout.leading * (1.6 if markup == "^" else 1))
        lines.append(line)
    image.info["groundtruth"] = "\n".join(lines)
    return image


def _uneven_light(array: np.ndarray, rng: random.Random) -> np.ndarray:
    """A smooth lamp fall-off across the page plus a dark shadow along one edge (the lid or the fold)."""
    height, width = array.shape[:2]
    ys, xs = np.mgrid[0:height, 0:width].astype("float32")
    cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
    distance = np.sqrt(((xs - cx) / width) ** 2 + ((ys - cy) / height) ** 2)
    gain = 1.0 - rng.uniform(0.18, 0.30) * distance / distance.max()
    edge = rng.choice(("left", "right", "top", "bottom"))
    depth = rng.uniform(0.02, 0.05) * (width if edge in ("left", "right") else height)
    along = {"left": xs, "right": width - 1 - xs, "top": ys, "bottom": height - 1 - ys}[edge]
    gain *= 1.0 - 0.55 * np.exp(-along / max(depth / 3, 1))
    if array.ndim == 3:
        gain = gain[..., None]
    return array * gain


def damage(image: Image.Image, *, skew_degrees: float = 0.0, rotate: int = 0, noise: float = 0.0, blur: float = 0.0,
           jpeg_quality: int | None = None, uneven_light: bool = False, seed: int = 0) -> Image.Image:
    """Scanner damage, in the order the scanner adds it: placement, lamp, optics, sensor, compression.

    ``rotate`` is how far (clockwise, 0/90/180/270) the page content is turned in the scan;
    ``skew_degrees`` is a further small counter-clockwise tilt.
    """
    if rotate % 90:
        raise ValueError("rotate must be a multiple of 90")
    rng = random.Random(seed)
    dpi = image.info.get("dpi", (300, 300))
    truth = image.info.get("groundtruth", "")
    fill = PAPER if image.mode == "L" else (PAPER,) * 3
    transpose = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_90}
    if rotate % 360:
        image = image.transpose(transpose[rotate % 360])
    if skew_degrees:
        image = image.rotate(skew_degrees, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=fill)
    array = np.asarray(image, dtype="float32")
    if uneven_light:
        array = _uneven_light(array, rng)
    if blur:
        image = Image.fromarray(array.clip(0, 255).astype("uint8"), image.mode).filter(ImageFilter.GaussianBlur(blur))
        array = np.asarray(image, dtype="float32")
    if noise:
        generator = np.random.default_rng(seed)
        array = array + generator.normal(0.0, noise * 255.0, array.shape[:2] + ((1,) if array.ndim == 3 else ()))
        specks = generator.random(array.shape[:2]) < noise * 0.004  # dust on the glass
        array[specks] = INK
    image = Image.fromarray(array.clip(0, 255).astype("uint8"), image.mode)
    if jpeg_quality:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=jpeg_quality)
        image = Image.open(io.BytesIO(buffer.getvalue()))
        image.load()
    image.info["dpi"] = dpi
    image.info["groundtruth"] = truth
    return image


def render_pages(text: str, *, dpi: int = 300, family: str = "serif", size_pt: float = 11.0,
                 **damage_options) -> list[Image.Image]:
    """A letter of any length → one damaged scan per page (``\\f`` forces a page break)."""
    layout = _Layout(dpi, family, size_pt)
    pages = []
    for index, rows in enumerate(_layout_lines(text, layout)):
        page = _typeset(rows, layout)
        page.info["dpi"] = (dpi, dpi)
        options = dict(damage_options)
        options["seed"] = options.get("seed", 0) + index
        pages.append(damage(page, **options))
    return pages


def render_letter(text: str, *, dpi: int = 300, skew_degrees: float = 0.0, rotate: int = 0, noise: float = 0.0,
                  blur: float = 0.0, jpeg_quality: int | None = None, uneven_light: bool = False, seed: int = 0,
                  family: str = "serif", size_pt: float = 11.0) -> Image.Image:
    """One page of a letter as a scanner would deliver it; raises PageOverflow if it needs two."""
    layout = _Layout(dpi, family, size_pt)
    pages = _layout_lines(text, layout)
    if len(pages) != 1:
        raise PageOverflow(f"the text makes {len(pages)} pages: use render_pages()")
    page = _typeset(pages[0], layout)
    page.info["dpi"] = (dpi, dpi)
    return damage(page, skew_degrees=skew_degrees, rotate=rotate, noise=noise, blur=blur,
                  jpeg_quality=jpeg_quality, uneven_light=uneven_light, seed=seed)


def save_scan_pdf(images: list[Image.Image], path: Path | str, dpi: int = 300, quality: int = 70) -> Path:
    """An image-only PDF as a scanner writes it: one JPEG page per image (CCITT G4 for 1-bit images)."""
    if not images:
        raise ValueError("no page to save")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pages = [image if image.mode in ("1", "L", "RGB") else image.convert("RGB") for image in images]
    resolution = float(pages[0].info.get("dpi", (dpi, dpi))[0] or dpi) if dpi is None else float(dpi)
    pages[0].save(path, "PDF", save_all=True, append_images=pages[1:], resolution=resolution, quality=quality,
                  producer="Scanner", creator="Scanner")
    return path
