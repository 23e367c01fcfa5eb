"""OCR stage: geometry, recognition, text layer placement, born-digital pages, failures, assembly."""
from __future__ import annotations

import dataclasses
import io
import pickle
import re
import subprocess
import zlib
from pathlib import Path

import jiwer
import numpy as np
import pikepdf
import pytest
from PIL import Image

from pipeline.config import load_config
from pipeline.ingest import open_source
from pipeline.files import sha256_file
from pipeline.messages import reason, say_reason
from pipeline.ocr import PageOcr, assemble, has_real_text, ocr_page
from pipeline.stages import finish_pdf
from pipeline.ocr import clean, geometry, source_image, textlayer
from pipeline.ocr.pdfa import check_pdfa
from pipeline.records import Document, PageResult
from samples.generate import ROUTES, RSA
from samples.render import render_letter, save_scan_pdf
from tests.support.corpus import corpus_file

SHORT = """\
Madame Sophie LEROUX
12, rue des Capucins
76000 Rouen

> Département de la Seine-Maritime
> Rouen, le 3 mars 2026

# Objet : suspension de mon revenu de solidarité active

Madame, Monsieur, j'ai bien reçu votre courrier du 17 février 2026 m'informant de la suspension de mon revenu
de solidarité active. Je vous demande de bien vouloir rétablir mes droits.

> Sophie Leroux
"""


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("’", "'").replace("—", "-").replace("–", "-")).strip()


def cer(truth: str, text: str) -> float:
    return jiwer.cer(normalise(truth), normalise(text))


@pytest.fixture
def config(home):
    return load_config(home)


def scan(tmp_path: Path, name: str, pages: list[Image.Image], dpi: int = 300) -> Path:
    return save_scan_pdf(pages, tmp_path / f"{name}.pdf", dpi=dpi, quality=80)


def document(pages: list[int], **fields) -> Document:
    return Document(id="d1", input_id="i1", source="lot.pdf", source_sha256="0" * 64, source_pages=pages,
                    received_at="2026-03-06T09:15:00+01:00", batch="i1", **fields)


# ---- geometry (no Tesseract) -------------------------------------------------------------------

@pytest.mark.parametrize("rotate,skew", [(0, 0.0), (0, 4.5), (0, -12.0), (90, -2.0), (270, 3.3), (180, 0.8)])
def test_line_axis_and_skew_are_measured(rotate, skew):
    page = render_letter(RSA, dpi=150, rotate=rotate, skew_degrees=skew, noise=0.03, blur=0.6, seed=3)
    quarter, found, strength = geometry.line_axis_and_skew(clean.to_gray(page), 150)
    assert quarter == (90 if rotate in (90, 270) else 0)
    assert found == pytest.approx(-skew, abs=0.25)
    assert strength > 1.08


def test_deskew_levels_the_lines():
    page = render_letter(ROUTES, dpi=150, skew_degrees=4.0, seed=1)
    straight = geometry.deskew(page, -4.0)
    _, residual, _ = geometry.line_axis_and_skew(clean.to_gray(straight), 150)
    assert abs(residual) <= 0.15
    assert straight.size == page.size


@pytest.mark.parametrize("rotate", [0, 180])
def test_upright_score_tells_upside_down(rotate):
    page = render_letter(RSA, dpi=150, rotate=rotate, noise=0.04, blur=0.8, jpeg_quality=40, seed=2)
    score = geometry.upright_score(clean.to_gray(page), 150)
    assert (score > 0.2) if rotate == 0 else (score < -0.2)


def test_cleanup_whitens_shadow_and_keeps_ink():
    page = render_letter(SHORT, dpi=150, uneven_light=True, noise=0.05, seed=5)
    gray, dpi = clean.for_recognition(clean.to_gray(page), 150, binary=False)
    assert dpi == 300 and gray.shape[0] == pytest.approx(3508, abs=2)  # resampled for Tesseract
    paper = gray[gray > 128]
    assert np.median(paper) == 255
    assert (gray < 100).mean() > 0.002  # strokes survive
    for band in (gray[:, :80], gray[:, -80:], gray[:80], gray[-80:]):  # the shadowed edge is paper again
        assert (band < 200).mean() < 0.03


def test_text_layer_detection():
    assert has_real_text("Madame, Monsieur, je vous écris au sujet de mon dossier RSA.")
    assert not has_real_text("")
    assert not has_real_text("1 2 3 4")
    assert not has_real_text("\ue001\ue002\ue003 \ue004\ue005 " * 20)  # font without Unicode mapping
    assert not has_real_text("%$#@ !! ?? ** ++ " * 10)


def test_jpeg_quality_is_estimated():
    page = render_letter(SHORT, dpi=72)
    for quality in (40, 75, 92):
        buffer = io.BytesIO()
        page.save(buffer, "JPEG", quality=quality)
        assert source_image.estimate_jpeg_quality(Image.open(buffer)) == pytest.approx(quality, abs=2)


HOCR = """<?xml version="1.0" encoding="UTF-8"?>
<html xmlns="http://www.w3.org/1999/xhtml"><body><div class='ocr_page' title='bbox 0 0 2480 3508'>
<p class='ocr_par' id='par_1_1'>
<span class='ocr_line' id='line_1_1' title="bbox 300 240 870 290; baseline 0.01 -10; x_size 45; x_descenders 10">
<span class='ocrx_word' id='word_1_1' title='bbox 300 244 490 280; x_wconf 96'>Madame</span>
<span class='ocrx_word' id='word_1_2' title='bbox 510 244 660 290; x_wconf 80'>Sophie &amp; Cie</span>
</span></p>
<p class='ocr_par' id='par_1_2'>
<span class='ocr_line' id='line_1_2' title="bbox 300 400 500 440; baseline 0 -8; x_size 40">
<span class='ocrx_word' id='word_1_3' title='bbox 300 400 500 440; x_wconf 90'>Rouen</span></span></p>
</div></body></html>"""


def test_hocr_gives_words_lines_and_text():
    lines = textlayer.parse_hocr(HOCR)
    assert [w.text for line in lines for w in line.words] == ["Madame", "Sophie & Cie", "Rouen"]
    assert lines[0].slope == 0.01 and lines[0].size == 45
    assert textlayer.plain_text(lines) == "Madame Sophie & Cie\n\nRouen"
    stream = textlayer.content(lines, 300, 3508)
    assert b"3 Tr" in stream and stream.count(b" Tj") == 4  # three words and one space


# ---- one page, for real ------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("rotate,skew", [(180, 2.5), (90, -3.0), (270, 1.0)])
def test_rotated_skewed_page_comes_out_upright_and_readable(tmp_path, config, rotate, skew):
    page = render_letter(SHORT, rotate=rotate, skew_degrees=skew, noise=0.04, blur=0.7, jpeg_quality=50,
                         uneven_light=True, seed=rotate)
    source = open_source(scan(tmp_path, "turned", [page]), config.ingest)
    result = ocr_page(source, 1, config, tmp_path / "work")
    assert result.error is None
    assert result.result.rotation == (360 - rotate) % 360
    assert result.result.skew == pytest.approx(-skew, abs=0.3)
    assert cer(page.info["groundtruth"], result.text) < 0.03
    with pikepdf.open(result.pdf) as pdf:
        box = pdf.pages[0].mediabox
        assert float(box[2]) < float(box[3])  # portrait again
    assert pickle.loads(pickle.dumps(result)).text == result.text


@pytest.mark.slow
def test_text_layer_lies_on_the_words(tmp_path, config):
    page = render_letter(RSA, skew_degrees=1.5, noise=0.02, seed=9)
    source = open_source(scan(tmp_path, "rsa", [page]), config.ingest)
    result = ocr_page(source, 1, config, tmp_path / "work")
    text = subprocess.run(["pdftotext", str(result.pdf), "-"], capture_output=True, text=True).stdout
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines[0] == "Madame Sophie LEROUX"  # reading order
    assert "Rouen, le 3 mars 2026" in text
    assert cer(page.info["groundtruth"], text) < 0.02

    xml = subprocess.run(["pdftotext", "-bbox", str(result.pdf), "-"], capture_output=True, text=True).stdout
    boxes = re.findall(r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<', xml)
    png = subprocess.run(["pdftoppm", "-r", "100", "-gray", str(result.pdf)], capture_output=True).stdout
    ink = np.asarray(Image.open(io.BytesIO(png)).convert("L")) < 128
    scale = 100 / 72

    def inked(x0, y0, x1, y1) -> float:
        return ink[int(y0 * scale):int(y1 * scale) + 1, int(x0 * scale):int(x1 * scale) + 1].mean()

    on_word = [inked(*map(float, box[:4])) for box in boxes]
    # The same boxes half a line lower, between the lines: that is where a misplaced layer would be.
    below = [inked(float(b[0]), float(b[3]) + 1, float(b[2]), float(b[3]) + 6) for b in boxes]
    assert len(boxes) > 150
    assert np.percentile(on_word, 1) > 0.03
    assert np.mean(on_word) > 4 * np.mean(below)
    # Each word's box ends where the next word begins, not further: the words of a line stay apart.
    first_line = [(float(x0), float(x1), w) for x0, _, x1, _, w in boxes[:3]]
    assert [w for _, _, w in first_line] == ["Madame", "Sophie", "LEROUX"]
    assert first_line[0][1] < first_line[1][0] < first_line[1][1] < first_line[2][0]


@pytest.mark.slow
def test_straight_scan_keeps_its_jpeg_bytes(tmp_path, config):
    page = render_letter(SHORT, noise=0.02, seed=4)
    path = scan(tmp_path, "straight", [page])
    result = ocr_page(open_source(path, config.ingest), 1, config, tmp_path / "work")
    with pikepdf.open(path) as original, pikepdf.open(result.pdf) as output:
        before = next(iter(original.pages[0].resources.XObject.values()))
        after = next(iter(output.pages[0].resources.XObject.values()))
        assert list(after.Filter) == ["/FlateDecode", "/DCTDecode"]  # a lossless Flate layer over the JPEG
        assert zlib.decompress(after.read_raw_bytes()) == before.read_raw_bytes()
        assert len(after.read_raw_bytes()) < len(before.read_raw_bytes())
    assert result.result.rotation == 0 and result.result.skew == 0.0


@pytest.mark.slow
def test_black_and_white_output_is_g4(tmp_path, config):
    config = dataclasses.replace(config, ocr=dataclasses.replace(config.ocr, output="bw"))
    page = render_letter(SHORT, skew_degrees=2.0, uneven_light=True, noise=0.03, seed=6)
    result = ocr_page(open_source(scan(tmp_path, "bw", [page]), config.ingest), 1, config, tmp_path / "work")
    listing = subprocess.run(["pdfimages", "-list", str(result.pdf)], capture_output=True, text=True).stdout
    assert "ccitt" in listing
    assert result.pdf.stat().st_size < 120_000
    assert cer(page.info["groundtruth"], result.text) < 0.03


# ---- born-digital pages --------------------------------------------------------------------------

def born_digital_pdf(path: Path, pages: list[str]) -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas
    drawing = canvas.Canvas(str(path), pagesize=A4)
    for text in pages:
        y = 780
        for line in text.splitlines():
            drawing.drawString(72, y, line)
            y -= 16
        drawing.showPage()
    drawing.save()
    return path


@pytest.fixture
def no_tesseract(monkeypatch):
    """Any Tesseract call fails the test: born-digital pages must not be OCRed."""
    import pytesseract

    def refuse(*args, **kwargs):
        raise AssertionError("Tesseract was called")

    monkeypatch.setattr(pytesseract.pytesseract, "run_tesseract", refuse)


def test_born_digital_page_is_copied_not_ocred(tmp_path, config, no_tesseract):
    path = born_digital_pdf(tmp_path / "mail.pdf", ["Madame, Monsieur,\nJe vous écris au sujet de mon dossier APA."])
    result = ocr_page(open_source(path, config.ingest), 1, config, tmp_path / "work")
    assert result.result.born_digital and result.result.confidence is None
    assert "dossier APA" in result.text
    with pikepdf.open(result.pdf) as pdf:
        assert "/Font" in pdf.pages[0].resources and "/XObject" not in pdf.pages[0].resources


@pytest.mark.slow
def test_mixed_pdf_ocrs_only_its_scanned_pages(tmp_path, config):
    path = corpus_file("paperless", "tesseract__multi-page-mixed.pdf")
    source = open_source(path, config.ingest)
    scanned, digital = (ocr_page(source, page, config, tmp_path / "work") for page in (1, 4))
    assert not scanned.result.born_digital and scanned.result.words >= 6
    assert "multi page document" in scanned.text and "Page 1" in scanned.text
    assert digital.result.born_digital and "Page 4" in digital.text


# ---- failures ------------------------------------------------------------------------------------

def test_tesseract_failure_is_retried_then_reported(tmp_path, config, monkeypatch):
    import pytesseract
    calls = []

    def timeout(input_filename, output_filename_base, extension, lang, config="", nice=0, timeout=0):
        calls.append(config)
        raise RuntimeError("Tesseract process timeout")

    monkeypatch.setattr(pytesseract.pytesseract, "run_tesseract", timeout)
    config = dataclasses.replace(config, ocr=dataclasses.replace(config.ocr, retries=2, timeout_seconds=5))
    page = render_letter(SHORT, dpi=150)
    source = open_source(scan(tmp_path, "fail", [page], dpi=150), config.ingest)
    result = ocr_page(source, 1, config, tmp_path / "work")
    assert sum("hocr" in c for c in calls) == 3
    assert result.error == "Tesseract n'a pas répondu en 5 s après 3 essais"
    assert result.text == "" and result.result.confidence is None
    with pikepdf.open(result.pdf) as pdf:  # the page is still there, as an image
        assert len(pdf.pages[0].resources.XObject) == 1 and "/Font" not in pdf.pages[0].resources

    doc = assemble(document([1]), [result], config, tmp_path / "out.pdf")
    assert [say_reason(r) for r in doc.review_reasons] == [
        "OCR en échec page 1 : Tesseract n'a pas répondu en 5 s après 3 essais"]
    assert doc.ocr_confidence is None


# ---- assembly ----------------------------------------------------------------------------------

def fake_page(tmp_path: Path, number: int, confidence: float | None, words: int, text: str) -> PageOcr:
    path = born_digital_pdf(tmp_path / f"p{number}.pdf", [text])
    result = PageResult(source_page=number, confidence=confidence, words=words, born_digital=confidence is None)
    return PageOcr(number, path, text, result)


def test_assemble_merges_in_order_with_metadata(tmp_path, config):
    pages = [fake_page(tmp_path, n, 90.0 if n != 3 else 60.0, 100, f"Texte de la page {n}") for n in (3, 1, 2)]
    doc = document([1, 2, 3], category="routes", fields={"sender": "Mairie de Duclair",
                                                          "references": ["VOI-2026-014"]})
    output = tmp_path / "out" / "doc.pdf"
    assemble(doc, pages, config, output)
    with pikepdf.open(output) as pdf:  # metadata is written once, after routing (finish_pdf)
        assert "/Title" not in pdf.docinfo and "/Subject" not in pdf.docinfo
    assert finish_pdf(doc, config) == sha256_file(output)
    assert doc.pdf == str(output)
    assert doc.text.split("\f") == ["Texte de la page 1", "Texte de la page 2", "Texte de la page 3"]
    assert [p.source_page for p in doc.page_results] == [1, 2, 3]
    assert doc.ocr_confidence == 80.0 and doc.review_reasons == []
    text = subprocess.run(["pdftotext", str(output), "-"], capture_output=True, text=True).stdout
    assert text.index("page 1") < text.index("page 2") < text.index("page 3")
    with pikepdf.open(output) as pdf:
        info = pdf.docinfo
        assert str(info.Title) == "Courrier de Mairie de Duclair reçu le 06/03/2026"
        assert str(info.Subject) == "Routes départementales"
        assert "VOI-2026-014" in str(info.Keywords) and "Routes départementales" in str(info.Keywords)
        assert str(info.Producer) == "mailroom"
        assert str(info.CreationDate).startswith("D:20260306091500")
        meta = pdf.open_metadata()
        assert meta["dc:title"] == "Courrier de Mairie de Duclair reçu le 06/03/2026"
        assert meta["pdf:Producer"] == "mailroom"
        assert meta["xmp:CreateDate"].startswith("2026-03-06T09:15:00")
        assert "Routes départementales" in meta["dc:description"]


def test_metadata_follows_the_classification(tmp_path, config):
    doc = assemble(document([1]), [fake_page(tmp_path, 1, 90.0, 20, "Facture")], config, tmp_path / "f.pdf")
    with pikepdf.open(doc.pdf) as pdf:
        assert "/Subject" not in pdf.docinfo
    doc.category, doc.fields = "factures", {"sender": "Transports Normands", "references": "F2026-0219"}
    finish_pdf(doc, config)
    with pikepdf.open(doc.pdf) as pdf:
        assert str(pdf.docinfo["/MailroomUid"]) == doc.uid == pdf.open_metadata()["dc:identifier"]
        assert str(pdf.docinfo.Subject) == "Factures"
        assert str(pdf.docinfo.Title) == "Courrier de Transports Normands reçu le 06/03/2026"
        assert pdf.open_metadata()["pdf:Keywords"] == "Factures, Lot i1, F2026-0219, Transports Normands"
        assert len(pdf.pages) == 1


def test_low_confidence_sends_to_review(tmp_path, config):
    pages = [fake_page(tmp_path, 1, 41.2, 50, "mal lu"), fake_page(tmp_path, 2, None, 10, "numérique")]
    doc = assemble(document([1, 2]), pages, config, tmp_path / "doc.pdf")
    assert doc.ocr_confidence == 41.2
    assert doc.review_reasons == [reason("ocr-low-confidence", confidence=41.2)]
    assert say_reason(doc.review_reasons[0]) == "OCR peu fiable (confiance 41/100)"
    assemble(doc, pages, config, tmp_path / "doc.pdf")  # again: no duplicate reason
    assert doc.review_reasons == [reason("ocr-low-confidence", confidence=41.2)]
    only_digital = assemble(document([2]), pages[1:], config, tmp_path / "digital.pdf")
    assert only_digital.ocr_confidence is None and only_digital.review_reasons == []


@pytest.mark.slow
def test_pdfa_option(tmp_path, config):
    config = dataclasses.replace(config, ocr=dataclasses.replace(config.ocr, pdfa=True))
    page = render_letter(SHORT, dpi=200, skew_degrees=1.0, seed=8)
    source = open_source(scan(tmp_path, "pdfa", [page], dpi=200), config.ingest)
    result = ocr_page(source, 1, config, tmp_path / "work")
    doc = assemble(document([1]), [result], config, tmp_path / "a.pdf")
    assert not any(r["code"] == "pdfa-problem" for r in doc.review_reasons)
    finish_pdf(doc, config)  # the identification comes with the metadata, once, after routing
    assert check_pdfa(Path(doc.pdf)) == []
    with pikepdf.open(doc.pdf) as pdf:
        assert pdf.open_metadata()["pdfaid:part"] == "2"
        assert pdf.Root.OutputIntents[0].S == "/GTS_PDFA1"
        font = pdf.pages[0].resources.Font
        descriptor = next(iter(font.values())).DescendantFonts[0].FontDescriptor
        assert "/FontFile2" in descriptor
    plain_config = dataclasses.replace(config, ocr=dataclasses.replace(config.ocr, pdfa=False))
    plain = assemble(document([1]), [result], plain_config, tmp_path / "b.pdf")
    finish_pdf(plain, plain_config)
    assert "identification PDF/A-2b absente des métadonnées XMP" in check_pdfa(Path(plain.pdf))


def test_french_accents_are_repaired_only_into_french_words():
    from pipeline.ocr.lexicon import repair
    assert repair("éléves") == "élèves"
    assert repair("métres,") == "mètres,"
    assert repair("d'interieure") == "d'intérieure"
    assert repair("maconnerie") == "maçonnerie"
    for unchanged in ("Benoit", "Lemaitre", "a", "the", "départementale", "2026", "RSA"):
        assert repair(unchanged) == unchanged
