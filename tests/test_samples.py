"""The sample-scan renderer and the demo scans the inbox gets on a fresh machine."""
from __future__ import annotations

import os
import subprocess

import pikepdf
import pytest

from pipeline.config import IngestConfig
from pipeline.ingest import open_source
from samples.generate import BATCHES, SCANS, SCANS_TO_WRITE
from samples.render import PageOverflow, render_letter, render_pages, save_scan_pdf

LETTER = """\
Madame Sophie LEROUX
12, rue des Capucins
76000 Rouen

> Rouen, le 3 mars 2026

# Objet : suspension de mon RSA

Madame, Monsieur, je conteste la décision de suspension de mon revenu de solidarité active.
"""


def test_letter_is_an_a4_page_with_its_text():
    page = render_letter(LETTER, dpi=100)
    assert page.size == (827, 1169)
    assert page.info["dpi"] == (100, 100)
    assert page.info["groundtruth"].splitlines()[:3] == ["Madame Sophie LEROUX", "12, rue des Capucins", "76000 Rouen"]
    assert "Rouen, le 3 mars 2026" in page.info["groundtruth"]
    assert page.getextrema()[0] < 60  # real ink on the page


def test_damage_is_deterministic_and_turns_the_page():
    first = render_letter(LETTER, dpi=100, rotate=90, skew_degrees=3, noise=0.05, blur=0.8, jpeg_quality=40,
                          uneven_light=True, seed=4)
    again = render_letter(LETTER, dpi=100, rotate=90, skew_degrees=3, noise=0.05, blur=0.8, jpeg_quality=40,
                          uneven_light=True, seed=4)
    assert first.size == (1169, 827)  # sideways
    assert first.tobytes() == again.tobytes()
    assert render_letter(LETTER, dpi=100, rotate=180).size == (827, 1169)
    with pytest.raises(ValueError):
        render_letter(LETTER, dpi=100, rotate=45)


def test_long_letters_overflow_or_paginate():
    long_text = "\n\n".join([LETTER] * 12)
    with pytest.raises(PageOverflow):
        render_letter(long_text, dpi=72)
    pages = render_pages(long_text, dpi=72)
    assert len(pages) >= 2
    assert len(render_pages("Page un\f Page deux", dpi=72)) == 2


def test_scan_pdf_is_image_only(tmp_path):
    pages = [render_letter(LETTER, dpi=100), render_letter(LETTER, dpi=100, rotate=180)]
    path = save_scan_pdf(pages, tmp_path / "scan.pdf", dpi=100)
    with pikepdf.open(path) as pdf:
        assert len(pdf.pages) == 2
        assert float(pdf.pages[0].mediabox[3]) == pytest.approx(841.9, abs=1)
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True).stdout
    assert not text.strip()
    listing = subprocess.run(["pdfimages", "-list", str(path)], capture_output=True, text=True).stdout
    assert listing.count("jpeg") == 2


def test_demo_scans_are_present_small_and_valid():
    files = sorted(SCANS.glob("*.pdf"))
    assert len(files) == len(SCANS_TO_WRITE) + len(BATCHES)
    assert sum(f.stat().st_size for f in files) < 4_500_000
    counts = {}
    for path in files:
        source = open_source(path, IngestConfig())
        counts[path.stem] = source.page_count
        assert not source.page_text(1).strip()  # scans: no text layer yet
    assert max(counts.values()) >= 2  # the two-page letter


@pytest.mark.slow
def test_first_run_samples_show_the_review_queue(home, tmp_path):
    """`make run` copies these into the inbox: the supervisors must have something to look at."""
    import json

    from tests.support.service import mailroom

    names = ["2026-03-06_ambigu_lemaire", "2026-03-09_manuscrit_hebert", "2026-03-10_lot_page-de-garde"]
    report = tmp_path / "report.jsonl"
    result = mailroom(home, "process", *(str(SCANS / f"{n}.pdf") for n in names), "--report", str(report),
                      timeout=400)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = {(line["source"], line["id"][-2:]): line for line in map(json.loads, report.read_text().splitlines())}
    ambiguous = lines[(f"{names[0]}.pdf", "01")]
    assert ambiguous["status"] == "review"  # two directions at once: the machine hesitates
    assert {c["category"] for c in ambiguous["candidates"][:2]} == {"autonomie-handicap", "autonomie-personnes-agees"}
    assert lines[(f"{names[1]}.pdf", "01")]["status"] == "review"  # handwritten
    cover, second = lines[(f"{names[2]}.pdf", "01")], lines[(f"{names[2]}.pdf", "02")]
    assert (cover["category"], cover["route_source"], cover["status"]) == ("enfance-famille", "cover-sheet",
                                                                            "published")
    ack = cover["acknowledgement"]  # « Enfance et famille » acknowledges; no e-mail in the letter: on paper
    assert (ack["kind"], ack["channel"], ack["state"]) == ("simple", "paper", "batched")
    assert os.path.isfile(ack["batch"]) and cover["registration"] in subprocess_text(ack["batch"])
    # The cover sheet forces the first letter only: the second (road works under a public contract) is the model's.
    assert second["route_source"] == "model" and second["category"] in ("routes", "marches-publics")


def subprocess_text(path: str) -> str:
    return subprocess.run(["pdftotext", path, "-"], capture_output=True, text=True, check=True).stdout
