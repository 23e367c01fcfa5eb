"""The SEDA 2.2 schema from ../shared/corpus/seda-2.2, loaded without network.

The schemas import xml.xsd and xlink.xsd by their w3.org URL; a copy made at test time in a
temporary folder points those imports at the local files (the originals stay untouched).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from lxml import etree

SEDA_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "corpus" / "seda-2.2"
REWRITES = {"http://www.w3.org/2001/xml.xsd": "xml.xsd", "http://www.w3.org/1999/xlink.xsd": "xlink.xsd"}


def seda_schema(scratch: Path) -> etree.XMLSchema:
    if not (SEDA_DIR / "seda-2.2-main.xsd").is_file():
        message = f"the SEDA 2.2 schemas are not at {SEDA_DIR} (../shared/corpus/seda-2.2)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    scratch.mkdir(parents=True, exist_ok=True)
    for source in SEDA_DIR.glob("*.xsd"):
        text = source.read_text(encoding="utf-8")
        for url, local in REWRITES.items():
            text = text.replace(f'schemaLocation="{url}"', f'schemaLocation="{local}"')
        (scratch / source.name).write_text(text, encoding="utf-8")
    return etree.XMLSchema(etree.parse(str(scratch / "seda-2.2-main.xsd")))
