import numpy as np
import pytest

from eval_pipelines.calibration.statistics import (
    compare_canary,
    ordinal_agreement,
    ordinal_alpha,
    position_bias,
    reviewer_agreement,
    rogan_gladen,
)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: 4 observers, 12 units.
NAN = np.nan
PUBLISHED = np.array([
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
])


def test_krippendorff_alpha_reproduces_the_published_worked_example():
    assert ordinal_alpha(PUBLISHED) == pytest.approx(0.815, abs=0.001)
    by_item = {unit: {observer: PUBLISHED[observer, unit] for observer in range(4)
                      if not np.isnan(PUBLISHED[observer, unit])} for unit in range(12)}
    items, _, nominal = reviewer_agreement(by_item)
    assert items == 11 and nominal == pytest.approx(0.743, abs=0.001)  # unit 12 has one rating only


def test_ordinal_agreement_of_a_judge_that_tracks_humans():
    rng = np.random.default_rng(3)
    human = rng.integers(1, 6, 200)
    judge = np.clip(human + rng.integers(-1, 2, 200), 1, 5)
    result = ordinal_agreement(human, judge, resamples=100)
    assert 0.6 < result.spearman < 1 and 0.5 < result.kendall < result.spearman
    assert 0.6 < result.krippendorff_alpha < 1
    low, high = result.intervals["spearman"]
    assert low < result.spearman < high
    assert ordinal_agreement([3, 3, 3], [3, 3, 3], resamples=0).spearman == 0.0


def test_rogan_gladen_recovers_the_true_rate_with_an_interval_that_covers_it():
    rng = np.random.default_rng(11)
    true_rate, tpr, tnr, covered, runs = 0.3, 0.9, 0.8, 0, 300
    estimates = []
    for _ in range(runs):
        truth = rng.random(3000) < true_rate
        judged = np.where(truth, rng.random(3000) < tpr, rng.random(3000) > tnr)
        human = rng.random(400) < 0.5  # calibration items with known human verdicts
        calibration_judge = np.where(human, rng.random(400) < tpr, rng.random(400) > tnr)
        est_tpr, est_tnr = calibration_judge[human].mean(), 1 - calibration_judge[~human].mean()
        result = rogan_gladen(judged.mean(), 3000, est_tpr, int(human.sum()), est_tnr, int((~human).sum()))
        estimates.append(result.corrected)
        covered += result.interval[0] <= true_rate <= result.interval[1]
    assert abs(np.mean(estimates) - true_rate) < 0.01 and abs(judged.mean() - true_rate) > 0.05
    assert covered / runs >= 0.9


def test_rogan_gladen_refuses_when_the_judge_cannot_separate_pass_from_fail():
    result = rogan_gladen(0.4, 1000, tpr=0.55, n_pass=100, tnr=0.5, n_fail=100)
    assert result.corrected is None and "Youden's J = 0.05" in result.reason
    assert rogan_gladen(0.99, 1000, 0.9, 100, 0.9, 100).corrected == 1.0  # clipped


def test_the_canary_notices_a_changed_judge_and_not_a_stable_one():
    rng = np.random.default_rng(5)
    labels = rng.choice(["pass", "fail"], 120).tolist()
    scores = rng.integers(1, 6, 120).astype(float).tolist()
    assert not compare_canary(labels, labels, scores, scores).changed
    flipped = [("fail" if label == "pass" else "pass") if i % 5 == 0 else label for i, label in enumerate(labels)]
    harsher = [max(1.0, s - 1) for s in scores]
    changed = compare_canary(labels, flipped, scores, harsher)
    assert changed.changed and changed.flips == 24 and changed.mean_score_shift < 0


def test_a_raw_rate_beyond_what_the_judge_can_produce_is_clipped_with_its_interval():
    result = rogan_gladen(0.98, 500, tpr=0.9, n_pass=80, tnr=0.8, n_fail=80)  # (0.98 + 0.8 - 1) / 0.7 > 1
    assert result.corrected == 1.0 and 0 <= result.interval[0] <= result.interval[1] == 1.0


def test_position_bias_counts_verdicts_that_follow_the_order_of_presentation():
    in_order = ["a_better", "b_better", "a_better", "tie"]
    swapped_back = ["a_better", "b_better", "b_better", "tie"]  # pair 3: preferred whichever came first
    bias = position_bias(in_order, swapped_back)
    assert (bias.pairs, bias.consistency, bias.first_position_rate) == (4, 0.75, 0.25)
