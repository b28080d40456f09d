"""Drift of a day against its reference, on synthetic traffic in a real lake."""

import random
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest

from eval_pipelines.config import ConfigError
from eval_pipelines.lake import Lake
from eval_pipelines.monitoring.drift import (
    DriftSettings,
    compare,
    drift_rows,
    load_drift_settings,
    read_side,
    topic_of,
)
from eval_pipelines.schemas import PROGRAMMATIC_SCORES, TRACES

DAY = date(2026, 11, 21)
SETTINGS = load_drift_settings().model_copy(update={"max_rows": 600})
CALM = {"Where is my order #{n}?": ("/orders", "v6", "It left the warehouse yesterday."),
        "How do I return item {n}?": ("/returns", "v4", "Print the prepaid label from the Orders page."),
        "Is the lamp {n} waterproof?": ("/kb", "kb-v3", "It is rated IP67 [kb-101].")}
SHIFTED = {"I am disputing the charge {n}, I never authorised it.": ("/chat", "v4", "I have opened a dispute."),
           "Someone logged into my account {n}, I think I was hacked.": ("/chat", "v4", "Reset your password now."),
           "Where is my order #{n}?": ("/orders", "v7", "I'm sorry, but I can't help with that request.")}


def land_day(lake: Lake, day: date, templates: dict, per_hour: int, seed: int) -> None:
    rng = random.Random(seed)
    for hour in range(8, 12):
        start = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
        traces, scores = [], []
        for i in range(per_hour):
            question = rng.choice(list(templates))
            route, version, answer = templates[question]
            span = f"{day}-{hour}-{i}"
            traces.append({"span_id": span, "trace_id": span, "start_time": start + timedelta(seconds=i),
                           "input_text": question.format(n=rng.randint(1000, 9999)), "output_text": answer,
                           "route": route, "prompt_version": version, "response_model": "gpt-4o-mini"})
            scores.append({"span_id": span, "evaluator": "refusal", "passed": not answer.startswith("I'm sorry")})
        key = f"{start:%Y-%m-%d-%H}:00"
        lake.write_partition("traces", "hour", key, pa.Table.from_pylist(traces, schema=TRACES))
        lake.write_partition("programmatic_scores", "hour", key,
                             pa.Table.from_pylist(scores, schema=PROGRAMMATIC_SCORES))


@pytest.fixture
def lake(home) -> Lake:
    lake = Lake(home.warehouse)
    for back in range(1, 4):
        land_day(lake, DAY - timedelta(days=back), CALM, per_hour=150, seed=back)
    return lake


def drift_of_day(lake: Lake, con, tmp_path, settings: DriftSettings = SETTINGS):
    start, end = settings.reference.period(DAY)
    return compare(read_side(lake, con, DAY, DAY, settings), read_side(lake, con, start, end, settings), settings,
                   DAY, tmp_path / "drift.html")


def test_a_day_like_its_reference_does_not_drift(lake, con, tmp_path):
    land_day(lake, DAY, CALM, per_hour=150, seed=99)
    result = drift_of_day(lake, con, tmp_path)
    assert result.drifted_columns == [] and result.drift_share == 0.0


def test_a_topic_shift_and_a_refusing_prompt_drift_the_inputs_outputs_and_metadata(lake, con, tmp_path):
    land_day(lake, DAY, SHIFTED, per_hour=150, seed=99)
    result = drift_of_day(lake, con, tmp_path)
    assert {"input_topic", "input_chars", "refused", "prompt_version", "route", "output_text"} <= set(
        result.drifted_columns)
    assert not {"response_model", "input_language"} & set(result.drifted_columns)  # neither changed
    rows = drift_rows(result).to_pylist()
    assert rows[0]["sli"] == "drift_share" and rows[0]["value"] == pytest.approx(result.drift_share)
    assert rows[0]["hour_start"] == datetime(2026, 11, 21, tzinfo=UTC)


def test_the_report_says_what_was_compared_and_that_it_was_sampled(lake, con, tmp_path):
    land_day(lake, DAY, SHIFTED, per_hour=150, seed=99)
    result = drift_of_day(lake, con, tmp_path)
    assert len(result.reference.frame) == 600 and result.reference.total_rows == 1800
    page = (tmp_path / "drift.html").read_text()
    assert "Reference: 2026-11-14 to 2026-11-20, 600 of 1800 requests (uniform sample)" in page
    assert "Current: 2026-11-21 to 2026-11-21, 600 of 600 requests" in page


def test_a_pinned_reference_is_used_instead_of_the_previous_days(lake, con, tmp_path):
    land_day(lake, DAY, CALM, per_hour=150, seed=99)
    pinned = SETTINGS.model_copy(update={"reference": SETTINGS.reference.model_copy(
        update={"start": DAY - timedelta(days=1), "end": DAY - timedelta(days=1)})})
    result = drift_of_day(lake, con, tmp_path, pinned)
    assert (result.reference.start, result.reference.total_rows) == (DAY - timedelta(days=1), 600)


def test_topics_take_the_first_matching_keyword_list():
    topics = {"disputes": ["chargeback"], "billing": ["charge"]}
    assert topic_of("I will file a CHARGEBACK", topics) == "disputes"
    assert topic_of("Why this charge?", topics) == "billing" and topic_of("Hello", topics) == "other"


def test_a_half_pinned_reference_is_a_clear_error(tmp_path):
    path = tmp_path / "drift.yaml"
    path.write_text("reference:\n  start: 2026-11-01\n")
    with pytest.raises(ConfigError, match="needs both start and end"):
        load_drift_settings(path)
