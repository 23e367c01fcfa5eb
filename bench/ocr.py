"""OCR benchmark: mailroom's OCR stage against OCRmyPDF on the same pages, side by side.

Run by hand (OCRmyPDF is a benchmark-only dependency)::

    .venv/bin/pip install ocrmypdf            # or: pip install -e '.[bench]'
    .venv/bin/python bench/ocr.py --jobs 2

Sets: ``damaged`` (typeset French letters with scanner damage, a quarter of them
upside down or sideways), ``clean`` (the same kind of letters, undamaged) and
``real`` (scans of ../shared/corpus with a transcription). Three tools in one run:
mailroom, OCRmyPDF and a plain one-pass ``tesseract -l fra+eng`` on the original
image (no clean-up, no rotation: the floor any clean-up must beat). For each page:
CER and WER (jiwer, on normalised text) of the text in each tool's reading order
(``pdftotext -raw`` of the PDFs, Tesseract's own text), also of the text in poppler's
layout order (plain ``pdftotext``, which reorders columns, stage directions and
margins its own way, for both PDF tools alike; Tesseract's own PDF in results.json
only, its page sized at 70 dpi for an image without DPI); OCRmyPDF
is given an image with an alpha channel (which it refuses) flattened onto white,
as a user would (``--ocrmypdf-from OUT/ocrmypdf`` reuses an earlier run's PDFs: CER
only); orientation right or not, seconds, output
bytes; the real pages per source folder (each tapuscorpus sub-corpus, the OCRmyPDF
scans), every real page where mailroom is worse than OCRmyPDF by more than one CER
point, upright real pages each tool turned, and the mostly handwritten pages
(transcribed as ``~~~``: no CER, only whether mailroom said « manuscrit »); for each
tool: pages per minute on ``--jobs`` cores and peak RSS (whole process tree).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import jiwer  # noqa: E402
import pikepdf  # noqa: E402

from bench.groundtruth import normalise, real_pages, synthetic_pages  # noqa: E402
from pipeline.config import load_config  # noqa: E402
from pipeline.ingest import infer_dpi, open_source  # noqa: E402
from pipeline.records import Document  # noqa: E402
from samples.render import save_scan_pdf  # noqa: E402

OUT = REPO / "bench" / "out"


# ---- measuring ---------------------------------------------------------------------------------

class TreeRss:
    """Peak resident memory of this process's descendants (the tool under test), sampled from /proc."""

    def __init__(self, interval: float = 0.1):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _tree_rss(root: int) -> int:
        children: dict[int, list[int]] = {}
        rss: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
                pid, ppid, pages = int(entry), int(fields[1]), int(fields[21])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(pid)
            rss[pid] = pages * os.sysconf("SC_PAGE_SIZE")
        total, stack = 0, list(children.get(root, []))
        while stack:
            pid = stack.pop()
            total += rss.get(pid, 0)
            stack.extend(children.get(pid, []))
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._tree_rss(os.getpid()))
            self._stop.wait(self.interval)

    def __enter__(self) -> "TreeRss":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def pdftotext_pages(path: Path, count: int, layout: bool = False) -> list[str]:
    """Each page's text layer: in the order the tool wrote it (``pdftotext -raw``: its reading order), or
    ``layout``: in the order poppler's own layout analysis rebuilds from the words' positions."""
    texts = []
    for page in range(1, count + 1):
        result = subprocess.run(["pdftotext", *([] if layout else ["-raw"]), "-f", str(page), "-l", str(page),
                                 str(path), "-"], capture_output=True, timeout=120)
        texts.append(result.stdout.decode("utf-8", "replace"))
    return texts


def displayed_upright(path: Path, count: int) -> list[bool]:
    """Whether each page, as a viewer shows it (/Rotate applied), has level text right way up.

    Judged on the rendered page, whatever the tool did (turned the pixels or set /Rotate)."""
    from PIL import Image
    from pipeline.ocr import clean, geometry
    upright = []
    for page in range(1, count + 1):
        png = subprocess.run(["pdftoppm", "-f", str(page), "-l", str(page), "-r", "100", "-gray", str(path)],
                             capture_output=True, timeout=120).stdout
        gray = clean.to_gray(Image.open(io.BytesIO(png)))
        quarter, _, _ = geometry.line_axis_and_skew(gray, 100)
        cleaned, dpi = clean.for_recognition(gray, 100, binary=False)
        upright.append(quarter == 0 and geometry.upright_score(cleaned, dpi) > 0)
    return upright


def error_rates(truth: str, text: str) -> tuple[float, float]:
    reference, hypothesis = normalise(truth), normalise(text)
    if not reference:
        return 0.0, 0.0
    return jiwer.cer(reference, hypothesis), jiwer.wer(reference, hypothesis)


# ---- inputs --------------------------------------------------------------------------------------

@dataclass
class Input:
    name: str
    path: Path
    set: str                       # damaged | clean | real
    truths: list[str]
    rotations: list[int | None]    # clockwise turn that makes each page upright (None: unknown)
    pages: int = 1
    image_dpi: int | None = None   # for OCRmyPDF, when the image carries no usable DPI
    source: str = ""               # real pages: the source folder they are reported under
    handwritten: bool = False      # real pages transcribed as handwriting (no CER)


def prepare_inputs(folder: Path, damaged: int, clean: int, real: bool) -> list[Input]:
    folder.mkdir(parents=True, exist_ok=True)
    inputs = []
    synthetic = synthetic_pages(damaged=damaged, clean=clean)
    for set_name in ("clean", "damaged"):
        group = [p for p in synthetic if p.damaged == (set_name == "damaged")]
        if not group:
            continue
        path = save_scan_pdf([p.image for p in group], folder / f"synthetic-{set_name}.pdf", dpi=300, quality=75)
        inputs.append(Input(f"synthetic-{set_name}", path, set_name, [p.text for p in group],
                            [(360 - p.rotate) % 360 for p in group], len(group)))
    if real:
        from PIL import Image
        for page in real_pages():
            image_dpi = None
            if page.path.suffix.lower() != ".pdf":
                with Image.open(page.path) as image:
                    dpi = image.info.get("dpi")
                    if not dpi or min(dpi) < 50:
                        image_dpi = int(infer_dpi(*image.size))
            inputs.append(Input(page.name, page.path, "real", [page.text], [0], 1, image_dpi, page.source,
                                page.handwritten))
    return inputs


# ---- the two tools -----------------------------------------------------------------------------

@dataclass
class ToolRun:
    texts: dict[str, list[str]] = field(default_factory=dict)         # the tool's reading order
    layout_texts: dict[str, list[str]] = field(default_factory=dict)  # poppler's layout order
    rotations: dict[str, list[bool]] = field(default_factory=dict)  # page shown upright
    turned: dict[str, list[int]] = field(default_factory=dict)      # quarter turn the tool applied
    handwritten: dict[str, list[bool]] = field(default_factory=dict)  # mailroom: page said handwritten
    seconds: dict[str, list[float]] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    wall: float = 0.0
    peak_rss: int = 0


def _mailroom_page(args):
    path, page, home, workdir = args
    from pipeline.ocr import ocr_page
    config = load_config(Path(home))
    source = open_source(Path(path), config.ingest)
    return ocr_page(source, page, config, Path(workdir))


def _mailroom_child(spec_path: Path, result_path: Path) -> None:
    """The mailroom side, in its own process: a fresh pool, as the service runs it."""
    from pipeline.ocr import assemble
    spec = json.loads(spec_path.read_text())
    work, jobs = Path(spec["work"]), spec["jobs"]
    home = work / "home"
    config = load_config(home)
    out: dict = {"bytes": {}, "seconds": {}, "failures": {}, "turned": {}, "handwritten": {}}
    with ProcessPoolExecutor(jobs) as pool:
        list(pool.map(abs, range(jobs)))  # a long-running service starts its pool once
        started = time.monotonic()
        for item in spec["inputs"]:
            name, path, pages = item["name"], item["path"], item["pages"]
            tasks = [(path, page, str(home), str(work / "pages" / name)) for page in range(1, pages + 1)]
            results = list(pool.map(_mailroom_page, tasks))
            doc = Document(id=name, input_id=name, source=Path(path).name, source_sha256="",
                           source_pages=list(range(1, pages + 1)), received_at="2026-03-06T09:00:00+01:00")
            output = work / "out" / f"{name}.pdf"
            assemble(doc, results, config, output)
            out["bytes"][name] = output.stat().st_size
            out["seconds"][name] = [r.seconds for r in results]
            out["turned"][name] = [r.result.rotation for r in results]
            out["handwritten"][name] = [r.result.handwritten for r in results]
            errors = [r.error for r in results if r.error]
            if errors:
                out["failures"][name] = errors[0]
        out["wall"] = time.monotonic() - started
    result_path.write_text(json.dumps(out))


def run_mailroom(inputs: list[Input], jobs: int, work: Path) -> ToolRun:
    """One input after the other, its pages spread over a pool of ``jobs`` workers (as the runner does)."""
    work.mkdir(parents=True, exist_ok=True)
    spec = work / "spec.json"
    spec.write_text(json.dumps({"work": str(work), "jobs": jobs, "inputs": [
        {"name": i.name, "path": str(i.path), "pages": i.pages} for i in inputs]}))
    with TreeRss() as rss:
        subprocess.run([sys.executable, __file__, "--child", str(spec), str(work / "result.json")], check=True)
    data = json.loads((work / "result.json").read_text())
    run = ToolRun(seconds=data["seconds"], bytes=data["bytes"], failures=data["failures"], wall=data["wall"],
                  peak_rss=rss.peak, turned=data["turned"], handwritten=data["handwritten"])
    for item in inputs:  # text read back from the PDF, as for OCRmyPDF
        output = work / "out" / f"{item.name}.pdf"
        run.texts[item.name] = pdftotext_pages(output, item.pages)
        run.layout_texts[item.name] = pdftotext_pages(output, item.pages, layout=True)
        run.rotations[item.name] = displayed_upright(output, item.pages)
    return run


def _without_alpha(item: Input, folder: Path) -> Path:
    """The input OCRmyPDF is given: an image with an alpha channel (which it refuses) flattened onto white,
    as a user would do before trying again; anything else as it is."""
    if item.path.suffix.lower() == ".pdf":
        return item.path
    from PIL import Image
    with Image.open(item.path) as image:
        if image.mode not in ("RGBA", "LA", "PA") and "transparency" not in image.info:
            return item.path
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        path = folder / f"{item.name}-flat.png"
        flat.save(path, **({"dpi": image.info["dpi"]} if image.info.get("dpi") else {}))
    return path


def run_ocrmypdf(inputs: list[Input], jobs: int, work: Path, extra: list[str],
                 earlier: Path | None = None) -> ToolRun:
    """OCRmyPDF on each input; ``earlier``: take its PDFs from a previous run's output folder instead (CER only:
    no timing, no memory figure), running it only on the inputs that folder lacks."""
    run = ToolRun()
    (work / "out").mkdir(parents=True, exist_ok=True)
    (work / "in").mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    started = time.monotonic()
    with TreeRss() as rss:
        for item in inputs:
            output = work / "out" / f"{item.name}.pdf"
            command = [str(Path(sys.executable).with_name("ocrmypdf")), "-l", "fra+eng", *extra,
                       "--jobs", str(jobs), "--output-type", "pdf", str(_without_alpha(item, work / "in")),
                       str(output)]
            if item.image_dpi:
                command[1:1] = ["--image-dpi", str(item.image_dpi)]
            begun = time.monotonic()
            if earlier is not None and (earlier / output.name).exists():
                shutil.copyfile(earlier / output.name, output)
                result = subprocess.CompletedProcess(command, 0, b"", b"")
            else:
                result = subprocess.run(command, capture_output=True, env=env, timeout=3600)
            elapsed = time.monotonic() - begun
            run.seconds[item.name] = [elapsed / item.pages] * item.pages
            if result.returncode != 0 or not output.exists():
                last = result.stderr.decode("utf-8", "replace").strip().splitlines()
                run.failures[item.name] = (last[-1] if last else f"exit {result.returncode}")[:120]
                run.texts[item.name] = run.layout_texts[item.name] = [""] * item.pages
                run.rotations[item.name] = [False] * item.pages
                run.turned[item.name] = [0] * item.pages
                run.bytes[item.name] = 0
                continue
            run.bytes[item.name] = output.stat().st_size
            run.rotations[item.name] = displayed_upright(output, item.pages)
            with pikepdf.open(output) as pdf:
                run.turned[item.name] = [int(page.obj.get("/Rotate", 0)) % 360 for page in pdf.pages]
            run.texts[item.name] = pdftotext_pages(output, item.pages)
            run.layout_texts[item.name] = pdftotext_pages(output, item.pages, layout=True)
    run.wall = time.monotonic() - started
    run.peak_rss = rss.peak
    if earlier is not None:
        run.wall = run.peak_rss = 0  # not measured: the report says so
    return run


def _plain_image(item: Input, folder: Path) -> Path:
    """The original image, as a user would hand it to tesseract (a PDF's page image extracted at its own dpi)."""
    if item.path.suffix.lower() != ".pdf":
        return item.path
    from pipeline.ocr import source_image
    config = load_config(folder / "home")
    scan = source_image.load(open_source(item.path, config.ingest), 1, config.ingest.raster_dpi)
    path = folder / f"{item.name}.png"
    scan.image.save(path, dpi=(scan.dpi, scan.dpi))
    return path


def _plain_page(path: str) -> tuple[str, str, float]:
    """Tesseract's text (its reading order) and the text poppler's layout analysis gets from its PDF."""
    begun = time.monotonic()
    base = Path(path).with_suffix("")
    subprocess.run(["tesseract", path, str(base), "-l", "fra+eng", "txt", "pdf"], capture_output=True,
                   timeout=600, env=dict(os.environ, OMP_THREAD_LIMIT="1"))
    seconds = time.monotonic() - begun
    text = base.with_suffix(".txt").read_text("utf-8", "replace") if base.with_suffix(".txt").exists() else ""
    layout = pdftotext_pages(base.with_suffix(".pdf"), 1, layout=True)[0] if base.with_suffix(".pdf").exists() \
        else ""
    return text, layout, seconds


def run_plain(inputs: list[Input], jobs: int, work: Path) -> ToolRun:
    """``tesseract IMAGE OUT -l fra+eng txt pdf`` on each real page's original image, ``jobs`` at a time."""
    work.mkdir(parents=True, exist_ok=True)
    real = [item for item in inputs if item.set == "real"]
    images = []
    for item in real:  # its outputs go to the work folder, whatever folder the image is in
        image = _plain_image(item, work)
        link = work / f"{item.name}{image.suffix}"
        if image != link:
            link.symlink_to(image)
        images.append(str(link))
    run = ToolRun()
    started = time.monotonic()
    with TreeRss() as rss, ProcessPoolExecutor(jobs) as pool:
        for item, (text, layout, seconds) in zip(real, pool.map(_plain_page, images)):
            run.texts[item.name], run.layout_texts[item.name], run.seconds[item.name] = [text], [layout], [seconds]
    run.wall, run.peak_rss = time.monotonic() - started, rss.peak
    return run


# ---- report ----------------------------------------------------------------------------------

def short(name: str, width: int) -> str:
    """A page's name in ``width`` characters: its source's start and its own end (pages of one source differ
    only at the end)."""
    if len(name) <= width:
        return name
    tail = width * 2 // 5
    return name[: width - tail - 1] + "…" + name[-tail:]


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}" if theirs else ("1.00" if not ours else "∞")


def _mean(rows: list[dict], key: str) -> float:
    return statistics.mean(r[key] for r in rows) if rows else 0.0


def report(inputs: list[Input], ours: ToolRun, theirs: ToolRun, plain: ToolRun, jobs: int) -> dict:
    rows = []
    print(f"\n{'page':34} {'CER mr':>7} {'CER om':>7} {'CER ts':>7} {'WER mr':>7} {'WER om':>7} {'rot mr':>6}"
          f" {'rot om':>6} {'s mr':>5} {'s om':>5}")
    for item in inputs:
        for index in range(item.pages):
            truth = item.truths[index]
            cer_m, wer_m = error_rates(truth, ours.texts[item.name][index])
            cer_o, wer_o = error_rates(truth, theirs.texts[item.name][index])
            cer_p = error_rates(truth, plain.texts[item.name][index])[0] if item.name in plain.texts else None
            layout = {tool: error_rates(truth, run.layout_texts[item.name][index])[0]
                      for tool, run in (("mailroom", ours), ("ocrmypdf", theirs), ("tesseract", plain))
                      if item.name in run.layout_texts}
            want = item.rotations[index]
            rot_m = None if want is None else ours.rotations[item.name][index]
            rot_o = None if want is None else theirs.rotations[item.name][index]
            row = dict(input=item.name, page=index + 1, set=item.set, source=item.source,
                       handwritten=item.handwritten, cer_mailroom=cer_m, cer_ocrmypdf=cer_o, cer_tesseract=cer_p,
                       **{f"cer_{tool}_layout": value for tool, value in layout.items()},
                       ocrmypdf_failed=item.name in theirs.failures,
                       wer_mailroom=wer_m, wer_ocrmypdf=wer_o, rotated=bool(want), orientation_mailroom=rot_m,
                       orientation_ocrmypdf=rot_o, turned_mailroom=ours.turned[item.name][index],
                       turned_ocrmypdf=theirs.turned[item.name][index],
                       said_handwritten=ours.handwritten[item.name][index],
                       seconds_mailroom=ours.seconds[item.name][index],
                       seconds_ocrmypdf=theirs.seconds[item.name][index])
            rows.append(row)
            label = f"{short(item.name, 31)}#{index + 1}"
            flag = lambda value: "-" if value is None else ("ok" if value else "FAUX")  # noqa: E731
            plain_cer = "-" if cer_p is None else f"{cer_p * 100:6.2f}%"
            print(f"{label:34} {cer_m * 100:6.2f}% {cer_o * 100:6.2f}% {plain_cer:>7} {wer_m * 100:6.2f}%"
                  f" {wer_o * 100:6.2f}% {flag(rot_m):>6} {flag(rot_o):>6} {row['seconds_mailroom']:5.1f}"
                  f" {row['seconds_ocrmypdf']:5.1f}" + ("  (manuscrit)" if item.handwritten else ""))
    summary = {}
    scored = [r for r in rows if not r["handwritten"]]
    print("\norientation: rotated pages shown upright (all pages shown upright)")
    print(f"{'set':10} {'pages':>5} {'CER mailroom':>13} {'CER OCRmyPDF':>13} {'ratio':>6} {'WER mr':>7}"
          f" {'WER om':>7} {'orient. mr':>12} {'orient. om':>12}")
    for set_name in ("damaged", "clean", "real"):
        group = [r for r in scored if r["set"] == set_name]
        if not group:
            continue
        cer_m, cer_o = _mean(group, "cer_mailroom"), _mean(group, "cer_ocrmypdf")
        wer_m, wer_o = _mean(group, "wer_mailroom"), _mean(group, "wer_ocrmypdf")
        rotated = [r for r in group if r["rotated"]]
        known = [r for r in group if r["orientation_mailroom"] is not None]
        orient_m = (f"{sum(r['orientation_mailroom'] for r in rotated)}/{len(rotated)}"
                    f" ({sum(r['orientation_mailroom'] for r in known)}/{len(known)})") if known else "-"
        orient_o = (f"{sum(r['orientation_ocrmypdf'] for r in rotated)}/{len(rotated)}"
                    f" ({sum(r['orientation_ocrmypdf'] for r in known)}/{len(known)})") if known else "-"
        summary[set_name] = dict(pages=len(group), cer_mailroom=cer_m, cer_ocrmypdf=cer_o, wer_mailroom=wer_m,
                                 wer_ocrmypdf=wer_o, orientation_mailroom=orient_m, orientation_ocrmypdf=orient_o)
        print(f"{set_name:10} {len(group):5} {cer_m * 100:12.2f}% {cer_o * 100:12.2f}% {ratio(cer_m, cer_o):>6}"
              f" {wer_m * 100:6.2f}% {wer_o * 100:6.2f}% {orient_m:>12} {orient_o:>12}")

    real = [r for r in scored if r["set"] == "real"]
    if real:
        print(f"\nreal pages per source folder (CER; ts = plain tesseract -l fra+eng on the original image)")
        print(f"{'source':24} {'pages':>5} {'mailroom':>9} {'OCRmyPDF':>9} {'ratio':>6} {'tesseract':>10} {'ratio':>6}")
        folders = {}
        for source in sorted({r["source"] for r in real}):
            group = [r for r in real if r["source"] == source]
            cer_m, cer_o, cer_p = (_mean(group, key) for key in ("cer_mailroom", "cer_ocrmypdf", "cer_tesseract"))
            folders[source] = dict(pages=len(group), cer_mailroom=cer_m, cer_ocrmypdf=cer_o, cer_tesseract=cer_p)
            print(f"{source:24} {len(group):5} {cer_m * 100:8.2f}% {cer_o * 100:8.2f}% {ratio(cer_m, cer_o):>6}"
                  f" {cer_p * 100:9.2f}% {ratio(cer_m, cer_p):>6}")
        cer_m, cer_o, cer_p = (_mean(real, key) for key in ("cer_mailroom", "cer_ocrmypdf", "cer_tesseract"))
        print(f"{'all real pages':24} {len(real):5} {cer_m * 100:8.2f}% {cer_o * 100:8.2f}% {ratio(cer_m, cer_o):>6}"
              f" {cer_p * 100:9.2f}% {ratio(cer_m, cer_p):>6}")
        both = [r for r in real if not r["ocrmypdf_failed"]]
        if len(both) < len(real):
            means = [_mean(both, key) for key in ("cer_mailroom", "cer_ocrmypdf", "cer_tesseract")]
            print(f"{'pages OCRmyPDF read':24} {len(both):5} {means[0] * 100:8.2f}% {means[1] * 100:8.2f}%"
                  f" {ratio(means[0], means[1]):>6} {means[2] * 100:9.2f}% {ratio(means[0], means[2]):>6}")
        laid = [_mean(real, f"{key}_layout") for key in ("cer_mailroom", "cer_ocrmypdf", "cer_tesseract")]
        print(f"{'all, layout order':24} {len(real):5} {laid[0] * 100:8.2f}% {laid[1] * 100:8.2f}%"
              f" {ratio(laid[0], laid[1]):>6} {'-':>10}")
        print("  (CER of the text in each tool's reading order: pdftotext -raw of the PDFs, tesseract's own text;\n"
              "   layout order: plain pdftotext, which rebuilds columns its own way. Tesseract's own PDF is not\n"
              "   compared in that order: for an image without DPI it sizes its page at 70 dpi, and poppler then\n"
              "   splits its lines into single words; its figure is in results.json)")
        worse = [r for r in real if r["cer_mailroom"] > r["cer_ocrmypdf"] + 0.01]
        print(f"\npages where mailroom is worse than OCRmyPDF by more than 1 CER point: {len(worse)}")
        for r in sorted(worse, key=lambda r: r["cer_ocrmypdf"] - r["cer_mailroom"]):
            print(f"  {short(r['input'], 46):46} {r['cer_mailroom'] * 100:6.2f}% vs {r['cer_ocrmypdf'] * 100:6.2f}%"
                  f" (+{(r['cer_mailroom'] - r['cer_ocrmypdf']) * 100:.1f})")
        floor = [r for r in real if r["cer_mailroom"] > r["cer_tesseract"] + 0.01]
        print(f"pages where mailroom is worse than plain tesseract by more than 1 CER point: {len(floor)}")
        for r in floor:
            print(f"  {short(r['input'], 46):46} {r['cer_mailroom'] * 100:6.2f}% vs {r['cer_tesseract'] * 100:6.2f}%")
        upright = [r for r in rows if r["set"] == "real"]
        turned_m = [r["input"] for r in upright if r["turned_mailroom"]]
        turned_o = [r["input"] for r in upright if r["turned_ocrmypdf"]]
        print(f"upright real pages turned: mailroom {len(turned_m)}/{len(upright)} {turned_m or ''},"
              f" OCRmyPDF {len(turned_o)}/{len(upright)} {turned_o or ''}")
        summary["real_folders"] = folders
        summary["real_all"] = dict(pages=len(real), cer_mailroom=cer_m, cer_ocrmypdf=cer_o, cer_tesseract=cer_p,
                                   layout_order=dict(zip(("cer_mailroom", "cer_ocrmypdf", "cer_tesseract"), laid)))
        summary["worse_than_tesseract"] = [r["input"] for r in floor]
        summary["worse_than_ocrmypdf"] = [r["input"] for r in worse]
        summary["upright_turned_mailroom"], summary["upright_turned_ocrmypdf"] = turned_m, turned_o
    written = [r for r in rows if r["handwritten"]]
    if written:
        said = [r["input"] for r in written if r["said_handwritten"]]
        false = [r["input"] for r in rows if r["said_handwritten"] and not r["handwritten"]]
        print(f"mostly handwritten pages said « manuscrit »: {len(said)}/{len(written)};"
              f" other pages said « manuscrit »: {len(false)} {false or ''}")
        summary["handwritten_said"], summary["handwritten_false"] = said, false

    pages = sum(i.pages for i in inputs)
    both = [i for i in inputs if theirs.bytes.get(i.name)]
    bytes_m = sum(ours.bytes[i.name] for i in both) / max(1, sum(i.pages for i in both))
    bytes_o = sum(theirs.bytes[i.name] for i in both) / max(1, sum(i.pages for i in both))
    ppm_m, ppm_o = pages / ours.wall * 60, (pages / theirs.wall * 60 if theirs.wall else 0.0)
    plain_pages = len(plain.texts)
    ppm_p = plain_pages / plain.wall * 60 if plain.wall else 0.0
    print(f"\n{'':28} {'mailroom':>12} {'OCRmyPDF':>12} {'ratio':>6}")
    print(f"{'pages per minute (' + str(jobs) + ' jobs)':28} {ppm_m:12.1f} {ppm_o:12.1f} {ratio(ppm_m, ppm_o):>6}")
    print(f"{'bytes per page':28} {bytes_m:12,.0f} {bytes_o:12,.0f} {ratio(bytes_m, bytes_o):>6}")
    print(f"{'peak RSS, process tree (MB)':28} {ours.peak_rss / 1e6:12.0f} {theirs.peak_rss / 1e6:12.0f}"
          f" {ratio(ours.peak_rss, theirs.peak_rss):>6}")
    print(f"{'wall seconds':28} {ours.wall:12.1f} {theirs.wall:12.1f}")
    if not theirs.wall:
        print("OCRmyPDF's PDFs were taken from an earlier run (--ocrmypdf-from): its speed and memory are not"
              " measured")
    if plain_pages:
        print(f"plain tesseract: {plain_pages} real pages, {ppm_p:.1f} pages per minute ({jobs} jobs),"
              f" no text layer, no rotation, no clean-up")
    for name, tool in (("mailroom", ours), ("OCRmyPDF", theirs)):
        for item, reason in tool.failures.items():
            print(f"échec {name} {item}: {reason}")
    summary.update(pages=pages, jobs=jobs, pages_per_minute_mailroom=ppm_m, pages_per_minute_ocrmypdf=ppm_o,
                   pages_per_minute_tesseract=ppm_p,
                   bytes_per_page_mailroom=bytes_m, bytes_per_page_ocrmypdf=bytes_o,
                   peak_rss_mailroom=ours.peak_rss, peak_rss_ocrmypdf=theirs.peak_rss,
                   failures_mailroom=ours.failures, failures_ocrmypdf=theirs.failures)
    return dict(summary=summary, pages=rows)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        _mailroom_child(Path(argv[1]), Path(argv[2]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--damaged", type=int, default=24, help="damaged synthetic pages")
    parser.add_argument("--clean", type=int, default=12, help="clean synthetic pages")
    parser.add_argument("--no-real", action="store_true", help="leave out the corpus scans")
    parser.add_argument("--only", action="append", default=[],
                        help="keep only the real pages whose name contains this (repeatable)")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--ocrmypdf-args", default="--rotate-pages --deskew",
                        help="OCRmyPDF options besides -l fra+eng and --jobs")
    parser.add_argument("--ocrmypdf-from", type=Path, default=None,
                        help="reuse OCRmyPDF's PDFs from an earlier run's OUT/ocrmypdf (CER only, no speed figure)")
    args = parser.parse_args(argv)
    if not shutil.which("ocrmypdf") and not Path(sys.executable).with_name("ocrmypdf").exists():
        print("OCRmyPDF is not installed: .venv/bin/pip install ocrmypdf", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="ocr-bench-"))
    try:
        inputs = prepare_inputs(args.out / "input", args.damaged, args.clean, not args.no_real)
        if args.only:
            inputs = [i for i in inputs if i.set != "real" or any(part in i.name for part in args.only)]
        print(f"{sum(i.pages for i in inputs)} pages, {args.jobs} jobs; OCRmyPDF "
              f"{subprocess.run([str(Path(sys.executable).with_name('ocrmypdf')), '--version'], capture_output=True, text=True).stdout.strip()}")
        ours = run_mailroom(inputs, args.jobs, work / "mailroom")
        theirs = run_ocrmypdf(inputs, args.jobs, work / "ocrmypdf", args.ocrmypdf_args.split(), args.ocrmypdf_from)
        plain = run_plain(inputs, args.jobs, work / "tesseract")
        results = report(inputs, ours, theirs, plain, args.jobs)
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=1, ensure_ascii=False))
        for tool in ("mailroom", "ocrmypdf"):
            target = args.out / tool
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(work / tool / "out", target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
