"""The shipped classifier: spaCy textcat + calibration + rule evidence, loaded once per process.

The directory written by ``mailroom train`` holds ``textcat/`` (a spaCy
pipeline, loaded offline from disk) and ``calibration.json`` (labels,
temperature, rule weights, the threshold validation recommends).
"""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from spacy.lang.fr.stop_words import STOP_WORDS as FRENCH_STOP_WORDS

from . import architecture  # noqa: F401  (registers the textcat architecture before spacy.load)
from .calibrate import Calibration
from .extract import find_caf_numbers, find_cerfas, find_marches, find_sirets, fold

MAX_CHARS = 8000  # a letter's first pages say what it is about; bounds the time per document
RULES = ("cerfa", "caf", "siret", "marche", "intervention")
CERFA_CATEGORY = {
    "16301": "autonomie-personnes-agees",   # demande d'aides à l'autonomie (APA)
    "15692": "autonomie-handicap",          # demande MDPH
    "15695": "autonomie-handicap",          # certificat médical MDPH
    "13394": "enfance-famille",             # agrément d'assistant maternel
    "12156": "subventions-associations",    # demande de subvention
    "15059": "subventions-associations",    # compte rendu financier de subvention
    "14023": "routes",                      # permission de voirie / arrêté
    "14024": "routes",
    "15481": "rsa-insertion",               # demande de RSA
}
SIRET_CATEGORIES = ("factures", "marches-publics", "subventions-associations")
# An élu's intervention, or a citizen turning to the Président himself after the services: the cabinet's mail,
# whatever service the story belongs to. Words of the services cannot tell it; these phrasings can.
INTERVENTION = re.compile(
    r"(?:mon|notre) attention a ete appelee|j'ai ete saisie? par|appeler votre (?:bienveillante |haute )?attention|"
    r"votre (?:intervention|arbitrage|soutien) personnel|intervenir personnellement|je me tourne vers vous|"
    r"(?:personne|aucun service) ne (?:me |nous )?(?:repond|bouge)|(?:ecrit|relance) (?:deux|trois|quatre|plusieurs) fois")


STOP_WORDS = frozenset(fold(w) for w in FRENCH_STOP_WORDS)
STEM = 6  # French inflection lives in word endings: "handicapé", "handicapés", "handicap" become one feature


def normalize(text: str) -> str:
    """What the text classifier sees: content words, unaccented, lower case, cut to their first letters, digits blurred.

    OCR loses accents and confuses case; grammatical words and endings carry
    no topic and let a small corpus overfit its own phrasings; identifiers
    are random, only their shape matters.
    """
    words = re.findall(r"[a-z0-9]+", re.sub(r"\d", "0", fold(text[:MAX_CHARS])))
    return " ".join(w[:STEM] for w in words if len(w) > 1 and w not in STOP_WORDS)


def evidence(text: str, labels: list[str]) -> dict[str, np.ndarray]:
    """Rule name -> vector over labels of the classes that a trusted identifier points to."""
    index = {label: i for i, label in enumerate(labels)}
    out: dict[str, np.ndarray] = {}

    def point(rule: str, categories) -> None:
        for category in categories:
            if category in index:
                out.setdefault(rule, np.zeros(len(labels)))[index[category]] = 1.0

    point("cerfa", {CERFA_CATEGORY[c[:5]] for c in find_cerfas(text) if c[:5] in CERFA_CATEGORY})
    if find_caf_numbers(text):
        point("caf", ["rsa-insertion"])
    if find_sirets(text)[0]:
        point("siret", SIRET_CATEGORIES)
    if find_marches(text):
        point("marche", ["marches-publics"])
    if INTERVENTION.search(fold(text[:MAX_CHARS])):
        point("intervention", ["cabinet"])
    return out


@dataclass
class Classifier:
    nlp: object
    labels: list[str]
    calibration: Calibration
    recommended_threshold: float | None = None

    @classmethod
    def load(cls, path: Path) -> "Classifier":
        import spacy
        path = Path(path)
        meta_file = path / "calibration.json"
        if not meta_file.is_file():
            raise FileNotFoundError(f"{path}: no trained classifier here (calibration.json missing); run `mailroom train`")
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        nlp = spacy.load(path / "textcat")
        return cls(nlp, list(meta["labels"]), Calibration(meta["temperature"], meta.get("rule_weights", {})),
                   meta.get("threshold"))

    def log_probs(self, texts: list[str]) -> np.ndarray:
        """(n, k) log of the textcat's own probabilities, columns in self.labels order."""
        rows = []
        for doc in self.nlp.pipe(normalize(t) for t in texts):
            rows.append([doc.cats.get(label, 0.0) for label in self.labels])
        return np.log(np.clip(np.array(rows, dtype=float).reshape(len(texts), len(self.labels)), 1e-9, 1.0))

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """(n, k) calibrated probabilities with rule evidence."""
        raw = self.log_probs(texts)
        return np.stack([self.calibration.probabilities(raw[i], evidence(t, self.labels)) for i, t in enumerate(texts)])

    def rank(self, text: str, allowed: set[str] | None = None) -> list[tuple[str, float]]:
        """Labels by calibrated probability, best first; renormalised over the allowed ones."""
        probs = self.probabilities([text])[0]
        pairs = [(label, float(p)) for label, p in zip(self.labels, probs) if allowed is None or label in allowed]
        total = sum(p for _, p in pairs) or 1.0
        return sorted(((label, p / total) for label, p in pairs), key=lambda item: -item[1])


_cache: dict[Path, Classifier] = {}
_lock = threading.Lock()


def get_classifier(model_dir: Path) -> Classifier:
    """The classifier of model_dir, loaded at first use and kept for the life of the process."""
    key = Path(model_dir).resolve()
    with _lock:
        if key not in _cache:
            _cache[key] = Classifier.load(key)
        return _cache[key]


def forget_classifiers() -> None:
    """Drop loaded models (after `mailroom train` replaced one on disk, or in tests)."""
    with _lock:
        _cache.clear()
