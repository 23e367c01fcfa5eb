"""Turn raw scores into probabilities that mean what they say, and pick the routing threshold.

Temperature scaling (one parameter, fitted on validation by log loss) keeps the
ranking of the classes and only fixes over- or under-confidence. The rule
evidence (cerfa, CAF number, SIRET, marché number) enters as extra logits whose
weights are fitted in the same optimisation, so a rule counts as much as
validation says it deserves.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Calibration:
    temperature: float = 1.0
    rule_weights: dict[str, float] = field(default_factory=dict)

    def logits(self, log_probs: np.ndarray, evidence: dict[str, np.ndarray] | None = None) -> np.ndarray:
        z = log_probs / self.temperature
        for rule, vector in (evidence or {}).items():
            z = z + self.rule_weights.get(rule, 0.0) * vector
        return z

    def probabilities(self, log_probs: np.ndarray, evidence: dict[str, np.ndarray] | None = None) -> np.ndarray:
        return softmax(self.logits(log_probs, evidence))


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def fit(log_probs: np.ndarray, labels: np.ndarray, evidence: list[dict[str, np.ndarray]] | None = None,
        rules: list[str] | None = None) -> Calibration:
    """Fit temperature (and rule weights, each in [0, 5]) by minimising validation negative log-likelihood.

    log_probs: (n, k) log of the model's probabilities; labels: (n,) class indices;
    evidence: per document, rule -> (k,) vector of the classes the rule points to.
    """
    from scipy.optimize import minimize  # training only: classifying needs numpy alone
    rules = rules or []
    n, k = log_probs.shape
    stacked = {r: np.stack([(e or {}).get(r, np.zeros(k)) for e in (evidence or [{}] * n)]) for r in rules}

    def nll(params: np.ndarray) -> float:
        z = log_probs / np.exp(params[0])
        for i, r in enumerate(rules):
            z = z + params[1 + i] * stacked[r]
        z = z - z.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(z).sum(axis=1))
        return float(np.mean(log_norm - z[np.arange(n), labels]))

    start = np.array([0.0] + [1.0] * len(rules))
    bounds = [(np.log(0.05), np.log(20.0))] + [(0.0, 5.0)] * len(rules)
    result = minimize(nll, start, method="L-BFGS-B", bounds=bounds)
    params = result.x
    return Calibration(temperature=float(np.exp(params[0])),
                       rule_weights={r: float(params[1 + i]) for i, r in enumerate(rules)})


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    """ECE of the top guess: |accuracy - confidence| averaged over equal-width bins, weighted by bin size."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    if len(confidence) == 0:
        return 0.0
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            total += mask.sum() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total / len(confidence))


@dataclass
class CurvePoint:
    threshold: float
    auto_rate: float        # share of all documents routed without review
    review_rate: float
    precision: float        # share of auto-routed documents whose category is right


def routing_curve(confidence: np.ndarray, correct: np.ndarray, reviewable: np.ndarray,
                  thresholds: np.ndarray | None = None) -> list[CurvePoint]:
    """Auto-routed precision and review rate for each threshold.

    reviewable marks documents that go to review whatever their confidence (top guess "autre").
    """
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=bool)
    reviewable = np.asarray(reviewable, dtype=bool)
    if thresholds is None:
        thresholds = np.round(np.arange(0.30, 1.0001, 0.01), 2)
    n = max(len(confidence), 1)
    points = []
    for t in thresholds:
        auto = (confidence >= t) & ~reviewable
        precision = float(correct[auto].mean()) if auto.any() else 1.0
        points.append(CurvePoint(float(t), float(auto.sum() / n), float(1 - auto.sum() / n), precision))
    return points


def choose_threshold(points: list[CurvePoint], target: float = 0.98, floor: float = 0.5) -> float:
    """Lowest threshold from which auto-routed precision stays at or above target for every higher threshold."""
    chosen = max(p.threshold for p in points)
    for point in sorted(points, key=lambda p: p.threshold, reverse=True):
        if point.precision < target:
            break
        chosen = point.threshold
    return round(max(chosen, floor), 2)
