"""Accuracy of field extraction against the test authors' letters, annotated by hand, on clean text and after OCR.

Each `samples/letters/<author>.fields.jsonl` holds, per letter, what a reader
finds in it: the acceptable senders, the letter date, the amount TTC of an
invoice, the urgent flag, e-mails and phones. The annotations were written by
people who never saw the extractor.

    .venv/bin/python -m bench.extract            # clean text and OCR (OCR cached with `mailroom eval`'s cache)
    .venv/bin/python -m bench.extract --clean    # clean text only
    .venv/bin/python -m bench.extract --errors   # also list every miss
    .venv/bin/python -m bench.extract --split validation   # the letters the extractor's rules were tuned on
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.classify.extract import extract_fields, fold  # noqa: E402
from pipeline.classify.train import load_corpus  # noqa: E402

LETTERS = Path(__file__).resolve().parents[1] / "samples" / "letters"
FIELDS = ("sender", "letter_date", "amount_ttc", "urgent", "emails", "phones")


def load_truth(letters: Path = LETTERS) -> dict[str, dict]:
    truth = {}
    for path in sorted(letters.glob("*.fields.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                truth[row["id"]] = row
    return truth


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]{2,}", fold(text or "").lower()))


def sender_matches(found: str | None, acceptable: list[str]) -> bool:
    """Right when the extracted sender names one of the acceptable senders (all its words present), or when none is expected and none is given."""
    if not acceptable:
        return found is None
    if not found:
        return False
    words = _words(found)
    return any(_words(answer) and _words(answer) <= words | {"famille"} for answer in acceptable)


def judge(field: str, found, expected) -> bool:
    if field == "sender":
        return sender_matches(found, expected)
    if field == "amount_ttc":
        if expected is None or found is None:
            return expected is None and found is None
        return abs(abs(float(found)) - abs(float(expected))) < 0.01
    if field == "phones":
        return {re.sub(r"\D", "", p) for p in found} == {re.sub(r"\D", "", p) for p in expected}
    if field == "emails":
        return {e.lower() for e in found} == {e.lower() for e in expected}
    return found == expected


def measure(texts: dict[str, str], truth: dict[str, dict]) -> tuple[dict[str, float], dict[str, dict], list[str]]:
    """(accuracy per field, urgent precision/recall, misses)."""
    hits = {field: 0 for field in FIELDS}
    urgent = {"tp": 0, "fp": 0, "fn": 0}
    misses = []
    for letter_id, text in texts.items():
        fields = extract_fields(text)
        expected = dict(truth[letter_id], sender=truth[letter_id]["senders"])
        for field in FIELDS:
            if judge(field, fields[field], expected[field]):
                hits[field] += 1
            else:
                misses.append(f"{letter_id} {field}: found {fields[field]!r}, expected {expected[field]!r}")
        urgent["tp"] += fields["urgent"] and expected["urgent"]
        urgent["fp"] += fields["urgent"] and not expected["urgent"]
        urgent["fn"] += expected["urgent"] and not fields["urgent"]
    n = max(len(texts), 1)
    scores = {field: hits[field] / n for field in FIELDS}
    flagged, real = urgent["tp"] + urgent["fp"], urgent["tp"] + urgent["fn"]
    rates = {"precision": urgent["tp"] / flagged if flagged else 1.0, "recall": urgent["tp"] / real if real else 1.0,
             "flagged": flagged, "real": real}
    return scores, rates, misses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clean", action="store_true", help="clean text only, no rendering and OCR")
    parser.add_argument("--errors", action="store_true", help="list every miss")
    parser.add_argument("--jobs", type=int, default=0)
    parser.add_argument("--split", choices=("test", "validation"), default="test")
    args = parser.parse_args(argv)
    truth = load_truth()
    letters = [e for e in load_corpus()[args.split] if e.id in truth]
    if not letters:
        print(f"no annotated test letters (looked for {LETTERS}/*.fields.jsonl)")
        return 1
    runs = {"clean text": {e.id: e.text for e in letters}}
    if not args.clean:
        from pipeline.classify.evaluate import ocr_texts
        cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mailroom" / "eval-ocr"
        runs["after OCR"] = dict(zip((e.id for e in letters), ocr_texts([e.text for e in letters], cache, args.jobs)))
    print(f"{args.split} split: {len(letters)} annotated letters from {len({e.source for e in letters})} authors")
    print(f"{'field':<14}" + "".join(f"{name:>14}" for name in runs))
    results = {name: measure(texts, truth) for name, texts in runs.items()}
    for field in FIELDS:
        print(f"{field:<14}" + "".join(f"{results[name][0][field]:14.3f}" for name in runs))
    for name, (_, rates, _) in results.items():
        print(f"urgent ({name}): precision {rates['precision']:.3f}, recall {rates['recall']:.3f} "
              f"({rates['flagged']} flagged, {rates['real']} urgent by the annotators)")
    if args.errors:
        for name, (_, _, misses) in results.items():
            print(f"\n--- misses, {name}")
            print("\n".join(misses))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
