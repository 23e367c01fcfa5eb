"""OCR stage: one searchable page per worker task, then one searchable PDF per document.

``ocr_page`` runs in a worker (the runner parallelises pages); ``assemble`` merges
the pages of a document in the parent.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # one core per page; parallelism is across pages

from .document import assemble, document_confidence, write_metadata  # noqa: E402
from .page import PageOcr, has_real_text, ocr_page  # noqa: E402

__all__ = ["PageOcr", "assemble", "document_confidence", "has_real_text", "ocr_page", "write_metadata"]
