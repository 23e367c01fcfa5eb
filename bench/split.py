"""Benchmark: seconds per page that batch separation adds, against OCR time (issue #3).

Builds a 100-page duplex batch as a scanner would write it (300-dpi JPEG PDF):
20 letters, each behind a separator or routing cover sheet, each sheet and
letter page followed by its blank back. Then times `plan_documents` on it
(rasterising, code reading, blank detection: everything separation adds),
checks the result, and times the pipeline's own OCR on a few letter pages for
the comparison. Target: separation under 10 % of the OCR time. CPU seconds
(children included) are reported too: on a shared machine they are the fairer
comparison, wall time depends on the load.

    cd /work/main && .venv/bin/python -m bench.split [--pages 100] [--ocr-pages 3] [--json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("OMP_THREAD_LIMIT", "1")

from PIL import Image  # noqa: E402

from pipeline.config import load_config  # noqa: E402
from pipeline.ingest import open_source  # noqa: E402
from pipeline.split import plan_documents  # noqa: E402
from samples.render import PAPER, damage, render_letter, save_scan_pdf  # noqa: E402

DPI = 300
LETTERS = [
    "^ Mairie de Boscherville\n\n# Objet : affaissement de la RD 982\n\nMonsieur le Président,\n\n"
    + "Nous vous signalons un affaissement de la chaussée au lieu-dit Le Val. " * 6 + "\n\n> Le Maire",
    "# Objet : demande de révision de l'APA\n\nMadame, Monsieur,\n\n"
    + "L'état de santé de ma mère s'est dégradé depuis l'hiver ; je sollicite une révision. " * 6
    + "\n\n> Paul Martin",
    "^ Transports Normands SARL\n\n# Facture n° 2026-0142\n\n"
    + "Transport scolaire, circuit 12, février 2026, montant hors taxes 12 480,00 euros. " * 6,
    "# Objet : changement de situation RSA\n\nMadame,\n\n"
    + "J'ai repris un emploi à temps partiel depuis le 2 mars ; vous trouverez mon contrat ci-joint. " * 6
    + "\n\n> Sophie Leroux",
]


def sheet_images(config, dpi: int) -> dict[str, Image.Image]:
    from pdf2image import convert_from_path

    from pipeline.sheets import write_sheets

    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "sheets.pdf"
        write_sheets(config, out, ["routes", "factures"])
        images = convert_from_path(str(out), dpi=dpi, grayscale=True)
    return dict(zip(("separator", "routes", "factures"), images))


def build_batch(path: Path, pages: int, config) -> list[tuple[list[int], str | None]]:
    """Write the batch; returns the expected (source_pages, category) per letter."""
    sheets = sheet_images(config, DPI)
    letters = [render_letter(text, dpi=DPI, noise=0.02, uneven_light=True, jpeg_quality=None, seed=index).convert("L")
               for index, text in enumerate(LETTERS)]
    blank = Image.new("L", letters[0].size, PAPER)
    blank.info["dpi"] = (DPI, DPI)
    backs = [damage(blank, noise=0.03, uneven_light=True, seed=seed).convert("L") for seed in range(3)]
    images, expected, index = [], [], 0
    while len(images) + 5 <= pages:
        kind = ("separator", "routes", "separator", "factures")[index % 4]
        start = len(images) + 1
        images += [sheets[kind], backs[index % 3], letters[index % 4], backs[(index + 1) % 3], letters[(index + 1) % 4]]
        expected.append(([start + 2, start + 4], None if kind == "separator" else kind))
        index += 1
    save_scan_pdf(images, path, dpi=DPI, quality=60)
    return expected


def time_split(path: Path, config) -> dict:
    source = open_source(path, config.ingest)
    wall, cpu = time.perf_counter(), _cpu()
    result = plan_documents(source, "separator", config)
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    return {"pages": source.page_count, "result": result, "wall": wall, "cpu": cpu}


def _cpu() -> float:
    """CPU seconds of this process and its finished children (pdftoppm, tesseract)."""
    now = os.times()
    return now.user + now.system + now.children_user + now.children_system


def time_ocr(path: Path, config, pages: list[int]) -> tuple[str, float, float]:
    """(engine, wall s/page, CPU s/page) of the pipeline's OCR; plain tesseract if that is unavailable."""
    source = open_source(path, config.ingest)
    with tempfile.TemporaryDirectory() as workdir:
        try:
            from pipeline.ocr.page import ocr_page
            started, cpu = time.perf_counter(), _cpu()
            for page in pages:
                ocr_page(source, page, config, Path(workdir))
            engine = "pipeline.ocr"
        except Exception as error:  # the OCR stage is another module: measure tesseract alone then
            print(f"pipeline OCR unavailable ({error.__class__.__name__}: {error}); timing tesseract alone",
                  file=sys.stderr)
            import pytesseract
            started, cpu = time.perf_counter(), _cpu()
            for page in pages:
                pytesseract.image_to_data(source.render(page, config.ingest.raster_dpi), lang=config.ocr.languages)
            engine = "tesseract"
        return engine, (time.perf_counter() - started) / len(pages), (_cpu() - cpu) / len(pages)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--ocr-pages", type=int, default=3, help="letter pages OCRed for the comparison (0: skip)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "home"
        home.mkdir()
        config = load_config(home)
        batch = Path(folder) / "lot.pdf"
        expected = build_batch(batch, args.pages, config)
        split = time_split(batch, config)
        got = [(plan.source_pages, plan.category) for plan in split["result"].plans]
        ocr_pages = [pages[0] for pages, _ in expected[:args.ocr_pages]]
        engine, ocr, ocr_cpu = time_ocr(batch, config, ocr_pages) if ocr_pages else (None, None, None)
    pages = split["pages"]
    report = {
        "pages": pages, "documents": len(got), "correct": got == expected,
        "split_seconds": round(split["wall"], 2),
        "split_s_per_page": round(split["wall"] / pages, 3),
        "split_cpu_s_per_page": round(split["cpu"] / pages, 3),
        "ocr_engine": engine, "ocr_pages": len(ocr_pages),
        "ocr_s_per_page": round(ocr, 2) if ocr else None,
        "ocr_cpu_s_per_page": round(ocr_cpu, 2) if ocr_cpu else None,
        "split_share_of_ocr": round(split["wall"] / pages / ocr, 3) if ocr else None,
        "split_cpu_share_of_ocr_cpu": round(split["cpu"] / pages / ocr_cpu, 3) if ocr_cpu else None,
        "cores": os.cpu_count(), "load_average": round(os.getloadavg()[0], 1),
    }
    if args.json:
        print(json.dumps(report))
    else:
        for key, value in report.items():
            print(f"{key:24s} {value}")
    return 0 if report["correct"] else 1


if __name__ == "__main__":
    sys.exit(main())
