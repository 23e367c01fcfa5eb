"""The bad inputs of the backbone issue, made on the spot (plus real broken files from the corpus)."""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pikepdf
from PIL import Image

from tests.support.corpus import corpus_file


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a huge page: the kind of file that exhausts memory when decoded."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    row = zlib.compress(b"\x00" * (width + 1) * 8)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", row) + chunk(b"IEND", b"")


def make_bad_inputs(folder: Path) -> dict[str, str]:
    """Write every bad input into ``folder``; returns file name → a word its reason must contain."""
    folder.mkdir(parents=True, exist_ok=True)
    expected = {}

    (folder / "vide.pdf").write_bytes(b"")
    expected["vide.pdf"] = "vide"

    (folder / "aleatoire.pdf").write_bytes(os.urandom(4096))
    expected["aleatoire.pdf"] = "ni un PDF"

    (folder / "texte.tif").write_text("ceci n'est pas une image\n" * 20, encoding="utf-8")
    expected["texte.tif"] = "ni un PDF"

    truncated = corpus_file("ocrmypdf", "derived", "multipage_truncated_50pct.pdf").read_bytes()
    (folder / "tronque.pdf").write_bytes(truncated)
    expected["tronque.pdf"] = "PDF"

    (folder / "protege.pdf").write_bytes(corpus_file("paperless", "password-is-test.pdf").read_bytes())
    expected["protege.pdf"] = "mot de passe"

    empty = pikepdf.new()
    empty.save(folder / "zero-page.pdf")
    expected["zero-page.pdf"] = "aucune page"

    Image.new("L", (1, 1), 255).save(folder / "pixel.png")
    expected["pixel.png"] = "trop petite"

    (folder / "bombe.png").write_bytes(_png_header_only(60000, 60000))
    expected["bombe.png"] = "démesurée"

    odd = "Courrier\tde\nMme d'Hé\x01lène.pdf"
    (folder / odd).write_bytes(corpus_file("ocrmypdf", "francais.pdf").read_bytes())
    expected[odd] = "caractères de contrôle"

    long_name = ("Réclamation très longue " * 12)[:200].strip() + ".pdf"
    (folder / long_name).write_bytes(b"%PDF-1.4\n% nothing else, truncated by the scanner\n")
    expected[long_name] = "incomplet"
    return expected
