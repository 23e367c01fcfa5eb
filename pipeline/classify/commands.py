"""`mailroom train` and `mailroom eval`: registered into the CLI by cli.py."""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..config import Config
from ..store import Store

CORPUS_DIR = Path(__file__).resolve().parents[2] / "samples" / "corpus"  # train.py's default, without importing spaCy


def register(subparsers) -> None:
    train = subparsers.add_parser("train", help="train the classifier from samples/corpus and the supervisors' corrections",
                                  description="Train, calibrate on the validation split and write the model to the model directory.")
    train.add_argument("--corpus", type=Path, default=CORPUS_DIR, help="folder with train/validation/test.jsonl")
    train.add_argument("--out", type=Path, default=None, help="model directory (default: the configured one)")
    train.add_argument("--epochs", type=int, default=20)
    train.add_argument("--no-corrections", action="store_true", help="ignore the supervisors' corrections in the database")
    train.set_defaults(handler=train_command)

    evaluate = subparsers.add_parser("eval", help="evaluate the classifier on the test split after rendering and OCR",
                                     description="Per-category precision/recall/F1, confusion matrix, ECE, routing curve, "
                                                 "and the same figures for a paperless-ngx-like baseline.")
    evaluate.add_argument("--corpus", type=Path, default=CORPUS_DIR)
    evaluate.add_argument("--model", type=Path, default=None, help="model directory (default: the configured one)")
    evaluate.add_argument("--clean", action="store_true", help="use the clean text, skip rendering and OCR")
    evaluate.add_argument("--cache", type=Path, default=None, help="OCR cache folder (default: ~/.cache/mailroom/eval-ocr)")
    evaluate.add_argument("--jobs", type=int, default=0, help="OCR processes (default: one per core)")
    evaluate.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    evaluate.set_defaults(handler=eval_command)


def train_command(config: Config, args: argparse.Namespace) -> int:
    from .model import forget_classifiers
    from .train import train_model
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    corrections = [] if args.no_corrections or not config.database_path.exists() else Store(config.database_path).examples()
    out = args.out or config.model_dir
    meta = train_model(list(config.categories), out, corpus_dir=args.corpus, corrections=corrections, epochs=args.epochs)
    forget_classifiers()
    v = meta["validation"]
    print(f"model written to {out}")
    print(f"trained on {meta['trained']['train_documents']} documents ({meta['trained']['corrections']} corrections), "
          f"best epoch {meta['trained']['best_epoch']}, {meta['trained']['seconds']} s")
    print(f"validation: accuracy {v['accuracy']:.3f}, ECE {v['ece']:.3f}, temperature {meta['temperature']:.2f}")
    print(f"recommended threshold {meta['threshold']:.2f}: auto-routed precision {v['auto_precision']:.3f}, "
          f"review rate {v['review_rate']:.3f} (configured: {config.classify.threshold:.2f})")
    return 0


def eval_command(config: Config, args: argparse.Namespace) -> int:
    from .evaluate import run
    return run(config, corpus_dir=args.corpus, model_dir=args.model or config.model_dir, clean=args.clean,
               cache_dir=args.cache, jobs=args.jobs, json_out=args.json)
