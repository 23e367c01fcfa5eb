"""Page makers shared by the split, blank and sheets tests (no tests here).

Letters come from samples/render.py; blank backs are paper with scanner noise,
uneven light and, optionally, the recto showing through; sheets are printed by
`mailroom sheets` itself and rasterised, so the tests cover the real round trip.
"""
from __future__ import annotations

import dataclasses
import functools
import tempfile
from pathlib import Path

import numpy as np
from pdf2image import convert_from_path
from PIL import Image, ImageFilter, ImageOps

from pipeline.config import Config, load_config
from samples.render import PAPER, damage, render_letter

DPI = 200
A4_PX = (round(210 / 25.4 * DPI), round(297 / 25.4 * DPI))

LETTERS = [
    "^ Mairie de Boscherville\n\n# Objet : affaissement de la RD 982\n\nMonsieur le Président,\n\n"
    "Nous vous signalons un affaissement de la chaussée au lieu-dit Le Val, qui rend la circulation "
    "dangereuse pour les cars scolaires. Nous vous remercions de faire intervenir vos équipes.\n\n"
    "> Le Maire, P. Durand",
    "# Objet : demande de revalorisation de l'APA\n\nMadame, Monsieur,\n\nL'état de santé de ma mère, "
    "Mme Jeanne Martin, s'est dégradé depuis l'hiver. Je sollicite une révision de son plan d'aide.\n\n"
    "Veuillez agréer l'expression de mes salutations distinguées.\n\n> Paul Martin",
    "^ Transports Normands SARL\n\n# Facture n° 2026-0142\n\nTransport scolaire, circuit 12, février 2026.\n"
    "Montant hors taxes : 12 480,00 euros. TVA 10 % : 1 248,00 euros.\n\nPaiement à 30 jours.",
    "# Objet : changement de situation RSA\n\nMadame,\n\nJe vous informe que j'ai repris un emploi à temps "
    "partiel depuis le 2 mars. Vous trouverez ci-joint mon contrat de travail.\n\n> Sophie Leroux",
    "^ Collège Jules Verne\n\n# Objet : travaux de la demi-pension\n\nMonsieur le Président,\n\nLa chambre "
    "froide de la demi-pension est hors service depuis lundi. Nous sollicitons une intervention rapide.\n\n"
    "> La Principale",
]
SECOND_PAGES = [
    "Annexe : photographies de la chaussée et plan de situation du lieu-dit Le Val.\n\n"
    "Fait à Boscherville, le 12 février 2026.",
    "Pièce jointe : certificat médical du docteur Lemoine daté du 3 mars 2026.\n\nSignature : Paul Martin",
]


def config_for(home: Path, *, drop_blank_pages: bool = True, ink_ratio: float | None = None,
               toml: str | None = None) -> Config:
    """The bundled configuration (or ``toml`` as mailroom.toml), with split/ocr overrides."""
    if toml is not None:
        (home / "mailroom.toml").write_text(toml, encoding="utf-8")
    config = load_config(home)
    split = dataclasses.replace(config.split, drop_blank_pages=drop_blank_pages)
    ocr = config.ocr if ink_ratio is None else dataclasses.replace(config.ocr, blank_ink_ratio=ink_ratio)
    return dataclasses.replace(config, split=split, ocr=ocr)


def with_dpi(image: Image.Image, dpi: float = DPI) -> Image.Image:
    image.info["dpi"] = (dpi, dpi)
    return image


@functools.lru_cache(maxsize=None)
def letter(index: int, page: int = 1, seed: int = 0) -> Image.Image:
    """Page ``page`` (1 or 2) of test letter ``index``, lightly damaged, at 200 dpi."""
    text = LETTERS[index] if page == 1 else SECOND_PAGES[index]
    return render_letter(text, dpi=DPI, noise=0.02, uneven_light=True, skew_degrees=0.6, seed=seed + index)


def blank_back(seed: int = 0, recto: Image.Image | None = None, bleed: float = 0.2) -> Image.Image:
    """A duplex back: paper, lamp fall-off, edge shadow, noise, dust, and the recto showing through."""
    page = Image.new("L", A4_PX, PAPER)
    if recto is not None:
        mirrored = ImageOps.mirror(recto.convert("L")).filter(ImageFilter.GaussianBlur(2))
        ink = 255.0 - np.asarray(mirrored, dtype=np.float32)
        page = Image.fromarray((PAPER - ink * bleed).clip(0, 255).astype(np.uint8))
    return with_dpi(damage(with_dpi(page), noise=0.03, uneven_light=True, jpeg_quality=60, seed=seed))


@functools.lru_cache(maxsize=4)
def _sheet_pages(categories: tuple[str, ...]) -> dict[str, Image.Image]:
    from pipeline.sheets import write_sheets

    home = Path(tempfile.mkdtemp(prefix="mailroom-sheets-"))
    config = load_config(home)
    out = home / "sheets.pdf"
    write_sheets(config, out, list(categories))
    images = convert_from_path(str(out), dpi=DPI, grayscale=True)
    return {name: with_dpi(image) for name, image in zip(("separator", *categories), images)}


def sheet(name: str) -> Image.Image:
    """The printed separator ("separator") or a category's cover sheet, scanned at 200 dpi (a copy)."""
    categories = ("routes", "factures", "rsa-insertion", "colleges")  # what the tests use
    image = _sheet_pages(categories)[name].copy()
    return with_dpi(image)


class ListSource:
    """A stand-in for pipeline.ingest.Source over ready-made page images (1-based pages)."""

    kind = "image"

    def __init__(self, images: list[Image.Image]):
        self.images = images
        self.page_count = len(images)
        self.path = Path("lot-de-test.pdf")
        self.rendered: list[int] = []

    def render(self, page: int, dpi: int | None = None) -> Image.Image:
        self.rendered.append(page)
        image = self.images[page - 1].copy()
        image.info["dpi"] = self.images[page - 1].info.get("dpi", (DPI, DPI))
        return image


def shapes(result) -> list[tuple[list[int], list[int], str | None]]:
    """(source_pages, dropped_pages, category) per plan: what the assertions compare."""
    return [(plan.source_pages, plan.dropped_pages, plan.category) for plan in result.plans]
