"""`mailroom eval`: the test split as the mailroom will see it, i.e. printed, scanned and OCRed.

Each test letter is rendered to a 300 dpi page image (DejaVu fonts, a slight
skew, blur and speckles), read back with Tesseract (fra), and cached by the
hash of its text, so a rerun costs seconds. The shipped classifier and a
baseline of the kind paperless-ngx uses (word 1-2-gram counts + scikit-learn
MLP, trained on the same training split) are measured on the same OCR text.
"""
from __future__ import annotations

import hashlib
import json
import os
import random
import re
import textwrap
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from ..config import Config
from . import calibrate
from .model import Classifier, evidence
from .train import CORPUS_DIR, load_corpus

RENDER_VERSION = "r1"  # change when rendering changes, to invalidate the OCR cache
DPI = 300
PAGE = (2480, 3508)   # A4 at 300 dpi
MARGIN = 220
FONTS = ["/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
         "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf"]


# ---- render + OCR -------------------------------------------------------------------------

def render(text: str, seed: int) -> list:
    """Text → page images as a scanner would give them (grey, slightly skewed, a little noisy)."""
    from PIL import Image, ImageDraw, ImageFilter, ImageFont
    rng = random.Random(seed)
    font_file = FONTS[2] if re.search(r"\s{4,}\S", text) else rng.choice(FONTS[:2])  # invoices keep their columns
    size = int(rng.choice([10, 11, 12]) * DPI / 72)
    font = ImageFont.truetype(font_file, size)
    width_chars = max(40, int((PAGE[0] - 2 * MARGIN) / font.getlength("n")))
    lines: list[str] = []
    for raw in text.splitlines():
        lines.extend(textwrap.wrap(raw, width_chars) or [""])
    step = int(size * 1.35)
    per_page = (PAGE[1] - 2 * MARGIN) // step
    pages = []
    for start in range(0, max(len(lines), 1), per_page):
        page = Image.new("L", PAGE, 255)
        draw = ImageDraw.Draw(page)
        y = MARGIN
        for line in lines[start:start + per_page]:
            draw.text((MARGIN, y), line, font=font, fill=rng.randint(0, 50))
            y += step
        page = page.rotate(rng.uniform(-1.2, 1.2), resample=Image.BICUBIC, fillcolor=255)
        page = page.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
        pixels = np.asarray(page, dtype=np.int16)
        noise = np.random.default_rng(seed + start).normal(0, rng.uniform(4, 14), pixels.shape)
        pixels = np.clip(pixels + noise, 0, 255)
        specks = np.random.default_rng(seed + start + 1).random(pixels.shape) < 0.0004
        pixels[specks] = 0
        pages.append(Image.fromarray(pixels.astype(np.uint8)))
    return pages


def _ocr_one(args: tuple[str, int, str]) -> str:
    import pytesseract
    text, seed, cache_file = args
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    pages = render(text, seed)
    result = "\n\f".join(pytesseract.image_to_string(page, lang="fra") for page in pages)
    Path(cache_file).write_text(result, encoding="utf-8")
    return result


def ocr_texts(texts: list[str], cache_dir: Path, jobs: int = 0) -> list[str]:
    """OCR text of each rendered letter, from the cache when it is there."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    files = [cache_dir / (hashlib.sha256((RENDER_VERSION + t).encode()).hexdigest()[:24] + ".txt") for t in texts]
    todo = [(t, int(hashlib.sha256(t.encode()).hexdigest()[:8], 16), str(f)) for t, f in zip(texts, files) if not f.exists()]
    if todo:
        print(f"rendering and OCR of {len(todo)} letters (cache: {cache_dir}) ...", flush=True)
        workers = jobs or (os.cpu_count() or 1)
        if workers > 1:
            with ProcessPoolExecutor(workers) as pool:
                list(pool.map(_ocr_one, todo))
        else:
            for item in todo:
                _ocr_one(item)
    return [f.read_text(encoding="utf-8") for f in files]


# ---- baseline -------------------------------------------------------------------------------

class PaperlessBaseline:
    """What paperless-ngx does: lower case, non-words out, 1-2-gram counts (min_df 1 %), MLPClassifier(tol=0.01).

    paperless-ngx also stems when NLTK is there; NLTK is not a dependency here, so it does not.
    """

    def __init__(self, seed: int = 0):
        from sklearn.feature_extraction.text import CountVectorizer
        from sklearn.neural_network import MLPClassifier
        self.vectorizer = CountVectorizer(analyzer="word", ngram_range=(1, 2), min_df=0.01)
        self.model = MLPClassifier(tol=0.01, random_state=seed)

    @staticmethod
    def _prep(text: str) -> str:
        return re.sub(r"[^\w\s]", " ", text.lower())

    def fit(self, texts: list[str], labels: list[str]) -> "PaperlessBaseline":
        self.model.fit(self.vectorizer.fit_transform([self._prep(t) for t in texts]), labels)
        return self

    def probabilities(self, texts: list[str], labels: list[str]) -> np.ndarray:
        raw = self.model.predict_proba(self.vectorizer.transform([self._prep(t) for t in texts]))
        out = np.zeros((len(texts), len(labels)))
        for j, cls in enumerate(self.model.classes_):
            out[:, labels.index(cls)] = raw[:, j]
        return out


# ---- figures --------------------------------------------------------------------------------

def figures(probs: np.ndarray, gold: list[str], labels: list[str], threshold: float) -> dict:
    """Per-category P/R/F1, confusion matrix, ECE and routing figures for one set of probabilities."""
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
    pred = [labels[i] for i in probs.argmax(axis=1)]
    confidence = probs.max(axis=1)
    correct = np.array([p == g for p, g in zip(pred, gold)])
    reviewable = np.array([p == "autre" for p in pred])
    p, r, f, support = precision_recall_fscore_support(gold, pred, labels=labels, zero_division=0)
    curve = calibrate.routing_curve(confidence, correct, reviewable)
    at = calibrate.routing_curve(confidence, correct, reviewable, np.array([threshold]))[0]
    return {
        "documents": len(gold), "accuracy": float(correct.mean()), "macro_f1": float(np.mean(f)),
        "per_category": {label: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(support[i])}
                         for i, label in enumerate(labels)},
        "confusion": confusion_matrix(gold, pred, labels=labels).tolist(),
        "ece": calibrate.expected_calibration_error(confidence, correct),
        "threshold": threshold, "auto_precision": at.precision, "review_rate": at.review_rate,
        "curve": [{"threshold": c.threshold, "review_rate": c.review_rate, "precision": c.precision} for c in curve],
    }


def precision_at_review_rate(probs: np.ndarray, gold: list[str], labels: list[str], rate: float) -> float:
    """Auto-routed precision when the given share of documents goes to review: the least confident ones, and autre.

    Each model's own threshold lands on its own review rate; at the same review
    rate their precisions can be compared.
    """
    pred = probs.argmax(axis=1)
    correct = np.array([labels[p] == g for p, g in zip(pred, gold)])
    routable = np.flatnonzero(np.array([labels[p] != "autre" for p in pred]))
    keep = min(len(routable), int(round((1 - rate) * len(gold))))
    auto = routable[np.argsort(-probs.max(axis=1)[routable], kind="stable")[:keep]]
    return float(correct[auto].mean()) if len(auto) else 1.0


def by_source(probs: np.ndarray, examples: list, labels: list[str]) -> dict[str, dict]:
    """Accuracy and macro-F1 for each author of the test letters: one author's style must not carry the mean."""
    from sklearn.metrics import f1_score
    out = {}
    for source in sorted({e.source for e in examples}):
        rows = [i for i, e in enumerate(examples) if e.source == source]
        gold = [examples[i].category for i in rows]
        pred = [labels[j] for j in probs[rows].argmax(axis=1)]
        out[source or "?"] = {"documents": len(rows), "accuracy": float(np.mean([p == g for p, g in zip(pred, gold)])),
                              "macro_f1": float(f1_score(gold, pred, labels=sorted(set(gold)), average="macro"))}
    return out


def _short(label: str) -> str:
    return "".join(part[:3] for part in label.split("-"))[:7]


def print_figures(name: str, fig: dict, labels: list[str]) -> None:
    print(f"\n=== {name} ===")
    print(f"{'category':<27} {'prec':>6} {'recall':>6} {'F1':>6} {'n':>4}")
    for label in labels:
        row = fig["per_category"][label]
        print(f"{label:<27} {row['precision']:6.3f} {row['recall']:6.3f} {row['f1']:6.3f} {row['support']:4d}")
    print(f"accuracy {fig['accuracy']:.3f}   macro-F1 {fig['macro_f1']:.3f}   ECE {fig['ece']:.3f}")
    print("confusion matrix (rows: true, columns: predicted)")
    print(" " * 8 + " ".join(f"{_short(l):>7}" for l in labels))
    for label, row in zip(labels, fig["confusion"]):
        print(f"{_short(label):<8}" + " ".join(f"{v:7d}" for v in row))
    print("auto-routed precision vs review rate (autre always reviewed)")
    print("  threshold  review  precision")
    for point in fig["curve"]:
        if round(point["threshold"] * 100) % 5 == 0 or abs(point["threshold"] - fig["threshold"]) < 1e-9:
            mark = "  <- threshold" if abs(point["threshold"] - fig["threshold"]) < 1e-9 else ""
            print(f"  {point['threshold']:9.2f}  {point['review_rate']:6.3f}  {point['precision']:9.3f}{mark}")
    print(f"at threshold {fig['threshold']:.2f}: auto-routed precision {fig['auto_precision']:.3f}, review rate {fig['review_rate']:.3f}")


def run(config: Config, *, corpus_dir: Path = CORPUS_DIR, model_dir: Path | None = None, clean: bool = False,
        cache_dir: Path | None = None, jobs: int = 0, json_out: Path | None = None) -> int:
    corpus = load_corpus(corpus_dir)
    classifier = Classifier.load(model_dir or config.model_dir)
    labels = classifier.labels
    test = [e for e in corpus["test"] if e.category in labels]
    if not test:
        print(f"no test letters in {corpus_dir}")
        return 1
    gold = [e.category for e in test]
    cache_dir = cache_dir or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mailroom" / "eval-ocr"
    texts = [e.text for e in test] if clean else ocr_texts([e.text for e in test], cache_dir, jobs)
    source = "clean text" if clean else "rendered at 300 dpi and OCRed with Tesseract (fra)"
    print(f"test split: {len(test)} letters, {source}")
    meta_file = Path(model_dir or config.model_dir) / "calibration.json"
    validation_figures = json.loads(meta_file.read_text(encoding="utf-8")).get("validation", {})
    if validation_figures:
        print("validation split (clean text; fitted the temperature and chose the threshold): "
              f"{validation_figures['documents']} letters, accuracy {validation_figures['accuracy']:.3f}, "
              f"ECE {validation_figures['ece']:.3f}, at the recommended threshold auto-routed precision "
              f"{validation_figures['auto_precision']:.3f} and review rate {validation_figures['review_rate']:.3f}")

    started = time.perf_counter()
    ours = np.stack([classifier.calibration.probabilities(row, evidence(t, labels))
                     for row, t in zip(classifier.log_probs(texts), texts)])
    per_doc_ms = (time.perf_counter() - started) * 1000 / len(texts)
    single = []
    for t in texts[:30]:
        t0 = time.perf_counter()
        classifier.rank(t)
        single.append((time.perf_counter() - t0) * 1000)

    if not corpus["train"]:  # a folder of test letters only: the baseline learns from the corpus the model learned from
        corpus.update({split: rows for split, rows in load_corpus(CORPUS_DIR).items() if split != "test"})
    train = [e for e in corpus["train"] if e.category in labels]
    validation = [e for e in corpus["validation"] if e.category in labels]
    baseline = PaperlessBaseline().fit([e.text for e in train], [e.category for e in train])
    base_val = baseline.probabilities([e.text for e in validation], labels)
    val_correct = base_val.argmax(axis=1) == np.array([labels.index(e.category) for e in validation])
    val_review = np.array([labels[i] == "autre" for i in base_val.argmax(axis=1)])
    base_threshold = calibrate.choose_threshold(calibrate.routing_curve(base_val.max(axis=1), val_correct, val_review))
    base_probs = baseline.probabilities(texts, labels)

    ours_fig = figures(ours, gold, labels, config.classify.threshold)
    base_fig = figures(base_probs, gold, labels, base_threshold)
    print_figures(f"spaCy textcat (calibrated), threshold from configuration", ours_fig, labels)
    if classifier.recommended_threshold is not None and abs(classifier.recommended_threshold - config.classify.threshold) > 1e-9:
        at = figures(ours, gold, labels, classifier.recommended_threshold)
        print(f"at the threshold validation recommends ({classifier.recommended_threshold:.2f}): "
              f"auto-routed precision {at['auto_precision']:.3f}, review rate {at['review_rate']:.3f}")
        ours_fig["recommended"] = {"threshold": classifier.recommended_threshold, "auto_precision": at["auto_precision"],
                                   "review_rate": at["review_rate"]}
    print_figures("baseline: word 1-2-gram counts + MLP (paperless-ngx style), threshold chosen on validation", base_fig, labels)
    sources = by_source(ours, test, labels)
    if len(sources) > 1:
        print("\nby author of the test letters      spaCy acc / macro-F1    baseline acc / macro-F1")
        base_sources = by_source(base_probs, test, labels)
        for source, row in sources.items():
            other = base_sources[source]
            print(f"  {source:<28} {row['documents']:4d}   {row['accuracy']:.3f} / {row['macro_f1']:.3f}"
                  f"          {other['accuracy']:.3f} / {other['macro_f1']:.3f}")
        ours_fig["by_source"], base_fig["by_source"] = sources, base_sources
    ours_fig["precision_at_baseline_review"] = precision_at_review_rate(ours, gold, labels, base_fig["review_rate"])
    base_fig["precision_at_spacy_review"] = precision_at_review_rate(base_probs, gold, labels, ours_fig["review_rate"])
    print(f"\nsame review rate, auto-routed precision: at {base_fig['review_rate']:.3f} (the baseline's) spaCy "
          f"{ours_fig['precision_at_baseline_review']:.3f} vs baseline {base_fig['auto_precision']:.3f}; "
          f"at {ours_fig['review_rate']:.3f} (spaCy's) spaCy {ours_fig['auto_precision']:.3f} vs baseline "
          f"{base_fig['precision_at_spacy_review']:.3f}")
    print(f"\nclassification time: {per_doc_ms:.1f} ms/document in batch, {np.median(single):.1f} ms/document one by one (median), one process")
    rows = [("macro-F1", ours_fig["macro_f1"], base_fig["macro_f1"], "high"),
            ("accuracy", ours_fig["accuracy"], base_fig["accuracy"], "high"),
            ("review rate", ours_fig["review_rate"], base_fig["review_rate"], "low"),
            ("ECE", ours_fig["ece"], base_fig["ece"], "low"),
            (f"precision, review {ours_fig['review_rate']:.3f}", ours_fig["auto_precision"],
             base_fig["precision_at_spacy_review"], "high"),
            (f"precision, review {base_fig['review_rate']:.3f}", ours_fig["precision_at_baseline_review"],
             base_fig["auto_precision"], "high")]
    print("\nsummary (auto-routed precision compared at the same review rate)")
    print(f"{'':<26} {'spaCy':>6}   {'baseline':>8}")
    for name, a, b, better in rows:
        ahead = (a >= b) if better == "high" else (a <= b)
        print(f"{name:<26} {a:6.3f}   {b:8.3f}   {'ahead' if ahead else 'BEHIND'}")
    if json_out:
        json_out.write_text(json.dumps({"source": source, "spacy": ours_fig, "baseline": base_fig,
                                        "ms_per_document": float(np.median(single))}, indent=1), encoding="utf-8")
    return 0
