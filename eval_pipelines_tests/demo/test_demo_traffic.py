import os
import subprocess
import sys

import pyarrow as pa
import pytest

from eval_pipelines.ingestion import build_hours
from eval_pipelines.landing import LandingIndex
from eval_pipelines.parsing.records import HOUR_NS
from eval_pipelines_tests.conftest import DEMO_DAY


@pytest.fixture
def demo_day(demo_home, settings, prices, con):
    index = LandingIndex(demo_home.landing, demo_home.landing_index)
    index.refresh()
    first = int(pa.scalar(DEMO_DAY, pa.date32()).cast(pa.timestamp("s")).value) * 10**9 // HOUR_NS
    built = list(build_hours(index, first, first + 23, settings, prices, con))
    traces = pa.concat_tables(b.traces for b in built).to_pandas()
    traces["hour"] = traces.start_time.dt.hour
    return traces, pa.concat_tables(b.quarantine for b in built).to_pandas()


def refusal(text) -> bool:
    return isinstance(text, str) and any(w in text for w in ("sorry", "cannot", "unable", "Lo siento", "leid"))


def test_every_source_convention_and_service_is_present(demo_day):
    traces, _ = demo_day
    assert set(traces.source_format) == {"otel_genai", "otel_genai_deprecated", "openinference", "plain_jsonl"}
    assert set(traces.service_name) == {"support-assistant", "ticket-classifier", "shipping-bot-legacy",
                                        "kb-search", "batch-summarizer"}
    content = traces.input_text.notna() & traces.output_text.notna()
    assert content[traces.status_code != "ERROR"].mean() > 0.99
    assert traces.route.notna().all() and traces.prompt_version.notna().all()
    assert traces[traces.route == "/kb"].retrieved_context.notna().all()
    assert traces.session_id.notna().mean() > 0.99


def test_prompt_rollout_raises_refusals_on_orders(demo_day):
    traces, _ = demo_day
    orders = traces[traces.route == "/orders"]
    by_version = orders.groupby("prompt_version").output_text.apply(lambda s: s.map(refusal).mean())
    assert set(orders[orders.hour < 14].prompt_version) == {"v6"}
    assert set(orders[orders.hour >= 14].prompt_version) == {"v7"}
    assert by_version["v7"] > 0.25 > 0.08 > by_version["v6"]


def test_malformed_json_burst_on_classify(demo_day):
    import json

    def valid(text):
        try:
            json.loads(text)
        except (TypeError, ValueError):
            return False
        return True

    traces, _ = demo_day
    classify = traces[traces.route == "/classify"]
    invalid = ~classify.output_text.map(valid)
    assert invalid[classify.hour == 9].mean() > 0.3
    assert invalid[classify.hour != 9].mean() < 0.05


def test_topic_shift_in_the_evening(demo_day):
    traces, _ = demo_day
    disputes = traces.input_text.str.contains("disput|chargeback|hacked|logged into", regex=True, na=False)
    assert disputes[traces.hour >= 18].mean() > 3 * disputes[traces.hour < 18].mean()


def test_damaged_lines_are_quarantined(demo_day):
    _, quarantine = demo_day
    assert len(quarantine) >= 30
    assert quarantine.reason.str.startswith("malformed JSON").any()


def test_make_demo_entry_point_materializes_the_day(demo_home, tmp_path):
    env = {**os.environ, "EVAL_PIPELINES_HOME": str(demo_home.root), "DAGSTER_HOME": str(tmp_path / "dagster")}
    result = subprocess.run([sys.executable, "-m", "eval_pipelines", "demo"], env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "materialized 24/24 hour(s)" in result.stdout
    assert "Where to look" in result.stdout and "validation pass rate" in result.stdout
    assert demo_home.catalog.exists()
    assert (tmp_path / "dagster" / "dagster.yaml").exists()
    assert any((tmp_path / "dagster" / "history").rglob("*.db")), "runs were not recorded persistently"
