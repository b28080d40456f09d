"""Scoring throughput and peak memory, side by side with Evidently 0.7 descriptors, in one run.

    .venv/bin/python bench/scoring_throughput.py [--rows 100000] [--repeats 3]

Generates answers of a support assistant (plain text in several languages, refusals, JSON objects:
valid, incomplete, wrongly typed, malformed; texts quoting order ids), then computes, each side in a
fresh process on the same rows:
- Evidently: ``Dataset.from_pandas`` with ``TextLength``, ``IncludesWords(lemmatize=False)``,
  ``IsValidJSON``, ``RegExp`` and ``JSONSchemaMatch`` (validate_types=True);
- ours: ``eval_pipelines.evaluators.score_requests`` with answer_chars, refusal (the same words),
  json_valid, regex_format (search, as Evidently's RegExp) and json_schema (the equivalent JSON Schema).
Every row's values must be equal (asserted). Figures: rows per second (fastest of --repeats
alternating runs, imports excluded on both sides), the ratio (target >= 5x) and peak RSS.

Where the definitions differ outside this data (documented in the README): Evidently's IncludesWords
matches substrings of words ("sorry" in "sorrymaker") while ours matches whole words; its RegExp is
case-sensitive search, as is ours with ``match: search``; its JSONSchemaMatch checks only listed keys
and Python types, ours is full JSON Schema.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

from processes import measure

WORDS = ["sorry", "unable", "cannot", "apologize"]
ORDER_ID = "ORD-[0-9]{5}"
EVALUATORS_YAML = f"""
defaults:
  answer_chars: {{}}
  refusal: {{phrases: {json.dumps(WORDS)}}}
  json_valid: {{}}
  regex_format: {{checks: {{order_id: {{pattern: "{ORDER_ID}", match: search}}}}}}
  json_schema:
    schema:
      type: object
      required: [intent, urgency]
      properties: {{intent: {{type: string}}, urgency: {{type: string}}}}
"""
ANSWERS = [
    "Your order ORD-{n:05d} left our warehouse yesterday and should arrive within 2-3 business days.",
    "You can return any item within 30 days; the refund reaches your card 5-7 days after we receive it.",
    "I'm sorry, but I cannot help with that request.",
    "Unfortunately I am unable to share that information about order ORD-{n:05d}.",
    "We apologize for the delay: express shipping to Canada takes 2-3 days.",
    "Gracias por escribirnos. Su solicitud está en curso y le responderemos en 24 horas. 📦",
    "Danke für Ihre Nachricht. Ihre Anfrage wird bearbeitet; wir melden uns innerhalb von 24 Stunden.",
    '{{"intent": "order", "urgency": "normal", "language": "en"}}',
    '{{"intent": "return", "urgency": "high", "note": "customer is upset about ORD-{n:05d}"}}',
    '{{"intent": "other"}}',
    '{{"intent": 3, "urgency": "normal"}}',
    '{{"intent": null, "urgency": "normal"}}',
    '{{"intent": "order", "urgency": "norm',
    "Sure! Here is the JSON: {{\"intent\": \"order\"}}",
    "",
]


def generate(path: Path, rows: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from eval_pipelines.schemas import TRACES

    rng = random.Random(5)
    answers = [rng.choice(ANSWERS).format(n=rng.randrange(100_000)) * rng.choice([1, 1, 1, 2]) for _ in range(rows)]
    table = pa.table({
        "span_id": [f"{i:016x}" for i in range(rows)], "trace_id": [f"{i:032x}" for i in range(rows)],
        "start_time": pa.array([1_795_269_600_000_000 + i for i in range(rows)], pa.timestamp("us", tz="UTC")),
        "route": ["/orders"] * rows, "status_code": ["OK"] * rows, "output_text": answers,
    })
    columns = {name: table.column(name) if name in table.column_names else pa.nulls(rows, TRACES.field(name).type)
               for name in TRACES.names}
    pq.write_table(pa.table(columns, schema=TRACES), path)


def evidently_side(data: str, out: str) -> dict:
    import pandas as pd
    from evidently import DataDefinition, Dataset
    from evidently.descriptors import IncludesWords, IsValidJSON, JSONSchemaMatch, RegExp, TextLength

    frame = pd.read_parquet(data, columns=["span_id", "output_text"])
    started = time.perf_counter()
    dataset = Dataset.from_pandas(frame, data_definition=DataDefinition(text_columns=["output_text"]), descriptors=[
        TextLength("output_text", alias="chars"),
        IncludesWords("output_text", words_list=WORDS, lemmatize=False, alias="refusal"),
        IsValidJSON("output_text", alias="json_valid"),
        RegExp("output_text", reg_exp=ORDER_ID, alias="order_id"),
        JSONSchemaMatch("output_text", expected_schema={"intent": str, "urgency": str}, validate_types=True,
                        alias="schema"),
    ])
    result = dataset.as_dataframe()
    seconds = time.perf_counter() - started
    values = pd.DataFrame({
        "span_id": result["span_id"], "chars": result["chars"].astype("int64"),
        **{name: result[name].astype(bool) for name in ("refusal", "json_valid", "order_id", "schema")}})
    values.to_parquet(out)
    return {"seconds": seconds, "rows": len(values)}


def ours_side(data: str, out: str, config_path: str) -> dict:
    import duckdb
    import pyarrow.parquet as pq

    from eval_pipelines.evaluators import load_evaluator_config, score_requests

    table = pq.read_table(data)
    config = load_evaluator_config(Path(config_path))
    started = time.perf_counter()
    with duckdb.connect() as con:
        scores = score_requests(table, config, con)
        seconds = time.perf_counter() - started
        con.sql("""
            SELECT span_id,
                   max(score) FILTER (evaluator = 'answer_chars')::BIGINT AS chars,
                   bool_or(label = 'refusal') FILTER (evaluator = 'refusal') AS refusal,
                   bool_or(passed) FILTER (evaluator = 'json_valid') AS json_valid,
                   bool_or(passed) FILTER (evaluator = 'regex_format.order_id') AS order_id,
                   bool_or(passed) FILTER (evaluator = 'json_schema') AS schema
            FROM scores GROUP BY span_id""").write_parquet(out)
    return {"seconds": seconds, "rows": table.num_rows, "score_rows": scores.num_rows}


def compare(evidently_out: Path, ours_out: Path) -> int:
    import pandas as pd

    theirs = pd.read_parquet(evidently_out).set_index("span_id").sort_index()
    mine = pd.read_parquet(ours_out).set_index("span_id").sort_index()[theirs.columns]
    assert theirs.index.equals(mine.index), "the two sides scored different rows"
    differing = {column: int((theirs[column] != mine[column]).sum()) for column in theirs.columns}
    assert not any(differing.values()), f"values differ from Evidently's: {differing}"
    return len(theirs)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each side; the fastest counts")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="eval-pipelines-bench-") as folder:
        work = Path(folder)
        data, config = work / "requests.parquet", work / "evaluators.yaml"
        generate(data, args.rows)
        config.write_text(EVALUATORS_YAML)
        theirs, mine = [], []
        for _ in range(args.repeats):
            theirs.append(measure(evidently_side, str(data), str(work / "evidently.parquet")))
            mine.append(measure(ours_side, str(data), str(work / "ours.parquet"), str(config)))
        rows = compare(work / "evidently.parquet", work / "ours.parquet")
    best_theirs, best_mine = (min(runs, key=lambda r: r["seconds"]) for runs in (theirs, mine))
    their_rate, my_rate = rows / best_theirs["seconds"], rows / best_mine["seconds"]
    print(f"{rows:,} requests, 5 evaluators, values equal on every row")
    print(f"{'':>10} {'rows/s':>10} {'seconds':>8} {'peak MB':>8}")
    for name, best, rate, runs in (("evidently", best_theirs, their_rate, theirs), ("ours", best_mine, my_rate, mine)):
        print(f"{name:>10} {rate:>10,.0f} {best['seconds']:>8.2f} {max(r['peak_rss_mb'] for r in runs):>8.0f}")
    ratio = my_rate / their_rate
    print(f"\ntarget: ours >= 5x Evidently -> {ratio:.1f}x ({'met' if ratio >= 5 else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
