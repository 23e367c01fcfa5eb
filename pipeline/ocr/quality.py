"""How good a reading is, measured on its own words: the yardstick to keep the better of two readings.

Tesseract's word confidence alone flatters junk read with assurance (a stain read
as « ll », an upside-down line read as « uoʇ »), so each character's confidence
is weighted by what the word is: a French word of the lexicon (or a number) counts
in full, any other alphabetic word — names, codes, misreadings — counts less.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import lexicon

OTHER_WEIGHT = 0.4  # a word the lexicon does not know: maybe a name, maybe a misreading


@dataclass(frozen=True)
class Quality:
    score: float       # 0-100: confidence of the read characters, weighted by dictionary words
    characters: int    # letters and digits read
    known_share: float  # share of the alphabetic words (2+ letters) that are French words
    confidence: float = 0.0  # 0-100: plain confidence of the read characters (names count in full)

    def better_than(self, other: "Quality", margin: float = 0.0) -> bool:
        """More text read with more assurance: the score weighted by how much of the page was read.

        A reading that keeps only a few confident words of a page is not better than one that
        reads it all a little less surely: the comparison is on the sum, not on the mean."""
        return self.score * self.characters > (other.score + margin) * other.characters


def measure(words: list[tuple[str, float]]) -> Quality:
    """``words``: (text, confidence 0-100) pairs of one reading."""
    known = alphabetic = 0
    total = weighted = plain = 0.0
    vocabulary = lexicon.french_words()
    for text, confidence in words:
        core = "".join(ch for ch in text if ch.isalnum())
        if not core:
            continue
        word = core.isalpha() and len(core) >= 2
        french = word and core.lower() in vocabulary
        if word:
            alphabetic += 1
            known += french
        weight = 1.0 if french or core.isdigit() or (not word and len(core) == 1) else OTHER_WEIGHT
        weighted += len(core) * confidence * weight
        plain += len(core) * confidence
        total += len(core)
    return Quality(weighted / total if total else 0.0, int(total), known / alphabetic if alphabetic else 0.0,
                   plain / total if total else 0.0)
