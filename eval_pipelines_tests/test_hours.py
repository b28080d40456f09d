from datetime import date

import pytest

from eval_pipelines.hours import partitions_start


@pytest.mark.parametrize(("today", "first"), [
    (date(2026, 12, 5), date(2026, 10, 1)), (date(2026, 1, 31), date(2025, 11, 1)),
    (date(2026, 3, 1), date(2026, 1, 1)),
])
def test_partitions_start_two_months_back_by_default(today, first):
    assert partitions_start({}, today) == first


def test_the_deployment_names_the_first_day_or_is_told_what_is_wrong():
    assert partitions_start({"EVAL_PIPELINES_START": " 2024-06-30 "}) == date(2024, 6, 30)
    with pytest.raises(ValueError, match=r"EVAL_PIPELINES_START='last spring' is not a date \(YYYY-MM-DD\)"):
        partitions_start({"EVAL_PIPELINES_START": "last spring"})
