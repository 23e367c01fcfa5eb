"""A 100-page batch goes through ocr_page + assemble with bounded memory (issue #6: peak RSS < 600 MB).

Pages are small (a third of an A4 letter at 300 dpi) so that the test stays fast; the
point is that nothing accumulates per page: one page rasterised at a time, page PDFs
on disk, a merge that streams them.
"""
from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pikepdf
import pytest

from samples.render import render_letter, save_scan_pdf

REPO = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent("""
    import json, resource, sys, time
    from concurrent.futures import ProcessPoolExecutor
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    from pipeline.config import load_config
    from pipeline.ingest import open_source
    from pipeline.ocr import assemble, ocr_page
    from pipeline.records import Document

    work = Path(sys.argv[2])
    config = load_config(work / "home")
    source = open_source(work / "batch.pdf", config.ingest)

    def one(number):
        return ocr_page(source, number, config, work / "pages")

    started = time.monotonic()
    with ProcessPoolExecutor(2) as pool:
        results = list(pool.map(one, range(1, source.page_count + 1)))
    doc = Document(id="d", input_id="i", source="batch.pdf", source_sha256="", source_pages=list(range(1, 101)),
                   received_at="2026-03-06T09:00:00+01:00")
    assemble(doc, results, config, work / "batch-ocr.pdf")
    print(json.dumps({
        "seconds": time.monotonic() - started,
        # VmHWM, not ru_maxrss: Linux carries the launching process's peak (here pytest's) across exec
        # into ru_maxrss, which would measure the test runner instead of this batch.
        "parent_mb": int(next(line.split()[1] for line in open("/proc/self/status")
                              if line.startswith("VmHWM:"))) / 1024,
        "child_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "pages": len(doc.page_results),
        "errors": [r.error for r in results if r.error],
        "found": sum(f"page {n}" in doc.text.split("\\f")[n - 1] for n in range(1, 101)),
        "upside_down": sum(r.result.rotation == 180 for r in results),
        "bytes": (work / "batch-ocr.pdf").stat().st_size,
    }))
""")


def write_batch(path: Path, count: int = 100) -> Path:
    """A scanner batch of ``count`` short pages, every tenth upside down, built one page at a time."""
    text = "Madame Sophie LEROUX\n12, rue des Capucins\n76000 Rouen\n\n> Rouen, le 3 mars 2026\n\n# Objet : page {n}"
    with contextlib.ExitStack() as stack:
        batch = stack.enter_context(pikepdf.new())
        for number in range(1, count + 1):
            upside_down = number % 10 == 0
            page = render_letter(text.format(n=number), rotate=180 if upside_down else 0)
            third = page.height // 3
            page = page.crop((0, 2 * third, page.width, page.height) if upside_down else (0, 0, page.width, third))
            single = save_scan_pdf([page], path.with_name(f"single-{number}.pdf"), dpi=300, quality=60)
            batch.pages.extend(stack.enter_context(pikepdf.open(single)).pages)
        batch.save(path)
    return path


@pytest.mark.slow
def test_hundred_pages_in_bounded_memory(tmp_path):
    write_batch(tmp_path / "batch.pdf")
    script = tmp_path / "batch.py"
    script.write_text(SCRIPT)
    result = subprocess.run([sys.executable, str(script), str(REPO), str(tmp_path)], capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    print(figures)
    assert figures["pages"] == 100 and figures["errors"] == []
    assert figures["found"] >= 97  # the page numbers are read back from the merged document
    assert figures["upside_down"] == 10
    assert figures["parent_mb"] < 600, figures
    assert figures["child_mb"] < 600, figures  # the largest worker or Tesseract process
