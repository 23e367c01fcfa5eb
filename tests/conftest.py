import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Tesseract must not spread over cores inside a test run: the pool does that.
os.environ.setdefault("OMP_THREAD_LIMIT", "1")


@pytest.fixture
def home(tmp_path) -> Path:
    """A fresh MAILROOM_HOME."""
    path = tmp_path / "home"
    path.mkdir()
    return path
