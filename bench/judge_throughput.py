"""Judge throughput against the stand-in judge, side by side with the ideal and with Evidently's LLMEval.

    .venv/bin/python bench/judge_throughput.py [--requests 200] [--latency-ms 200] [--concurrency 16] [--rpm 600]

The stand-in judge server answers after ``--latency-ms`` and, like a provider, enforces ``--rpm`` itself
(429 with Retry-After beyond it). Scenarios, each on the same distinct requests:
1. ours, no faults: ``JudgeRunner`` at ``--concurrency`` with a ``--rpm`` client-side limit. The ideal is
   min(concurrency / latency, rpm / 60) verdicts per second; target >= 90% of it.
2. ours, 20% of requests failing with 429 (Retry-After 1 s) or 503: target zero rows lost and >= 70%
   of the ideal, counting only verdicts.
3. Evidently 0.7 ``LLMEval`` (BinaryClassificationPromptTemplate, OpenAIOptions(api_url=...), the same
   rpm in its RateLimits) on the same requests and server, without and with the same faults; and once
   more against a server that does not enforce the limit (Evidently's limiter counts requests per
   minute, so it sends up to its batch size of 100 at once).
Figures: verdicts, rows lost, wall time, verdicts per second and the share of the ideal.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval_pipelines.judge import load_rubrics  # noqa: E402
from eval_pipelines.judge.client import BudgetGate, Endpoint, JudgeCall, JudgeRunner  # noqa: E402
from eval_pipelines.judge.prompts import JudgeItem, judge_messages, verdict_schema  # noqa: E402
from eval_pipelines.judge.replies import parse_reply  # noqa: E402
from eval_pipelines.standin.judge import judge_persona  # noqa: E402
from eval_pipelines.standin.server import Faults, StandinServer  # noqa: E402

MODEL = "standin-judge-2026-11-01"
FAULTS = {"error_rate": 0.2, "error_statuses": (429, 503), "retry_after_s": 1.0}


def items(n: int) -> list[tuple[str, str]]:
    answers = ["Open Settings, choose Security, then Reset password.", "I'm sorry, I can't help with that.",
               "Your parcel left the warehouse and arrives in 2-3 days.", "Refunds reach your card in 5-7 days."]
    return [(f"Customer question number {i}?", f"{answers[i % len(answers)]} (ticket {i})") for i in range(n)]


def ours(server: StandinServer, rows: list[tuple[str, str]], concurrency: int, rpm: int) -> dict:
    rubric = load_rubrics()["helpfulness"]
    calls = [JudgeCall(judge_messages(rubric, JudgeItem(str(i), q, a), 4000), verdict_schema(rubric), 800)
             for i, (q, a) in enumerate(rows)]
    endpoint = Endpoint(base_url=server.base_url, api_key="bench", model=MODEL, model_version=MODEL,
                        concurrency=concurrency, requests_per_minute=rpm, max_attempts=8, timeout_s=10)
    runner = JudgeRunner(endpoint, BudgetGate(calls=10**6, tokens=10**12))
    started = time.monotonic()
    results = runner.run(calls)
    seconds = time.monotonic() - started
    verdicts = sum(r.status == "replied" and parse_reply(r.text, rubric).status == "ok" for r in results)
    return {"rows": len(results), "verdicts": verdicts, "seconds": seconds, "retries": runner.stats.retries}


def evidently(server: StandinServer, rows: list[tuple[str, str]], rpm: int) -> dict:
    import pandas as pd
    from evidently import DataDefinition, Dataset
    from evidently.descriptors import LLMEval
    from evidently.llm.templates import BinaryClassificationPromptTemplate
    from evidently.llm.utils.wrapper import OpenAIOptions, RateLimits

    template = BinaryClassificationPromptTemplate(
        criteria="A helpful answer addresses the customer's request.", target_category="helpful",
        non_target_category="unhelpful", include_reasoning=True)
    frame = pd.DataFrame(rows, columns=["question", "answer"])
    started = time.monotonic()
    try:
        dataset = Dataset.from_pandas(
            frame, data_definition=DataDefinition(text_columns=["question", "answer"]),
            descriptors=[LLMEval("answer", template=template, provider="openai", model=MODEL, alias="helpfulness")],
            options=OpenAIOptions(api_key="bench", api_url=server.base_url, limits=RateLimits(rpm=rpm)))
        scored = dataset.as_dataframe()["helpfulness"]
        verdicts, error = int(scored.isin(["helpful", "unhelpful"]).sum()), ""
    except Exception as exc:  # noqa: BLE001 - reported as a figure
        verdicts, error = 0, f"{type(exc).__name__}: {str(exc)[:80]}"
    return {"rows": len(rows), "verdicts": verdicts, "seconds": time.monotonic() - started, "error": error}


def report(name: str, result: dict, ideal: float) -> None:
    rate = result["verdicts"] / result["seconds"]
    lost = result["rows"] - result["verdicts"]
    extra = f", {result['retries']} retries" if "retries" in result else ""
    extra += f"  [{result['error']}]" if result.get("error") else ""
    print(f"{name:<40} {result['verdicts']:5d}/{result['rows']:<5d} lost {lost:4d}  {result['seconds']:6.1f} s"
          f"  {rate:6.2f}/s  {rate / ideal:6.1%} of ideal{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--latency-ms", type=float, default=200)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--rpm", type=int, default=600)
    args = parser.parse_args()
    rows = items(args.requests)
    ideal = min(args.concurrency / (args.latency_ms / 1000), args.rpm / 60)
    print(f"{args.requests} requests, stand-in latency {args.latency_ms:g} ms, concurrency {args.concurrency}, "
          f"{args.rpm} requests/min: ideal {ideal:.2f} verdicts/s\n")
    for label, faults in (("no faults", {}), ("20% 429/503", FAULTS)):
        server_faults = Faults(latency_ms=args.latency_ms, rate_limit_rpm=args.rpm, seed=1, **faults)
        with StandinServer(judge_persona, server_faults) as server:
            report(f"eval_pipelines, {label}", ours(server, rows, args.concurrency, args.rpm), ideal)
        with StandinServer(judge_persona, server_faults) as server:
            report(f"Evidently LLMEval, {label}", evidently(server, rows, args.rpm), ideal)
        lenient = Faults(latency_ms=args.latency_ms, seed=1, **faults)
        with StandinServer(judge_persona, lenient) as server:
            report(f"Evidently, {label}, rpm not enforced", evidently(server, rows, args.rpm), ideal)


if __name__ == "__main__":
    main()
