"""What travels through Redis: one page in, one page's result out, as JSON (never pickle).

A worker has no access to the coordinator's disk. The coordinator cuts the one
page a task needs out of its input (a PDF page is copied with its resources, so
the scanner's image bytes are the same; a single image file travels as it is; a
frame of a multi-page TIFF is written losslessly alone) and sends it base64 in
the task message. The worker sends back the page's searchable PDF the same way,
and the coordinator writes it into the work folder under the name the local
backend gives it, so the document assembled from it is the same.
"""
from __future__ import annotations

import base64
import dataclasses
import io
import json
from functools import lru_cache
from pathlib import Path

import pikepdf
from PIL import Image

from ..config import DEFAULT_CONFIG, Config, _merge, _read_toml, build_config, to_toml_dict
from ..errors import BadInput
from ..ingest import PDF, Source, open_source
from ..ocr.page import PageOcr, page_pdf_name
from ..records import PageResult
from ..split import PageKind

WORKER_SECTIONS = ("ingest", "split", "ocr", "categories")  # what a worker needs of the coordinator's config


class MessageTooLarge(BadInput):
    """One page is larger than ``runner.max_message_mb``: it cannot travel, the input is quarantined."""

    code = "message-too-large"


def _check_size(data: bytes, limit_mb: float, page: int, what: str) -> None:
    if len(data) > limit_mb * 1024 * 1024:
        raise MessageTooLarge(page=page, source=what, size_mb=len(data) / 1024 / 1024, limit_mb=limit_mb)


def page_bytes(source: Source, page: int) -> tuple[bytes, str]:
    """Page ``page`` of ``source`` as a file of its own: (bytes, file suffix)."""
    if source.kind == PDF:
        with pikepdf.open(source.path) as pdf, pikepdf.new() as single:
            single.pages.append(pdf.pages[page - 1])
            buffer = io.BytesIO()
            single.save(buffer)
            return buffer.getvalue(), ".pdf"
    if source.page_count == 1:
        return Path(source.path).read_bytes(), Path(source.path).suffix.lower() or ".img"
    with Image.open(source.path) as container:
        container.seek(page - 1)
        frame = container.copy()
        dpi = container.info.get("dpi")
    buffer = io.BytesIO()
    frame.save(buffer, "TIFF", compression="group4" if frame.mode == "1" else "tiff_lzw",
               **({"dpi": dpi} if dpi else {}))
    return buffer.getvalue(), ".tif"


def page_message(source: Source, page: int, limit_mb: float) -> dict:
    data, suffix = page_bytes(source, page)
    _check_size(data, limit_mb, page, Path(source.path).name)
    return {"name": Path(source.path).stem[:80] or "page", "suffix": suffix, "page": page,
            "data": base64.b64encode(data).decode("ascii")}


def materialise(message: dict, folder: Path, config: Config) -> Source:
    """On the worker: the page received, written to ``folder`` and validated as the coordinator did."""
    path = folder / f"{message['name']}-p{message['page']:04d}{message['suffix']}"
    path.write_bytes(base64.b64decode(message["data"]))
    return open_source(path, config.ingest)


# -- configuration: the coordinator's, so that every worker reads pages the same way ------------

def config_message(config: Config) -> dict:
    data = to_toml_dict(config)
    return {section: data[section] for section in WORKER_SECTIONS}


@lru_cache(maxsize=8)
def _worker_config(text: str, home: str) -> Config:
    raw = _read_toml(DEFAULT_CONFIG)
    raw["categories"] = {}
    return build_config(_merge(raw, json.loads(text)), Path(home), "configuration reçue du coordinateur")


def worker_config(message: dict, home: Path) -> Config:
    return _worker_config(json.dumps(message, sort_keys=True), str(home))


# -- results --------------------------------------------------------------------------------

def kind_result(kind: PageKind) -> dict:
    return {"kind": kind.kind, "category": kind.category}


def read_kind(result: dict) -> PageKind:
    return PageKind(result["kind"], result.get("category"))


def ocr_result(page: PageOcr, source_page: int, limit_mb: float, worker: str) -> dict:
    data = Path(page.pdf).read_bytes()
    _check_size(data, limit_mb, source_page, "PDF OCR")
    fields = dataclasses.asdict(page.result)
    fields["source_page"] = source_page
    return {"page": source_page, "pdf": base64.b64encode(data).decode("ascii"), "text": page.text,
            "result": fields, "error": page.error, "seconds": page.seconds, "worker": worker}


def read_ocr(result: dict, source: Source, workdir: Path) -> PageOcr:
    """On the coordinator: the page's PDF written where the local backend would have written it."""
    workdir.mkdir(parents=True, exist_ok=True)
    target = workdir / page_pdf_name(source.path, result["page"])
    partial = target.with_name(f".{target.name}.part")
    partial.write_bytes(base64.b64decode(result["pdf"]))
    partial.replace(target)
    return PageOcr(result["page"], target, result["text"], PageResult(**result["result"]), result["error"],
                   result["seconds"])
