"""OCR on real scans nobody here made (../shared/corpus/tapuscorpus-fr): orientation, the plain-Tesseract
floor, handwritten pages; and the letter-spaced text layer."""
from __future__ import annotations

import os
import re
import subprocess
import unicodedata
from pathlib import Path

import jiwer
import pikepdf
import pytest
from PIL import Image, ImageDraw, ImageFont

from pipeline.config import load_config
from pipeline.ingest import infer_dpi, open_source
from pipeline.ocr import assemble, ocr_page
from pipeline.ocr.page import straighten
from pipeline.records import Candidate, Document
from pipeline.messages import say_reason
from pipeline.route import HANDWRITTEN, review_reasons
from tests.support.corpus import corpus_file

PAGES = ("tapuscorpus-fr", "pages")


@pytest.fixture
def config(home):
    return load_config(home)


def real_page(name: str, dpi: int = 300) -> tuple[Image.Image, float]:
    """A corpus page as a scanner at ``dpi`` would give it (the corpus is at 300-400 dpi)."""
    path = corpus_file(*PAGES, name)
    with Image.open(path) as image:
        native = float(image.info.get("dpi", (0, 0))[0]) or infer_dpi(*image.size)
        page = image.convert("L")
    if native > dpi:
        page = page.resize((round(page.width * dpi / native), round(page.height * dpi / native)), Image.LANCZOS)
        native = dpi
    return page, native


def truth(name: str) -> str:
    """The page's transcription (annotation order), markup stripped, one line each."""
    text = corpus_file(*PAGES, name).read_text("utf-8")
    return re.sub(r"[_^]|~~~|⟦[^⟧]*⟧", "", text)


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFC", text).replace("’", "'").replace("«", '"').replace("»", '"')
    return re.sub(r"\s+", " ", text).strip()


def cer(reference: str, text: str) -> float:
    return jiwer.cer(normalise(reference), normalise(text))


# ---- orientation -------------------------------------------------------------------------------

# Sparse, left-aligned pages (a play's dialogue, poetry, a table-like list) that used to be turned over.
UPRIGHT = ["trois_vagues_bordes__19_c1b75_default.jpg", "trois_vagues_bordes__35_9145c_default.jpg",
           "desnos_divers__bljd_DSN355_00005.jpg"]


@pytest.mark.slow
@pytest.mark.parametrize("name", UPRIGHT)
def test_an_upright_real_page_stays_upright(tmp_path, config, name):
    page, dpi = real_page(name)
    _, rotation, _ = straighten(page, dpi, config, tmp_path)
    assert rotation == 0


TURNED = [("rapport_bnf_1984__8_62d69_default.jpg", 180),
          ("europeana__Jean_Giono_Colline_II_Dactylographie_Giono_Jean_btv1b10515736n_31.jpg", 270),
          # A carbon copy OSD cannot tell sideways (confidence 0.2), faded typewriting it calls upright.
          ("desnos_divers__bljd_DSN355_00003.jpg", 90),
          ("europeana__2020601_https_1914_1918_europeana_eu_contributions_21574.pdf_page_9.png", 180),
          # A play's sparse page whose lines the ink profile takes for sideways ones: OSD is right.
          ("trois_vagues_bordes__35_9145c_default.jpg", 180)]


@pytest.mark.slow
@pytest.mark.parametrize("name,turn", TURNED)
def test_a_turned_real_page_comes_back_upright(tmp_path, config, name, turn):
    page, dpi = real_page(name)
    turned = page.rotate(-turn, expand=True)  # the scanner got it turned ``turn`` degrees clockwise
    _, rotation, _ = straighten(turned, dpi, config, tmp_path)
    assert (rotation + turn) % 360 == 0


# ---- never worse than a plain Tesseract pass on the original ---------------------------------------

def floor_page(name: str, folder: Path) -> tuple[Path, str]:
    """(image, transcription) of a real page for the floor test; 400-dpi pages brought to 300 dpi (cheaper)."""
    if name == "linn.png":
        return corpus_file("ocrmypdf", name), corpus_file("ocrmypdf", "linn.txt").read_text("utf-8")
    reference = truth(name.rsplit(".", 1)[0] + ".gt.txt")
    path = corpus_file(*PAGES, name)
    with Image.open(path) as image:
        if float(image.info.get("dpi", (0, 0))[0]) <= 300:
            return path, reference
    page, dpi = real_page(name)
    page.save(folder / "page.png", dpi=(dpi, dpi))
    return folder / "page.png", reference


# Faded typewriting, a dense catalogue page, a two-column English data sheet (its text layer once came out
# 28 % off where Tesseract's own text was 0.8 % off) and a play's sparse page with stage directions.
FLOOR = ["europeana__2020601_https___1914_1918_europeana_eu_contributions_21574.pdf_page_2.png",
         "catalogue_mnatp_1962__FRAN_0011_11082_L-medium.jpg", "linn.png",
         "trois_vagues_bordes__19_c1b75_default.jpg"]


@pytest.mark.slow
@pytest.mark.parametrize("name", FLOOR)
def test_a_real_page_reads_no_worse_than_plain_tesseract(tmp_path, config, name):
    """The document's text and the PDF's text layer (in its reading order, as pdftotext -raw gives it) are
    both within a CER point of a plain ``tesseract -l fra+eng`` on the same image."""
    path, reference = floor_page(name, tmp_path)
    plain = subprocess.run(["tesseract", str(path), "-", "-l", "fra+eng"], capture_output=True, check=True,
                           env=dict(os.environ, OMP_THREAD_LIMIT="1")).stdout.decode()
    result = ocr_page(open_source(path, config.ingest), 1, config, tmp_path / "work")
    assert result.error is None and result.result.rotation == 0
    layer = subprocess.run(["pdftotext", "-raw", str(result.pdf), "-"], capture_output=True,
                           check=True).stdout.decode()
    floor = cer(reference, plain) + 0.01
    assert cer(reference, result.text) <= floor
    assert cer(reference, layer) <= floor
    assert not result.result.handwritten


# ---- handwritten pages ---------------------------------------------------------------------------

@pytest.mark.slow
def test_a_handwritten_letter_goes_to_review_saying_so(tmp_path, config):
    """A real cursive letter: flagged, reviewed with the reason, even when the classifier is sure."""
    path = corpus_file(*PAGES, "lettre_delatre_foley__2_a91bf_default.jpg")
    result = ocr_page(open_source(path, config.ingest), 1, config, tmp_path / "work")
    assert result.result.handwritten and result.result.rotation == 0
    doc = Document(id="d1", input_id="i1", source=path.name, source_sha256="0" * 64, source_pages=[1],
                   received_at="2026-03-06T09:15:00+01:00")
    doc = assemble(doc, [result], config, tmp_path / "out.pdf")
    assert doc.handwritten and not any(r["code"] == "ocr-low-confidence" for r in doc.review_reasons)
    doc.category, doc.confidence, doc.route_source = "routes", 0.99, "model"  # a sure, wrong guess
    doc.candidates = [Candidate("routes", 0.99)]
    assert review_reasons(doc, config) == [HANDWRITTEN]
    assert say_reason(HANDWRITTEN) == "Courrier manuscrit : le texte reconnu n'est pas fiable"


def test_handwritten_signal_survives_the_journal():
    doc = Document(id="d1", input_id="i1", source="a.pdf", source_sha256="0" * 64, source_pages=[1, 2],
                   received_at="2026-03-06T09:15:00+01:00")
    from pipeline.records import PageResult
    doc.page_results = [PageResult(1), PageResult(2, handwritten=True)]
    again = Document.from_json(doc.to_json())
    assert again.handwritten and [p.handwritten for p in again.page_results] == [False, True]


# ---- letter-spaced typewriting --------------------------------------------------------------------

MONO = Path("/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf")
# (text as typed, extra tracking in character widths): a space typed between the letters, or wide tracking.
SPACED = [("C O N T R A T   D E   L O C A T I O N", 0.0), ("Le Directeur Général", 0.7),
          ("A R T I C L E   P R E M I E R", 0.0)]
BODY = ["Entre les soussignés, le Directeur des services du Département et la société",
        "preneuse, il a été convenu ce qui suit pour une durée de trois ans."]


def spaced_letter(dpi: int) -> tuple[Image.Image, dict[str, tuple[float, float]]]:
    """A typewritten contract with letter-spaced titles, and where each title word starts (x, line top), in px."""
    scale = dpi / 300
    page = Image.new("L", (round(2480 * scale), round(1400 * scale)), 255)
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(MONO), round(46 * scale))
    starts: dict[str, tuple[float, float]] = {}
    y = 200 * scale
    for text, track in SPACED:
        x = 250 * scale
        gap = "   " if track == 0 else " "  # what separates two words of this line
        for index, ch in enumerate(text):
            if ch != " " and (index == 0 or text[max(0, index - len(gap)):index] == gap):
                starts.setdefault(text[index:].split(gap)[0].replace(" ", ""), (x, y))
            draw.text((x, y), ch, font=font, fill=40)
            x += font.getlength(ch) * (1 + track)
        y += 140 * scale
    for line in BODY:
        draw.text((250 * scale, y), line, font=font, fill=40)
        y += 80 * scale
    return page, starts


@pytest.mark.slow
def test_letter_spaced_words_stay_whole_in_the_text_layer(tmp_path, config):
    from samples.render import save_scan_pdf
    dpi = 200
    image, starts = spaced_letter(dpi)
    path = save_scan_pdf([image], tmp_path / "contrat.pdf", dpi=dpi, quality=85)
    result = ocr_page(open_source(path, config.ingest), 1, config, tmp_path / "work")
    doc = Document(id="d1", input_id="i1", source=path.name, source_sha256="0" * 64, source_pages=[1],
                   received_at="2026-03-06T09:15:00+01:00")
    out = tmp_path / "out.pdf"
    assemble(doc, [result], config, out)
    raw = subprocess.run(["pdftotext", "-raw", str(out), "-"], capture_output=True, check=True).stdout.decode()
    words = [word.strip(",.:;") for word in raw.split()]
    for word in ("CONTRAT", "LOCATION", "Directeur", "Général", "ARTICLE", "PREMIER", "soussignés"):
        assert word in words, raw
    assert raw.index("CONTRAT") < raw.index("Directeur") < raw.index("ARTICLE") < raw.index("soussignés")

    # Each spaced word is one text object (one Tj) set where the word is on the scan: search highlights it.
    with pikepdf.open(out) as pdf:
        page = pdf.pages[0]
        height = float(page.mediabox[3])
        shown, matrix = [], None
        for operands, operator in pikepdf.parse_content_stream(page):
            if operator == pikepdf.Operator("Tm"):
                matrix = [float(v) for v in operands]
            elif operator == pikepdf.Operator("Tj"):
                text = bytes(operands[0]).decode("utf-16-be")
                if text.strip():
                    shown.append((text, matrix[4], height - matrix[5]))
    points = 72 / dpi
    size = 46 * dpi / 300 * points
    for word in ("CONTRAT", "Directeur", "ARTICLE", "PREMIER"):
        left, top = starts[word]
        on_its_line = [(x, y) for text, x, y in shown
                       if text == word and top * points < y < top * points + 1.5 * size]
        assert len(on_its_line) == 1, (word, shown)
        assert abs(on_its_line[0][0] - left * points) < 3


def test_handwritten_letters_are_never_routed_with_confidence_to_a_wrong_service(config):
    """The citizens' handwritten letters of the test split (their text as written): each one the model
    routes on its own goes to the right service; the others wait for a supervisor."""
    import json

    from pipeline.classify import classify_document
    rows = [json.loads(line) for line in (Path(__file__).resolve().parents[1] / "samples" / "corpus" /
                                          "test.jsonl").read_text("utf-8").splitlines() if line.strip()]
    written = [row for row in rows if row["source"] == "handwritten"]
    assert len(written) >= 10
    routed = 0
    for row in written:
        doc = Document(id="d1", input_id="i1", source="lettre.pdf", source_sha256="0" * 64, source_pages=[1],
                       received_at="2026-03-06T09:15:00+01:00", text=row["text"])
        doc = classify_document(doc, config)
        if not review_reasons(doc, config):
            routed += 1
            assert doc.category == row["category"], (row["id"], doc.category, doc.confidence)
    assert routed  # the rule is not met by sending everything to review
