"""Candidates' outputs for golden items as requests the production evaluators and judge can score, and
their scores (and teams' reported results) as ``offline_scores`` rows.

A candidate's output is its answer to the item's input. For a golden conversation (``unit: session``) that input
is the transcript, and the session rubrics judge the transcript with the candidate's answer in place of the last
one; for a golden agent run (``unit: agent_run``) the trajectory rubric judges the candidate's own ``steps`` (its
answer as one step when it gives none). The call rubrics judge the answer in every case."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from eval_pipelines.evaluators.engine import REQUEST_COLUMNS
from eval_pipelines.judge.conversations import with_last_answer
from eval_pipelines.judge.prompts import JudgeItem
from eval_pipelines.judge.run import judge_item
from eval_pipelines.schemas import JUDGE_SAMPLE, OFFLINE_SCORES, TRACES

SEPARATOR = "\x1f"


def output_key(output: dict[str, Any]) -> str:
    """The request id of a candidate's output for one item (item, model, prompt version)."""
    return SEPARATOR.join((output["item_id"], output["model"], output["prompt_version"]))


def offline_requests(outputs: list[dict[str, Any]], items: dict[str, dict[str, Any]]) -> pa.Table:
    """One request per output, in the columns the evaluators read: the golden item's input and context,
    the candidate's answer."""
    rows = []
    for output in outputs:
        item = items[output["item_id"]]
        context = item["input"].get("retrieved_context")
        rows.append({**dict.fromkeys(REQUEST_COLUMNS), "span_id": output_key(output), "route": item["tags"]["route"],
                     "prompt_version": output["prompt_version"], "request_model": output["model"],
                     "response_model": output["model"], "input_text": item["input"]["text"],
                     "output_text": output["output_text"], "tool_calls": output.get("tool_calls"),
                     "retrieved_context": json.dumps(context) if context is not None else None})
    return pa.Table.from_pylist(rows, schema=pa.schema([TRACES.field(name).with_nullable(True)
                                                        for name in REQUEST_COLUMNS]))


def offline_judge_items(item: dict[str, Any], output: dict[str, Any], request: dict[str, Any]) -> list[JudgeItem]:
    """What the judge reads of one output: the answer to the item's input, and for a golden conversation or agent
    run the whole unit as well (each rubric judges the items of its unit)."""
    call = judge_item(request)
    unit = item.get("unit") or "call"
    if unit == "session":
        return [call, JudgeItem(call.span_id, with_last_answer(call.input, output["output_text"]), "", unit=unit)]
    if unit == "agent_run":
        steps = output.get("steps") or f"Step 1: answered: {output['output_text']}"
        return [call, JudgeItem(call.span_id, call.input, steps, unit=unit)]
    return [call]


def judge_sample_row(output: dict[str, Any], route: str | None) -> dict[str, Any]:
    """The sample columns a judgement of an offline output carries (it is not sampled: probability 1)."""
    return {**dict.fromkeys(JUDGE_SAMPLE.names), "span_id": output_key(output), "route": route,
            "prompt_version": output["prompt_version"], "request_model": output["model"],
            "response_model": output["model"], "stratum": "offline", "inclusion_probability": 1.0, "priority": False}


def offline_rows(source: str, outputs: list[dict[str, Any]], programmatic: pa.Table, judged: pa.Table) -> pa.Table:
    """The evaluators' and the judge's results on the outputs, one row per output and metric."""
    by_key = {output_key(output): output for output in outputs}
    rows = []
    for row in programmatic.to_pylist():
        if row["passed"] is not None:
            rows.append(_row(source, by_key[row["span_id"]], row["route"], row["evaluator"],
                             f"v{row['evaluator_version']}:{row['settings_hash']}", row["passed"], row["score"], "ok"))
    for row in judged.to_pylist():
        rows.append(_row(source, by_key[row["span_id"]], row["route"], row["rubric"], row["judge_version"],
                         row["passed"] if row["status"] == "ok" else None, row["score"], row["status"]))
    return pa.Table.from_pylist(rows, schema=OFFLINE_SCORES)


def reported_rows(results: list[dict[str, Any]]) -> pa.Table:
    """A team's own offline results, as they reported them."""
    return pa.Table.from_pylist([_row(r["source_file"], r, None, r["metric"], None, r["passed"], r["score"], "reported")
                                 for r in results], schema=OFFLINE_SCORES)


def _row(source: str, output: dict[str, Any], route: str | None, metric: str, version: str | None,
         passed: bool | None, score: float | None, status: str) -> dict[str, Any]:
    return {"source": source, "model": output["model"], "prompt_version": output["prompt_version"],
            "item_id": output["item_id"], "route": route, "metric": metric, "metric_version": version,
            "passed": passed, "score": score, "status": status}
