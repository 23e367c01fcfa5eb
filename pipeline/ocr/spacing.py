"""Letter-spaced words made whole again.

Typists spaced out titles and names (« D i r e c t e u r », « A R T I C L E »),
and wide tracking does the same in print. Tesseract then reads one "word" per
letter, so the text layer, pdftotext and a viewer's search (Ctrl-F « Directeur »)
see letters, not words. In a line, a run of very short words set at an even pitch
is one or more spaced words: the letters are joined, and the run is cut where a gap
is clearly wider than the run's letter gap (the word space of spaced text).
"""
from __future__ import annotations

import statistics

from .textlayer import Line, Word

MAX_PIECE = 3       # a letter-spaced piece is 1 letter, or a few when Tesseract glued some
MIN_PIECES = 4      # fewer pieces than this: ordinary short words (« à la », « y a »)
SINGLE_SHARE = 0.6  # share of the pieces that are a single character
EVEN = 1.6          # a gap wider than this times the run's median gap separates two spaced words
MAX_GAP = 1.6       # letter gaps wider than this times the letter height: columns, not tracking


def _piece(word: Word) -> bool:
    core = word.text.strip(".,;:!?«»\"'()")
    return 0 < len(core) <= MAX_PIECE and len(word.text) <= MAX_PIECE + 1 and core.isalnum()


def _height(word: Word) -> int:
    return max(1, word.box[3] - word.box[1])


def _join(words: list[Word]) -> Word:
    box = (min(w.box[0] for w in words), min(w.box[1] for w in words),
           max(w.box[2] for w in words), max(w.box[3] for w in words))
    return Word("".join(w.text for w in words), min(w.confidence for w in words), box)


def _spaced(run: list[Word]) -> list[Word]:
    """The words of a run of short pieces: joined when it is letter-spaced text, else as they were."""
    if len(run) < MIN_PIECES:
        return run
    singles = sum(len(w.text) == 1 for w in run)
    letters = sum(any(ch.isalpha() for ch in w.text) for w in run)
    if singles < SINGLE_SHARE * len(run) or letters < 0.75 * len(run):  # « 1 2 3 4 »: a table's columns
        return run
    gaps = [max(0, b.box[0] - a.box[2]) for a, b in zip(run, run[1:])]
    letter_gap = statistics.median(gaps)
    height = statistics.median(_height(w) for w in run)
    if letter_gap > MAX_GAP * height:
        return run
    words, current = [], [run[0]]
    for gap, word in zip(gaps, run[1:]):
        if gap > EVEN * max(letter_gap, 0.15 * height):
            words.append(current)
            current = []
        current.append(word)
    words.append(current)
    return [_join(group) if len(group) > 1 else group[0] for group in words]


def join_letter_spaced(lines: list[Line]) -> list[Line]:
    """The same lines, letter-spaced runs joined into words (in place; returns ``lines``)."""
    for line in lines:
        out, run = [], []
        for word in line.words:
            if _piece(word):
                run.append(word)
                continue
            out.extend(_spaced(run))
            run = []
            out.append(word)
        out.extend(_spaced(run))
        line.words = out
    return lines
