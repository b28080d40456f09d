"""Agreement between human labels and judge labels: the judge measured as an instrument.

``agreement(human, judge)`` follows scikit-learn's conventions: labels are the union of those present
in either sequence (sorted), macro averages weigh every label equally, and a ratio whose denominator
is zero (a label never predicted, never true; kappa when both raters use one label only) is 0.
Intervals are percentile bootstrap intervals over items (seeded, so reproducible).
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np

Interval = tuple[float, float]
HEADLINE = ("accuracy", "cohen_kappa", "macro_f1")


@dataclass(frozen=True)
class Agreement:
    n: int
    labels: list[Hashable]
    accuracy: float
    cohen_kappa: float
    macro_precision: float
    macro_recall: float
    macro_f1: float
    confusion: list[list[int]]  # rows: human label, columns: judge label, in ``labels`` order
    intervals: dict[str, Interval] = field(default_factory=dict)

    def confusion_dict(self) -> dict[Hashable, dict[Hashable, int]]:
        return {h: dict(zip(self.labels, row, strict=True)) for h, row in zip(self.labels, self.confusion, strict=True)}


def _ratio(numerator: np.ndarray | float, denominator: np.ndarray | float) -> np.ndarray:
    numerator, denominator = np.asarray(numerator, float), np.asarray(denominator, float)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator != 0)


def _confusion(human: np.ndarray, judge: np.ndarray, k: int) -> np.ndarray:
    return np.bincount(human * k + judge, minlength=k * k).reshape(k, k)


def _scores(matrix: np.ndarray) -> dict[str, float]:
    n = matrix.sum()
    true_positive = np.diag(matrix).astype(float)
    predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
    precision, recall = _ratio(true_positive, predicted), _ratio(true_positive, actual)
    f1 = _ratio(2 * true_positive, predicted + actual)
    observed = true_positive.sum() / n if n else 0.0
    expected = float((predicted * actual).sum()) / n**2 if n else 0.0
    kappa = (observed - expected) / (1 - expected) if expected != 1 else 0.0
    return {"accuracy": float(observed), "cohen_kappa": float(kappa), "macro_precision": float(precision.mean()),
            "macro_recall": float(recall.mean()), "macro_f1": float(f1.mean())}


def bootstrap_interval(values: np.ndarray, level: float = 0.95) -> Interval:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def agreement(human: Sequence[Hashable], judge: Sequence[Hashable], resamples: int = 1000, seed: int = 0,
              level: float = 0.95) -> Agreement:
    """Accuracy, Cohen's kappa, macro precision/recall/F1, the confusion matrix, bootstrap intervals."""
    if len(human) != len(judge):
        raise ValueError(f"human and judge labels differ in length ({len(human)} != {len(judge)})")
    labels = sorted(set(human) | set(judge), key=lambda label: (str(type(label)), label))
    index = {label: i for i, label in enumerate(labels)}
    h = np.fromiter((index[label] for label in human), int, len(human))
    j = np.fromiter((index[label] for label in judge), int, len(judge))
    k = len(labels)
    matrix = _confusion(h, j, k) if k else np.zeros((0, 0), int)
    scores = _scores(matrix) if len(h) else dict.fromkeys(("accuracy", "cohen_kappa", "macro_precision",
                                                           "macro_recall", "macro_f1"), 0.0)
    intervals = {}
    if len(h) > 1 and resamples:
        rng = np.random.default_rng(seed)
        draws = rng.integers(0, len(h), size=(resamples, len(h)))
        samples = [_scores(_confusion(h[d], j[d], k)) for d in draws]
        intervals = {name: bootstrap_interval(np.array([s[name] for s in samples]), level) for name in HEADLINE}
    return Agreement(len(h), labels, confusion=matrix.tolist(), intervals=intervals, **scores)


@dataclass(frozen=True)
class BinaryRates:
    """The judge as a pass/fail classifier of what humans call a pass."""

    n_pass: int
    n_fail: int
    tpr: float  # P(judge passes | human passes)
    tnr: float  # P(judge fails | human fails)
    intervals: dict[str, Interval]

    @property
    def youden_j(self) -> float:
        return self.tpr + self.tnr - 1


def binary_rates(human_passed: Sequence[bool], judge_passed: Sequence[bool], resamples: int = 1000,
                 seed: int = 0, level: float = 0.95) -> BinaryRates:
    human, judge = np.asarray(human_passed, bool), np.asarray(judge_passed, bool)
    positives, negatives = judge[human], ~judge[~human]
    tpr = float(positives.mean()) if positives.size else 0.0
    tnr = float(negatives.mean()) if negatives.size else 0.0
    rng = np.random.default_rng(seed)
    intervals = {}
    for name, outcomes in (("tpr", positives), ("tnr", negatives)):
        if outcomes.size > 1 and resamples:
            means = rng.choice(outcomes, size=(resamples, outcomes.size)).mean(axis=1)
            intervals[name] = bootstrap_interval(means, level)
    return BinaryRates(int(human.sum()), int((~human).sum()), tpr, tnr, intervals)
