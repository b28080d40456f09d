"""Ordinal agreement, inter-reviewer agreement, judge error correction and the canary's drift tests."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import krippendorff
import numpy as np
from scipy import stats

from eval_pipelines.calibration.agreement import Interval, bootstrap_interval

Z_95 = 1.959963984540054


@dataclass(frozen=True)
class OrdinalAgreement:
    n: int
    spearman: float
    kendall: float
    krippendorff_alpha: float
    intervals: dict[str, Interval]


def _finite(value: float) -> float:
    return 0.0 if value is None or math.isnan(value) else float(value)


def _ordinal_scores(human: np.ndarray, judge: np.ndarray) -> dict[str, float]:
    if np.unique(human).size < 2 or np.unique(judge).size < 2:
        spearman = kendall = 0.0
    else:
        spearman = _finite(stats.spearmanr(human, judge).statistic)
        kendall = _finite(stats.kendalltau(human, judge).statistic)
    return {"spearman": spearman, "kendall": kendall, "krippendorff_alpha": ordinal_alpha(np.vstack([human, judge]))}


def ordinal_alpha(ratings: np.ndarray) -> float:
    """Krippendorff's alpha, ordinal, of a raters x items matrix (NaN = not rated); 0 with one value."""
    values = np.unique(ratings[~np.isnan(ratings)])
    if values.size < 2:
        return 0.0
    return _finite(krippendorff.alpha(reliability_data=ratings, level_of_measurement="ordinal", value_domain=values))


def ordinal_agreement(human: Sequence[float], judge: Sequence[float], resamples: int = 500, seed: int = 0,
                      level: float = 0.95) -> OrdinalAgreement:
    """Spearman's rho, Kendall's tau-b and Krippendorff's alpha (ordinal) between two raters' scores."""
    h, j = np.asarray(human, float), np.asarray(judge, float)
    scores = _ordinal_scores(h, j) if h.size > 1 else {"spearman": 0.0, "kendall": 0.0, "krippendorff_alpha": 0.0}
    intervals = {}
    if h.size > 2 and resamples:
        draws = np.random.default_rng(seed).integers(0, h.size, size=(resamples, h.size))
        samples = [_ordinal_scores(h[d], j[d]) for d in draws]
        intervals = {name: bootstrap_interval(np.array([s[name] for s in samples]), level) for name in scores}
    return OrdinalAgreement(int(h.size), intervals=intervals, **scores)


def reviewer_agreement(labels_by_item: dict[Hashable, dict[Hashable, Hashable]]) -> tuple[int, float, float]:
    """For items with two or more reviewers: (items, pairwise percent agreement, Krippendorff's alpha nominal)."""
    shared = {item: by_reviewer for item, by_reviewer in labels_by_item.items() if len(by_reviewer) >= 2}
    if not shared:
        return 0, 0.0, 0.0
    pairs = agreeing = 0
    for by_reviewer in shared.values():
        values = list(by_reviewer.values())
        for a in range(len(values)):
            for b in range(a + 1, len(values)):
                pairs += 1
                agreeing += values[a] == values[b]
    reviewers = sorted({r for by_reviewer in shared.values() for r in by_reviewer}, key=str)
    categories = sorted({v for by_reviewer in shared.values() for v in by_reviewer.values()}, key=str)
    code = {category: float(i) for i, category in enumerate(categories)}
    matrix = np.array([[code[shared[item][r]] if r in shared[item] else np.nan for item in shared]
                       for r in reviewers])
    alpha = 1.0 if len(categories) < 2 else _finite(krippendorff.alpha(reliability_data=matrix,
                                                                       level_of_measurement="nominal"))
    return len(shared), agreeing / pairs, alpha


@dataclass(frozen=True)
class CorrectedRate:
    """A judge-measured pass rate corrected for the judge's errors (Rogan-Gladen), or why it cannot be."""

    raw: float
    corrected: float | None
    interval: Interval | None
    youden_j: float
    reason: str | None = None


def rogan_gladen(raw_rate: float, n: float, tpr: float, n_pass: int, tnr: float, n_fail: int,
                 min_youden: float = 0.3) -> CorrectedRate:
    """``p = (q + TNR - 1) / (TPR + TNR - 1)`` clipped to [0, 1], with a delta-method 95% interval.

    The variance adds the production sample's (``q``, effective size ``n``) and the calibration
    sample's (TPR from ``n_pass`` human passes, TNR from ``n_fail`` human fails). Near ``J = TPR + TNR
    - 1 = 0`` the judge does not separate pass from fail and the correction explodes: below
    ``min_youden`` no corrected figure is given, only the reason.
    """
    youden = tpr + tnr - 1
    if youden < min_youden:
        return CorrectedRate(raw_rate, None, None, youden,
                             f"Youden's J = {youden:.2f} < {min_youden}: the judge barely separates pass from fail, "
                             "so a corrected rate would be noise")
    if n <= 0 or n_pass <= 0 or n_fail <= 0:
        return CorrectedRate(raw_rate, None, None, youden, "no production or calibration sample to correct with")
    point = (raw_rate + tnr - 1) / youden
    clipped = _unit(point)
    variance = (raw_rate * (1 - raw_rate) / n + point**2 * tpr * (1 - tpr) / n_pass
                + (1 - point) ** 2 * tnr * (1 - tnr) / n_fail) / youden**2
    half = Z_95 * math.sqrt(max(variance, 0.0))
    return CorrectedRate(raw_rate, clipped, (_unit(point - half), _unit(point + half)), youden)


def _unit(value: float) -> float:
    return min(1.0, max(0.0, value))


@dataclass(frozen=True)
class CanaryComparison:
    items: int
    flips: int
    flip_rate: float
    flip_p_value: float
    mean_score_shift: float
    shift_p_value: float
    changed: bool


def compare_canary(baseline_labels: Sequence[Hashable], labels: Sequence[Hashable],
                   baseline_scores: Sequence[float], scores: Sequence[float], noise_flip_rate: float = 0.02,
                   alpha: float = 0.01) -> CanaryComparison:
    """Did the judge change? Flips beyond the expected noise (one-sided binomial test against
    ``noise_flip_rate``) or a shift in scores (Wilcoxon signed-rank), each at level ``alpha``."""
    n = len(labels)
    flips = sum(a != b for a, b in zip(baseline_labels, labels, strict=True))
    flip_p = float(stats.binomtest(flips, n, noise_flip_rate, alternative="greater").pvalue) if n else 1.0
    differences = np.asarray(scores, float) - np.asarray(baseline_scores, float)
    differences = differences[~np.isnan(differences)]
    shift_p = float(stats.wilcoxon(differences).pvalue) if np.count_nonzero(differences) >= 6 else 1.0
    shift = float(differences.mean()) if differences.size else 0.0
    return CanaryComparison(n, flips, flips / n if n else 0.0, flip_p, shift, shift_p,
                            changed=flip_p < alpha or shift_p < alpha)


@dataclass(frozen=True)
class PositionBias:
    pairs: int
    consistency: float  # share of pairs with the same verdict in both orders (after swapping the labels back)
    first_position_rate: float  # share of pairs where the judge preferred whichever answer was shown first


def position_bias(in_order: Sequence[Hashable], swapped_back: Sequence[Hashable], first: Hashable = "a_better",
                  second: Hashable = "b_better") -> PositionBias:
    """Pairwise verdicts on (A, B) and on (B, A) mapped back to (A, B)'s labels."""
    pairs = len(in_order)
    if not pairs:
        return PositionBias(0, 0.0, 0.0)
    consistent = sum(a == b for a, b in zip(in_order, swapped_back, strict=True))
    # Preferring the first-shown answer both times reads as (first, second) once mapped back.
    first_shown = sum(a == first and b == second for a, b in zip(in_order, swapped_back, strict=True))
    return PositionBias(pairs, consistent / pairs, first_shown / pairs)
