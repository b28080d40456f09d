"""Write a demo day of traffic into ``<home>/landing``: real client, real instrumentation, stand-in model."""

from __future__ import annotations

import multiprocessing
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import orjson

from eval_pipelines.demo.assistant import support_persona
from eval_pipelines.demo.scenario import PlannedRequest, plan_day
from eval_pipelines.demo.services import run_service
from eval_pipelines.standin.server import StandinServer

PLAIN_SHARE = 0.02


@dataclass
class TrafficSummary:
    day: date
    requests: int
    by_service: dict[str, int]
    plain_records: int
    bad_lines: dict[str, int] = field(default_factory=dict)
    files: int = 0


def _run_services(plan: list[PlannedRequest], base_url: str, landing: Path, workers: int) -> None:
    by_service: dict[str, list[PlannedRequest]] = {}
    for request in plan:
        by_service.setdefault(request.service, []).append(request)
    context = multiprocessing.get_context("spawn")
    processes = [context.Process(target=run_service, args=(service, requests, base_url, str(landing), workers),
                                 name=f"demo-{service}") for service, requests in by_service.items()]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
        if process.exitcode != 0:
            raise RuntimeError(f"demo service process {process.name} failed (exit code {process.exitcode})")


def _plain_records(plan: list[PlannedRequest], base_url: str, landing: Path, rng: random.Random) -> int:
    """A nightly batch export in the plain JSONL format, from a team without OpenTelemetry."""
    import openai

    client = openai.OpenAI(base_url=base_url, api_key="standin-not-a-secret", max_retries=0)
    chosen = [r for r in plan if rng.random() < PLAIN_SHARE]
    lines = []
    for request in chosen:
        prompt = f"Summarise this support conversation for the agent: {request.question}"
        response = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": prompt}])
        start = datetime.fromtimestamp(request.sim_ns / 1e9, tz=UTC)
        lines.append(orjson.dumps({
            "start_time": start.isoformat(), "duration_ms": 400 + rng.randint(0, 900),
            "input": prompt, "output": response.choices[0].message.content, "model": "gpt-4o-mini",
            "response_model": response.model, "response_id": response.id,
            "input_tokens": response.usage.prompt_tokens, "output_tokens": response.usage.completion_tokens,
            "route": "/summarize", "prompt_version": "sum-v1", "service_name": "batch-summarizer",
            "environment": "production", "session_id": request.session_id, "user_id": request.user_id,
            "finish_reason": response.choices[0].finish_reason,
        }))
    target = landing / "batch" / f"summaries-{plan[0].sim_ns // 86_400_000_000_000}.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"\n".join(lines) + b"\n")
    return len(lines)


def inject_bad_lines(landing: Path, count: int, rng: random.Random) -> dict[str, int]:
    """Append realistic damage to the landing files: truncated and garbage lines, broken spans,
    invalid UTF-8 and duplicated lines. Returns how many of each kind were written."""
    files = sorted((landing / "otel").rglob("*.jsonl"))
    if not files:
        return {}
    originals = {path: path.read_bytes().splitlines() for path in files}
    kinds: Counter[str] = Counter()
    for _ in range(count):
        path = rng.choice(files)
        good = rng.choice(originals[path])
        kind = rng.choices(["truncated", "garbage", "broken_span", "invalid_utf8", "duplicate"],
                           weights=[40, 20, 20, 10, 10])[0]
        if kind == "truncated":
            bad = good[: rng.randint(10, max(11, len(good) - 5))]
        elif kind == "garbage":
            bad = rng.choice([b"<html><body>502 Bad Gateway</body></html>", b"null", b"[1, 2, 3]",
                              b'{"hello": "world"}', bytes(rng.randrange(1, 256) for _ in range(40))])
        elif kind == "broken_span":
            request = orjson.loads(good)
            group = (request.get("resourceSpans") or request.get("resourceLogs"))[0]
            scope = (group.get("scopeSpans") or group.get("scopeLogs"))[0]
            item = (scope.get("spans") or scope.get("logRecords"))[0]
            for key in ("spanId", "startTimeUnixNano", "traceId"):
                if key in item:
                    item[key] = rng.choice(["", "yesterday", "zzzz"])
                    break
            bad = orjson.dumps(request)
        elif kind == "invalid_utf8":
            bad = good.replace(b'"stringValue":"', b'"stringValue":"\xff\xfe', 1)
        else:
            bad = good
        with open(path, "ab") as stream:
            stream.write(bad.replace(b"\n", b" ") + b"\n")
        kinds[kind] += 1
    return dict(kinds)


def write_stray_feedback(landing: Path, day: date) -> int:
    """Survey answers that cannot be used: unknown responses (unlinkable), an out-of-scale rating, no id."""
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    rows = [{"timestamp": (noon + timedelta(hours=h)).isoformat(), "response_id": f"chatcmpl-deleted-{h}",
             "kind": "rating", "value": 2, "scale": 5} for h in range(3)]
    rows += [{"timestamp": noon.isoformat(), "response_id": "chatcmpl-unknown", "kind": "rating", "value": 9},
             {"timestamp": noon.isoformat(), "kind": "thumbs", "value": "down"}]
    target = landing / "feedback" / day.isoformat() / "csat-stray.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(b"".join(orjson.dumps(row) + b"\n" for row in rows))
    return len(rows)


def write_demo_traffic(landing: Path, day: date, requests: int, seed: int = 7, bad_lines: int = 300,
                       workers: int = 16, incidents: bool = True, hours: range = range(24)) -> TrafficSummary:
    """The day's planned traffic (of it, the requests in ``hours``) sent through the instrumented services, each
    with ``workers`` requests in flight (sending waits on the model's replies, not on the CPU)."""
    plan = [p for p in plan_day(day, requests, seed, incidents)
            if datetime.fromtimestamp(p.sim_ns / 1e9, tz=UTC).hour in hours]
    rng = random.Random(seed)
    landing.mkdir(parents=True, exist_ok=True)
    with StandinServer(persona=support_persona) as server:
        _run_services(plan, server.base_url, landing, workers)
        plain = _plain_records(plan, server.base_url, landing, rng)
    damage = inject_bad_lines(landing, bad_lines, rng)
    write_stray_feedback(landing, day)
    return TrafficSummary(day=day, requests=len(plan), by_service=dict(Counter(r.service for r in plan)),
                          plain_records=plain, bad_lines=damage,
                          files=sum(1 for _ in landing.rglob("*.jsonl")))


