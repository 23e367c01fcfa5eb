from pathlib import Path

import pytest
from PIL import Image

from pipeline.config import load_config
from pipeline.ingest import BadInput, infer_dpi, normalise_mode, open_source
from tests.support.bad_inputs import make_bad_inputs
from tests.support.corpus import corpus_file


@pytest.fixture
def ingest_config(home):
    return load_config(home).ingest


def test_every_bad_input_is_refused_with_a_reason(tmp_path, ingest_config):
    expected = make_bad_inputs(tmp_path / "bad")
    for name, word in expected.items():
        path = tmp_path / "bad" / name
        if "caractères" in word:
            continue  # a valid PDF whose only fault is its name: refused at claim time (test_watch)
        with pytest.raises(BadInput) as error:
            open_source(path, ingest_config)
        assert word in error.value.reason, (name, error.value.reason)


@pytest.mark.parametrize("parts, kind, pages", [
    (("ocrmypdf", "francais.pdf"), "pdf", 1),
    (("ocrmypdf", "derived", "francais_encrypted_ownerpw_only.pdf"), "pdf", 1),  # opens without a password
    (("paperless", "tesseract__multi-page-images-alpha.tiff"), "image", 3),
    (("ocrmypdf", "baiona_cmyk.jpg"), "image", 1),
    (("paperless", "tesseract__simple-no-dpi.png"), "image", 1),
])
def test_good_inputs_open(parts, kind, pages, ingest_config):
    source = open_source(corpus_file(*parts), ingest_config)
    assert (source.kind, source.page_count) == (kind, pages)
    image = source.render(1, dpi=72)
    assert image.mode in ("1", "L", "RGB") and min(image.info["dpi"]) >= 50


def test_missing_dpi_is_inferred_from_a4():
    assert infer_dpi(2480, 3508) == 300
    assert infer_dpi(1700, 2200) == 200  # US Letter at 200 dpi


def test_pixel_formats_are_normalised():
    assert normalise_mode(Image.new("LA", (10, 10), (0, 0))).getpixel((0, 0)) == 255  # transparent → paper
    assert normalise_mode(Image.new("CMYK", (10, 10))).mode == "RGB"
    assert normalise_mode(Image.new("I;16", (10, 10), 65535)).getpixel((0, 0)) == 255
