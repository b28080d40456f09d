from datetime import UTC, datetime, time, timedelta

import pyarrow as pa
import pytest

from eval_pipelines.conversations.agents import TOOL_COLUMNS, build_agent_runs
from eval_pipelines.evaluators import load_evaluator_config, score_requests
from eval_pipelines.ingestion import build_hours
from eval_pipelines.landing import LandingIndex
from eval_pipelines.parsing.records import HOUR_NS
from eval_pipelines.schemas import TRACES
from eval_pipelines_tests.conftest import DEMO_DAY


@pytest.fixture
def demo_day(demo_home, settings, prices, con):
    index = LandingIndex(demo_home.landing, demo_home.landing_index)
    index.refresh()
    first = int(pa.scalar(DEMO_DAY, pa.date32()).cast(pa.timestamp("s")).value) * 10**9 // HOUR_NS
    built = list(build_hours(index, first, first + 23, settings, prices, con))
    traces = pa.concat_tables(b.traces for b in built).to_pandas()
    traces["hour"] = traces.start_time.dt.hour
    return (traces, pa.concat_tables(b.quarantine for b in built).to_pandas(),
            pa.concat_tables(b.feedback for b in built).to_pandas(), pa.concat_tables(b.tools for b in built))


@pytest.fixture
def demo_scores(demo_day, con):
    """The day's programmatic scores, as the ``programmatic_scores`` asset computes them per hour."""
    traces, *_ = demo_day
    scores = score_requests(pa.Table.from_pandas(traces[list(TRACES.names)], schema=TRACES,
                                                 preserve_index=False), load_evaluator_config(), con).to_pandas()
    scores["hour"] = scores.start_time.dt.hour
    return scores


def failure_rate(scores, evaluator, **where):
    rows = scores[scores.evaluator == evaluator]
    for column, value in where.items():
        rows = rows[rows[column] == value]
    return 1 - rows.passed.mean()


def test_every_source_convention_and_service_is_present(demo_day):
    traces, *_ = demo_day
    assert set(traces.source_format) == {"otel_genai", "otel_genai_deprecated", "openinference", "plain_jsonl"}
    assert set(traces.service_name) == {"support-assistant", "ticket-classifier", "shipping-bot-legacy",
                                        "kb-search", "order-agent", "batch-summarizer"}
    content = traces.input_text.notna() & traces.output_text.notna()
    assert content[traces.status_code != "ERROR"].mean() > 0.99
    assert traces.route.notna().all() and traces.prompt_version.notna().all()
    assert traces[traces.route == "/kb"].retrieved_context.notna().all()
    assert traces.session_id.notna().mean() > 0.99


def test_prompt_rollout_raises_refusals_on_orders(demo_day, demo_scores):
    traces, *_ = demo_day
    orders = traces[traces.route == "/orders"]
    assert set(orders[orders.hour < 14].prompt_version) == {"v6"}
    assert set(orders[orders.hour >= 14].prompt_version) == {"v7"}
    v7 = failure_rate(demo_scores, "refusal", route="/orders", prompt_version="v7")
    v6 = failure_rate(demo_scores, "refusal", route="/orders", prompt_version="v6")
    others = failure_rate(demo_scores[demo_scores.route != "/orders"], "refusal")
    assert v7 > 0.25 > 0.08 > max(v6, others)


def test_malformed_json_burst_on_classify(demo_scores):
    classify = demo_scores[demo_scores.route == "/classify"]
    assert failure_rate(classify, "json_valid", hour=9) > 0.3
    assert failure_rate(classify[classify.hour != 9], "json_valid") < 0.05
    assert failure_rate(classify, "json_schema", hour=9) >= failure_rate(classify, "json_valid", hour=9)


def test_the_order_agent_loops_from_six_to_nine_and_breaks_its_tools_from_eleven_to_one(demo_day, con):
    traces, _, _, tools = demo_day
    calls = pa.Table.from_pandas(traces[list(TRACES.names)], schema=TRACES, preserve_index=False)
    runs = build_agent_runs(con, calls, tools.select(TOOL_COLUMNS), datetime.combine(DEMO_DAY, time(), UTC),
                            datetime.combine(DEMO_DAY, time(), UTC) + timedelta(days=1)).to_pandas()
    runs["hour"] = runs.first_time.dt.hour
    assert (runs.route == "/agent").all() and runs.declared_tools.eq(1).all()
    broken = runs.hour.isin([11, 12])
    assert runs[broken].invalid_tool_calls.gt(0).all() and runs[~broken].invalid_tool_calls.eq(0).all()
    assert runs[broken].tool_call_problems.map(lambda problems: problems[0].startswith("lookup_order: ")).all()
    assert runs[broken].tool_errors.gt(0).all() and runs[~broken].tool_errors.eq(0).all()
    assert runs[broken].tool_error_messages.map(lambda errors: list(errors) == ["lookup_order: ValueError"]).all()
    assert (runs.tool_executions == runs.tool_calls).all() and set(tools["source_format"].to_pylist()) == {
        "openinference"}
    looping = runs.prompt_version == "agent-v2"
    assert runs[looping].hour.isin([6, 7, 8]).all() and not runs[~looping].hour.isin([6, 7, 8]).any()
    assert looping.sum() > 0
    assert runs[looping].loops.eq(2).all() and runs[~looping].loops.eq(0).all()
    assert (runs[~looping].steps == 2).all() and (runs[looping].steps == 4).all()


def test_topic_shift_in_the_evening(demo_day):
    traces, *_ = demo_day
    disputes = traces.input_text.str.contains("disput|chargeback|hacked|logged into", regex=True, na=False)
    assert disputes[traces.hour >= 18].mean() > 3 * disputes[traces.hour < 18].mean()


def test_damaged_lines_are_quarantined(demo_day):
    _, quarantine, *_ = demo_day
    assert len(quarantine) >= 30
    assert quarantine.reason.str.startswith("malformed JSON").any()


def test_feedback_arrives_as_span_events_and_survey_files(demo_day):
    _, quarantine, feedback, _ = demo_day
    assert set(feedback.source) == {"trace_event", "feedback_file"}
    thumbs, ratings = feedback[feedback.kind == "thumbs"], feedback[feedback.kind == "rating"]
    assert len(thumbs) > 20 and thumbs.response_id.notna().all() and 0 < (thumbs.label == "down").mean() < 0.5
    assert len(ratings) > 5 and ratings.score.between(0, 1).all()
    stray = quarantine[quarantine.source_file.str.endswith("/csat-stray.jsonl")].reason
    assert stray.str.contains("outside 0..5").any() and stray.str.contains("names no response_id").any()
