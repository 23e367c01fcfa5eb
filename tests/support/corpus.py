"""Access to the shared corpus beside the repository (../shared/corpus).

Outside CI a test skips with a clear message where the corpus is absent;
under CI=true a missing corpus is a failure, never a silent skip.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORPUS = Path(os.environ.get("MAILROOM_CORPUS", REPO.parent / "shared" / "corpus"))


def corpus_file(*parts: str) -> Path:
    path = CORPUS.joinpath(*parts)
    if not path.exists():
        message = f"shared corpus file missing: {path} (expected ../shared/corpus beside the repository)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path
