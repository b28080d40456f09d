import random

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, cohen_kappa_score, confusion_matrix, precision_recall_fscore_support

from eval_pipelines.calibration import agreement, binary_rates


def sklearn_figures(human, judge):
    precision, recall, f1, _ = precision_recall_fscore_support(human, judge, average="macro", zero_division=0)
    return {"accuracy": accuracy_score(human, judge),
            "cohen_kappa": cohen_kappa_score(human, judge, replace_undefined_by=0.0), "macro_precision": precision,
            "macro_recall": recall, "macro_f1": f1}


def ours(human, judge):
    result = agreement(human, judge, resamples=0)
    return {name: getattr(result, name) for name in ("accuracy", "cohen_kappa", "macro_precision", "macro_recall",
                                                     "macro_f1")}


@pytest.mark.parametrize("seed", range(8))
def test_agreement_matches_scikit_learn_on_random_labels(seed):
    rng = random.Random(seed)
    labels = ["pass", "fail", "partial", "n/a"][: rng.randint(2, 4)]
    human = [rng.choice(labels) for _ in range(rng.randint(5, 300))]
    judge = [h if rng.random() < rng.random() else rng.choice(labels) for h in human]
    assert ours(human, judge) == pytest.approx(sklearn_figures(human, judge))
    result = agreement(human, judge, resamples=0)
    assert result.confusion == confusion_matrix(human, judge, labels=result.labels).tolist()


@pytest.mark.filterwarnings("ignore:A single label was found")
@pytest.mark.parametrize(("human", "judge"), [
    (["a"] * 10, ["a"] * 10),                      # a single class: kappa undefined, reported as 0
    (["a", "b"] * 5, ["b", "a"] * 5),              # every item disagrees
    (["a", "a", "b", "b"], ["a", "c", "b", "c"]),  # the judge uses a label humans never gave
    ([1, 2, 2, 3], [1, 2, 3, 3]),                  # any hashable labels
])
def test_agreement_matches_scikit_learn_on_edge_cases(human, judge):
    assert ours(human, judge) == pytest.approx(sklearn_figures(human, judge))


def test_unequal_lengths_are_an_error():
    with pytest.raises(ValueError, match="differ in length"):
        agreement(["a"], ["a", "b"])


def test_bootstrap_intervals_cover_the_true_accuracy_in_simulation():
    rng = np.random.default_rng(7)
    true_accuracy, covered, runs = 0.8, 0, 150
    for run in range(runs):
        human = rng.integers(0, 2, 150)
        judge = np.where(rng.random(150) < true_accuracy, human, 1 - human)
        low, high = agreement(human.tolist(), judge.tolist(), resamples=300, seed=run).intervals["accuracy"]
        covered += low <= true_accuracy <= high
    assert covered / runs >= 0.9


def test_binary_rates_are_the_judges_sensitivity_and_specificity():
    human = [True] * 8 + [False] * 4
    judge = [True] * 6 + [False] * 2 + [False] * 3 + [True]
    rates = binary_rates(human, judge, resamples=200)
    assert (rates.n_pass, rates.n_fail, rates.tpr, rates.tnr) == (8, 4, 0.75, 0.75)
    assert rates.youden_j == pytest.approx(0.5)
    assert rates.intervals["tpr"][0] <= 0.75 <= rates.intervals["tpr"][1]
