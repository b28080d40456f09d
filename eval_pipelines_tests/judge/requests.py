"""Sampled requests with their content, for judge tests."""

from datetime import UTC, datetime

import pyarrow as pa

from eval_pipelines.schemas import JUDGE_SAMPLE, TRACES


def request(span_id: str, output: str = "Open Settings, choose Reset password and follow the e-mail link.",
            question: str = "How do I reset my password?", route: str = "/chat", **fields) -> dict:
    return {"span_id": span_id, "trace_id": f"t-{span_id}", "start_time": datetime(2026, 11, 21, 14, tzinfo=UTC),
            "route": route, "prompt_version": "v1", "request_model": "m", "response_model": "m-2026",
            "input_text": question, "output_text": output, **fields}


def traces_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist([{name: row.get(name) for name in TRACES.names} for row in rows], schema=TRACES)


def sample_table(rows: list[dict], probability: float = 0.5) -> pa.Table:
    sampled = [{**{name: row.get(name) for name in JUDGE_SAMPLE.names}, "stratum": "all", "stratum_size": 2,
                "stratum_sampled": 1, "inclusion_probability": probability, "priority": False,
                "priority_reasons": [], "draw": 0.1} for row in rows]
    return pa.Table.from_pylist(sampled, schema=JUDGE_SAMPLE)
