from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest

from eval_pipelines.judge.run import budget_gate
from eval_pipelines.judge.settings import BudgetSettings, Limit
from eval_pipelines.judge.summary import day_spend, status_counts, weighted_pass_rates
from eval_pipelines.lake import Lake
from eval_pipelines.schemas import JUDGE_SCORES

NOW = datetime.now(UTC)


def rows(*specs) -> pa.Table:
    """(cache_key, status, tokens, judged_at, passed, inclusion_probability) per row."""
    return pa.Table.from_pylist([
        {"span_id": f"s{i}", "rubric": "helpfulness", "cache_key": key, "status": status, "input_tokens": tokens,
         "output_tokens": 0, "judged_at": when, "passed": passed, "inclusion_probability": p}
        for i, (key, status, tokens, when, passed, p) in enumerate(specs)], schema=JUDGE_SCORES)


def test_the_day_budget_counts_each_verdict_of_today_once_across_partitions_and_tables(tmp_path, con):
    lake = Lake(tmp_path)
    lake.write_partition("judge_scores", "hour", "2026-11-21-13:00", rows(
        ("k1", "ok", 100, NOW, True, 1.0), ("k2", "ok", 50, NOW, True, 1.0),
        ("k3", "ok", 999, NOW - timedelta(days=1), True, 1.0)))
    lake.write_partition("judge_scores", "hour", "2026-11-21-14:00", rows(
        ("k2", "ok", 50, NOW, True, 1.0),  # the same verdict reused in another hour
        ("k4", "error", 0, NOW, None, 1.0), ("k5", "skipped_budget", 0, NOW, None, 1.0)))
    assert day_spend(con, [lake.scan("judge_scores")], NOW.date()) == (3, 150)
    lake.write_partition("conversation_judge_scores", "hour", "2026-11-21-14:00",
                         rows(("k6", "ok", 20, NOW, True, 1.0)))
    tables = [lake.scan("judge_scores"), lake.scan_existing("conversation_judge_scores"), None]
    assert day_spend(con, tables, NOW.date()) == (4, 170)
    assert day_spend(con, [None], NOW.date()) == (0, 0)
    budget = BudgetSettings(per_partition=Limit(calls=100, tokens=10_000), per_day=Limit(calls=4, tokens=1000))
    gate = budget_gate(budget, 3, 150)
    assert (gate.calls, gate.tokens) == (1, 850)
    assert budget_gate(budget, 9, 150).calls == 0


def test_pass_rates_are_weighted_back_to_the_traffic(con):
    # A hard case taken with certainty fails; two regular requests stand for ten each and pass.
    scores = rows(("a", "ok", 1, NOW, False, 1.0), ("b", "ok", 1, NOW, True, 0.1), ("c", "ok", 1, NOW, True, 0.1),
                  ("d", "error", 0, NOW, None, 0.1))
    (rate,) = weighted_pass_rates(con, scores)
    assert rate.judged == 3 and rate.raw == pytest.approx(2 / 3) and rate.weighted == pytest.approx(20 / 21)
    assert status_counts(scores) == {"ok": 3, "invalid": 0, "refused": 0, "unparseable": 0, "error": 1,
                                     "circuit_open": 0, "skipped_budget": 0}


def test_the_strata_table_escapes_slice_values_from_traces():
    from eval_pipelines.judge.summary import Stratum, strata_markdown

    table = strata_markdown([Stratum("route=<script>alert(1)</script> | x", 10, 5)])
    assert "<script>" not in table and "&lt;script&gt;" in table and "\\|" in table
    assert table.splitlines()[-1].endswith("| 10 | 5 | 0.500 |")
