"""Classifier: training end to end, the shipped model offline, calibration, threshold and routing to review."""
import argparse
import dataclasses
import json
import logging
import socket
import sys
from pathlib import Path

import numpy as np
import pytest

from pipeline.classify import calibrate, classify_document, needs_review
from pipeline.classify.model import Classifier, evidence, forget_classifiers, normalize
from pipeline.classify.train import train_model
from pipeline.config import ClassifyConfig, load_config
from pipeline.messages import say_reason
from pipeline.records import Document

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "samples"))

RSA_LETTER = """Mme Sabrina Khelif
12 allée des Mésanges
76120 Le Grand-Quevilly

Le Grand-Quevilly, le 14 février 2026

Objet : recours contre la suspension de mon RSA

Madame, Monsieur,

Mon revenu de solidarité active a été suspendu alors que je n'ai jamais reçu la convocation
de mon référent pour le contrat d'engagement réciproque. Mon numéro d'allocataire CAF est le 4417283.
Je forme un recours administratif préalable contre cette décision.

Veuillez agréer mes salutations distinguées.
Sabrina Khelif
"""


def make_doc(text: str, **extra) -> Document:
    return Document(id="d1", input_id="i1", source="scan.pdf", source_sha256="0" * 64, source_pages=[1],
                    received_at="2026-03-03T09:00:00+01:00", text=text, **extra)


@pytest.fixture
def config(home):
    return load_config(home)


def with_model(config, model_dir: Path, threshold: float | None = None):
    classify = ClassifyConfig(threshold=threshold or config.classify.threshold, model=str(model_dir))
    return dataclasses.replace(config, classify=classify)


# ---- training end to end ------------------------------------------------------------------

@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A model trained on a small corpus written by the corpus writer: a few letters per category."""
    import corpus_writer
    root = tmp_path_factory.mktemp("small")
    corpus = root / "corpus"
    corpus.mkdir()
    for split, rows in corpus_writer.build(per_category={"train": 8, "validation": 3, "test": 2}, letters=None).items():
        (corpus / f"{split}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    labels = list(load_config(root).categories)
    model_dir = root / "model"
    meta = train_model(labels, model_dir, corpus_dir=corpus, epochs=3,
                       corrections=[{"category": "routes", "text": "Un arbre est tombé sur la RD 925 au PR 12."},
                                    {"category": "culture", "text": "Demande de prêt d'exposition au musée."}])
    yield corpus, model_dir, meta
    forget_classifiers()


def test_training_writes_a_loadable_calibrated_model(small_model):
    corpus, model_dir, meta = small_model
    assert (model_dir / "textcat").is_dir() and (model_dir / "calibration.json").is_file()
    assert not [p for p in model_dir.parent.iterdir() if p.name.startswith(".")]  # no half-written directory left
    assert meta["trained"]["corrections"] == 2 and meta["trained"]["train_documents"] > 100
    assert 0.05 <= meta["temperature"] <= 20
    assert 0.5 <= meta["threshold"] <= 1.0
    classifier = Classifier.load(model_dir)
    probs = classifier.probabilities([RSA_LETTER, "Facture n° 12, total TTC 120,00 €"])
    assert probs.shape == (2, len(meta["labels"])) and np.allclose(probs.sum(axis=1), 1.0)


def test_unknown_categories_are_skipped_with_a_warning(tmp_path, caplog):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rows = [{"category": c, "text": t} for c, t in [("routes", "Nid-de-poule sur la RD 12 au PR 4."),
                                                     ("factures", "Facture n° 7, total TTC 99,00 €."),
                                                     ("culture", "Prêt d'œuvres au musée.")]] * 3
    (corpus / "train.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        meta = train_model(["routes", "factures", "autre"], tmp_path / "model", corpus_dir=corpus, epochs=2)
    assert meta["trained"]["train_documents"] == 6
    assert any("culture" in r.getMessage() for r in caplog.records)


def test_retraining_replaces_the_model_atomically(small_model, tmp_path):
    corpus, _, _ = small_model
    labels = list(load_config(tmp_path).categories)
    target = tmp_path / "model"
    train_model(labels, target, corpus_dir=corpus, epochs=1)
    first = (target / "calibration.json").read_text()
    train_model(labels, target, corpus_dir=corpus, epochs=2)
    assert (target / "calibration.json").read_text() != first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_eval_on_clean_text_prints_both_models(small_model, config, capsys):
    from pipeline.classify.evaluate import run
    corpus, model_dir, _ = small_model
    assert run(with_model(config, model_dir), corpus_dir=corpus, model_dir=model_dir, clean=True) == 0
    out = capsys.readouterr().out
    assert "macro-F1" in out and "ECE" in out and "confusion matrix" in out
    assert "baseline: word 1-2-gram counts + MLP" in out and "ms/document" in out


def test_eval_gives_figures_by_author_and_at_equal_review_rates(small_model, config, capsys):
    from pipeline.classify.evaluate import run
    corpus, model_dir, _ = small_model
    assert run(with_model(config, model_dir), corpus_dir=corpus, model_dir=model_dir, clean=True) == 0
    out = capsys.readouterr().out
    by_author = out[out.index("by author of the test letters"):out.index("same review rate")]
    assert "assembled" in by_author and "handwritten" in by_author
    assert "precision, review" in out.split("summary")[-1]


def test_precision_at_a_given_review_rate_on_known_scores():
    from pipeline.classify.evaluate import precision_at_review_rate
    labels = ["routes", "autre"]
    # confidence of the top guess: 0.9 right, 0.8 wrong, 0.7 right, 0.6 right; the last one's top guess is autre
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.6, 0.4], [0.2, 0.8]])
    gold = ["routes", "autre", "routes", "routes", "autre"]
    assert precision_at_review_rate(probs, gold, labels, 0.2) == pytest.approx(3 / 4)  # only autre reviewed
    assert precision_at_review_rate(probs, gold, labels, 0.6) == pytest.approx(1 / 2)  # the two most confident routed
    assert precision_at_review_rate(probs, gold, labels, 0.8) == 1.0
    assert precision_at_review_rate(probs, gold, labels, 1.0) == 1.0  # nothing routed, nothing wrong


def test_letters_of_independent_authors_go_to_the_split_their_file_names(tmp_path):
    import corpus_writer
    (tmp_path / "test-lot-x.txt").write_text("=== routes\nUn trou sur la RD 6015.\n\n=== autre\nBonjour.\n", encoding="utf-8")
    (tmp_path / "train-auteur-y.txt").write_text("=== colleges\nLe chauffage du collège est en panne.\n", encoding="utf-8")
    (tmp_path / "brouillon.txt").write_text("=== colleges\nNot a split: ignored.\n", encoding="utf-8")
    splits = corpus_writer.build(per_category={"train": 0, "validation": 0, "test": 0}, letters=tmp_path)
    authored = {split: [r for r in rows if r["source"] not in ("assembled", "handwritten")] for split, rows in splits.items()}
    assert sorted((r["category"], r["source"]) for r in authored["test"]) == [("autre", "test-lot-x"), ("routes", "test-lot-x")]
    assert [(r["category"], r["text"]) for r in authored["train"]] == [("colleges", "Le chauffage du collège est en panne.")]
    assert authored["validation"] == []
    (tmp_path / "test-lot-x.txt").write_text("=== voirie\nUn trou.\n", encoding="utf-8")
    with pytest.raises(ValueError, match="test-lot-x.txt: letter 1 has unknown category 'voirie'"):
        corpus_writer.build(per_category={"train": 0, "validation": 0, "test": 0}, letters=tmp_path)


def test_eval_of_a_folder_with_test_letters_only(small_model, config, tmp_path, capsys):
    from pipeline.classify.evaluate import run
    corpus, model_dir, _ = small_model
    (tmp_path / "test.jsonl").write_text((corpus / "test.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
    assert run(with_model(config, model_dir), corpus_dir=tmp_path, model_dir=model_dir, clean=True) == 0
    assert "baseline" in capsys.readouterr().out


# ---- the shipped model ------------------------------------------------------------------------

def test_shipped_model_loads_and_classifies_offline(config, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("network access during classification")
    monkeypatch.setattr(socket.socket, "connect", no_network)
    forget_classifiers()
    doc = classify_document(make_doc(RSA_LETTER), config)
    assert doc.category == "rsa-insertion"
    assert doc.route_source == "model"
    assert 0.0 < doc.confidence <= 1.0
    assert len(doc.candidates) == 3 and doc.candidates[0].category == doc.category
    assert doc.candidates[0].probability == doc.confidence
    assert [c.probability for c in doc.candidates] == sorted((c.probability for c in doc.candidates), reverse=True)
    assert doc.fields["letter_date"] == "2026-02-14"
    assert {"kind": "allocataire", "value": "4417283"} in doc.fields["references"]
    assert doc.fields["urgent"] and "recours" in doc.fields["urgent_reasons"]


def test_cover_sheet_category_is_kept_but_fields_and_candidates_filled(config):
    doc = make_doc(RSA_LETTER, category="routes", confidence=1.0, route_source="cover-sheet")
    classify_document(doc, config)
    assert (doc.category, doc.confidence, doc.route_source) == ("routes", 1.0, "cover-sheet")
    assert doc.candidates[0].category == "rsa-insertion"
    assert doc.fields["sender"]
    assert needs_review(doc, config) == []


def test_blank_text_goes_to_autre_for_review(config):
    doc = classify_document(make_doc("  \n\f  ~ ."), config)
    assert (doc.category, doc.confidence, doc.candidates) == ("autre", 0.0, [])
    assert needs_review(doc, config)


# ---- routing rules ------------------------------------------------------------------------------

def test_review_reasons(config):
    sure = make_doc("", category="routes", confidence=0.97, route_source="model")
    assert needs_review(sure, config) == []
    unsure = make_doc("", category="routes", confidence=0.41, route_source="model")
    assert [say_reason(r) for r in needs_review(unsure, config)] == ["Confiance insuffisante : 41 % (seuil 80 %)"]
    other = make_doc("", category="autre", confidence=0.99, route_source="model")
    assert [r["code"] for r in needs_review(other, config)] == ["fallback-category"]
    assert "Autre" in say_reason(needs_review(other, config)[0])


def test_always_review_category_and_threshold_from_configuration(config):
    categories = dict(config.categories)
    categories["juridique"] = dataclasses.replace(categories["juridique"], always_review=True)
    strict = dataclasses.replace(config, categories=categories, classify=ClassifyConfig(threshold=0.99))
    doc = make_doc("", category="juridique", confidence=0.98, route_source="model")
    reasons = [say_reason(r) for r in needs_review(doc, strict)]
    assert len(reasons) == 2 and "toujours vérifiée" in reasons[0] and "98 %" in reasons[1]


# ---- calibration and threshold on known scores ------------------------------------------------------

def test_temperature_scaling_recovers_a_known_temperature():
    rng = np.random.default_rng(0)
    true_logits = rng.normal(0, 2.0, size=(4000, 5))
    true_probs = calibrate.softmax(true_logits)
    labels = np.array([rng.choice(5, p=p) for p in true_probs])
    overconfident = np.log(calibrate.softmax(true_logits * 3.0))  # a model three times too sure of itself
    fitted = calibrate.fit(overconfident, labels)
    assert fitted.temperature == pytest.approx(3.0, rel=0.1)
    before = calibrate.expected_calibration_error(np.exp(overconfident).max(1), np.exp(overconfident).argmax(1) == labels)
    probs = fitted.probabilities(overconfident)
    after = calibrate.expected_calibration_error(probs.max(1), probs.argmax(1) == labels)
    assert after < 0.03 < before


def test_rule_weight_is_fitted_from_evidence():
    labels = np.array([0, 1] * 50)
    log_probs = np.log(np.full((100, 2), 0.5))  # the text says nothing
    ev = [{"cerfa": np.eye(2)[y]} for y in labels]  # the rule always points at the truth
    fitted = calibrate.fit(log_probs, labels, ev, ["cerfa"])
    assert fitted.rule_weights["cerfa"] > 3
    assert fitted.probabilities(log_probs[0], ev[0])[0] > 0.95


def test_expected_calibration_error_on_known_values():
    assert calibrate.expected_calibration_error(np.full(10, 0.9), np.array([1] * 9 + [0])) == pytest.approx(0.0)
    assert calibrate.expected_calibration_error(np.full(10, 0.9), np.zeros(10)) == pytest.approx(0.9)


def test_threshold_keeps_auto_routed_precision_at_target():
    confidence = np.array([0.99, 0.97, 0.95, 0.93, 0.91, 0.85, 0.80, 0.70, 0.60, 0.99])
    correct = np.array([1, 1, 1, 1, 1, 0, 1, 0, 1, 1], dtype=bool)
    reviewable = np.array([0, 0, 0, 0, 0, 0, 0, 0, 0, 1], dtype=bool)  # top guess "autre"
    curve = calibrate.routing_curve(confidence, correct, reviewable)
    at = {round(p.threshold, 2): p for p in curve}
    assert at[0.9].precision == 1.0 and at[0.9].review_rate == pytest.approx(0.5)
    assert at[0.8].precision == pytest.approx(6 / 7)
    assert calibrate.choose_threshold(curve, target=0.98) == 0.86
    assert calibrate.choose_threshold(curve, target=0.80) == 0.71  # 0.70 lets a wrong 0.70 through: 6/8


# ---- rules as evidence ----------------------------------------------------------------------------

def test_trusted_identifiers_point_at_their_service():
    labels = ["rsa-insertion", "autonomie-personnes-agees", "factures", "marches-publics", "subventions-associations", "autre"]
    ev = evidence("Formulaire cerfa n° 16301*01, allocataire CAF 1234567", labels)
    assert ev["cerfa"][1] == 1 and ev["caf"][0] == 1
    assert "siret" in evidence("SIRET 732 829 320 00074", labels)
    assert "siret" not in evidence("SIRET 732 829 320 00075", labels)  # wrong Luhn key: no evidence
    assert evidence("Marché n° 2025-118 – lot 3", labels)["marche"][3] == 1


def test_an_intervention_points_at_the_cabinet():
    labels = ["rsa-insertion", "cabinet", "autre"]
    senator = "SÉNAT\n\nMonsieur le Président,\n\nMon attention a été appelée par M. et Mme Lebas, exploitants à Ancourt."
    assert list(evidence(senator, labels)["intervention"]) == [0, 1, 0]
    citizen = "Monsieur le Président,\nJ'ai écrit trois fois à la maison de l'autonomie. Personne ne répond."
    assert "intervention" in evidence(citizen, labels)
    assert "intervention" not in evidence("Monsieur le Président,\nJe demande le renouvellement de mon RSA.", labels)


def test_normalisation_is_robust_to_ocr_accents_and_case():
    assert normalize("HANDICAPÉS") == normalize("handicapes") == normalize("Handicapé")
    assert normalize("Le n° 1234567") == "000000"


# ---- CLI registration ---------------------------------------------------------------------------

def test_commands_register_train_and_eval():
    from pipeline.classify.commands import eval_command, register, train_command
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["train", "--epochs", "2", "--no-corrections"])
    assert args.handler is train_command and args.epochs == 2 and args.no_corrections
    args = parser.parse_args(["eval", "--clean"])
    assert args.handler is eval_command and args.clean


def test_train_command_uses_the_supervisors_corrections(small_model, config, tmp_path, capsys):
    from pipeline.classify.commands import train_command
    from pipeline.store import Store
    corpus, _, _ = small_model
    Store(config.database_path).add_example("colleges", "La chaudière du collège est en panne.", "supervisor", "d9")
    args = argparse.Namespace(corpus=corpus, out=tmp_path / "m", epochs=1, no_corrections=False)
    assert train_command(config, args) == 0
    assert json.loads((tmp_path / "m" / "calibration.json").read_text())["trained"]["corrections"] == 1
    assert "recommended threshold" in capsys.readouterr().out


@pytest.mark.slow
def test_render_and_ocr_of_a_letter(tmp_path):
    from pipeline.classify.evaluate import ocr_texts
    first = ocr_texts([RSA_LETTER], tmp_path, jobs=1)[0]
    assert "solidarité" in first.lower() or "solidarite" in first.lower()
    assert ocr_texts([RSA_LETTER], tmp_path, jobs=1)[0] == first  # from the cache
