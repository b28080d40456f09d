"""Live traffic: a recorded demo day replayed now, as production sends it, for watching the pipeline page.

A recording is the demo day's landing files (real client, real instrumentation, stand-in model), cut into
traces. Replaying draws traces at a steady rate (Poisson arrivals), gives each fresh trace and span ids,
shifts its times so it ends at the moment it is written, and sends it as an application does, to the OTLP
receiver (:class:`OtlpSender`: one OTLP/JSON export request per POST), or writes it the way a Collector's
file exporter does (:class:`RotatingFile`: OTLP/JSON lines into a file rotated every few seconds, written
under a hidden name and renamed into place whole). Before the live traffic, the hour before is written in
one file (``history``), so alert rules have a baseline to compare with.

An incident switches one route to refusals at a chosen moment: from then on its traffic comes from the
recording's refused answers on that route (the demo's prompt v7 rollout), everything else stays normal.
What was sent when is kept (trace id, time written), so ``bench/freshness.py`` can measure send → row.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import orjson

from eval_pipelines.demo.assistant import REFUSALS
from eval_pipelines.demo.scenario import MALFORMED_JSON_HOURS, PROMPT_ROLLOUT_HOUR, TOPIC_SHIFT_HOUR

HOUR_NS = 3_600_000_000_000
INCIDENT_ROUTE = "/orders"
_TIME_KEYS = ("startTimeUnixNano", "endTimeUnixNano", "timeUnixNano", "observedTimeUnixNano")
_SPAN_ID_KEYS = ("spanId", "parentSpanId")
_REFUSED = tuple(phrase.encode() for phrases in REFUSALS.values() for phrase in phrases)


@dataclass(frozen=True)
class Trace:
    """One recorded trace: its export requests (one per signal, resource and scope), start, end and route."""

    requests: tuple[dict, ...]
    start_ns: int
    end_ns: int
    route: str | None
    refused: bool


def _items(request: dict) -> Iterator[tuple[dict, dict, str, dict]]:
    """(resource group, scope group, items key, item) of every span and log record of an export request."""
    for groups_key, scopes_key, items_key in (("resourceSpans", "scopeSpans", "spans"),
                                              ("resourceLogs", "scopeLogs", "logRecords")):
        for group in request.get(groups_key) or []:
            for scope in group.get(scopes_key) or []:
                for item in scope.get(items_key) or []:
                    yield group, scope, items_key, item


def _split(request: dict) -> dict[str, dict]:
    """One export request per trace id, each with the resource and scope of its items."""
    by_trace: dict[str, dict] = {}
    for group, scope, items_key, item in _items(request):
        groups_key = "resourceSpans" if items_key == "spans" else "resourceLogs"
        scopes_key = "scopeSpans" if items_key == "spans" else "scopeLogs"
        part = by_trace.setdefault(item.get("traceId", ""), {})
        resource = next((g for g in part.setdefault(groups_key, []) if g["resource"] == group.get("resource")), None)
        if resource is None:
            resource = {"resource": group.get("resource"), scopes_key: []}
            part[groups_key].append(resource)
        target = next((s for s in resource[scopes_key] if s.get("scope") == scope.get("scope")), None)
        if target is None:
            target = {"scope": scope.get("scope"), items_key: []}
            resource[scopes_key].append(target)
        target[items_key].append(item)
    return by_trace


def _route(requests: list[dict]) -> str | None:
    for _, _, _, item in (entry for request in requests for entry in _items(request)):
        for attribute in item.get("attributes") or []:
            if attribute.get("key") == "app.route":
                return attribute.get("value", {}).get("stringValue")
    return None


def _times(requests: list[dict]) -> list[int]:
    return [int(item[key]) for request in requests for _, _, _, item in _items(request)
            for key in _TIME_KEYS if item.get(key)]


def _ids_valid(requests: list[dict]) -> bool:
    """Every id hex of its width (the demo's damaged lines have some that are not)."""
    try:
        return all(len(item.get(key) or "0" * width) == width and int(item.get(key) or "0", 16) >= 0
                   for request in requests for _, _, _, item in _items(request)
                   for key, width in (("traceId", 32), ("spanId", 16), ("parentSpanId", 16)))
    except ValueError:
        return False


def record(landing: Path) -> list[Trace]:
    """The traces of a demo day's OpenTelemetry landing files (damaged lines and ids are left out)."""
    parts: dict[str, list[dict]] = {}
    for path in sorted((landing / "otel").rglob("*.jsonl")):
        for line in path.read_bytes().splitlines():
            try:
                request = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(request, dict):
                for trace_id, part in _split(request).items():
                    parts.setdefault(trace_id, []).append(part)
    traces = []
    for requests in parts.values():
        times = _times(requests)
        if times and _ids_valid(requests):
            traces.append(Trace(tuple(requests), min(times), max(times), _route(requests),
                                any(phrase in orjson.dumps(requests) for phrase in _REFUSED)))
    return sorted(traces, key=lambda trace: trace.start_ns)


@dataclass(frozen=True)
class Pools:
    normal: list[Trace]
    incident: list[Trace]


def pools(traces: list[Trace]) -> Pools:
    """Normal traffic (the demo day's hours without a staged incident) and the incident route's refusals."""
    def hour(trace: Trace) -> int:
        return trace.start_ns // HOUR_NS % 24

    calm = [t for t in traces if hour(t) < PROMPT_ROLLOUT_HOUR and hour(t) not in MALFORMED_JSON_HOURS]
    refused = [t for t in traces if t.route == INCIDENT_ROUTE and t.refused and PROMPT_ROLLOUT_HOUR <= hour(t)
               < TOPIC_SHIFT_HOUR]
    if not calm or not refused:
        raise ValueError("the recording needs calm hours and refusals on /orders after the prompt rollout: "
                         "record a whole demo day (eval-pipelines demo-traffic)")
    return Pools(calm, refused)


def _mask(value: str, mask: int, width: int) -> str:
    return format(int(value, 16) ^ mask, f"0{width}x") if value else value


def restamp(trace: Trace, end_ns: int, rng: random.Random) -> tuple[str, list[bytes]]:
    """The trace with fresh ids, shifted to end at ``end_ns``: its new trace id and its lines."""
    shift = end_ns - trace.end_ns
    trace_mask, span_mask = rng.getrandbits(128), rng.getrandbits(64)
    lines = []
    for request in trace.requests:
        copy = orjson.loads(orjson.dumps(request))
        for _, _, _, item in _items(copy):
            for key in _TIME_KEYS:
                if item.get(key):
                    item[key] = str(int(item[key]) + shift)
            item["traceId"] = _mask(item.get("traceId", ""), trace_mask, 32)
            for key in _SPAN_ID_KEYS:
                if item.get(key):
                    item[key] = _mask(item[key], span_mask, 16)
            for event in item.get("events") or []:
                if event.get("timeUnixNano"):
                    event["timeUnixNano"] = str(int(event["timeUnixNano"]) + shift)
        lines.append(orjson.dumps(copy))
    return _mask(next(iter(_items(trace.requests[0])))[3]["traceId"], trace_mask, 32), lines


@dataclass
class RotatingFile:
    """Lines appended to a hidden file, renamed into ``folder`` whole every ``rotate_s`` seconds."""

    folder: Path
    rotate_s: float
    written: int = 0
    _current: Path | None = None
    _opened: float = 0.0
    files: list[Path] = field(default_factory=list)

    def write(self, lines: list[bytes], now: float) -> None:
        if self._current is None:
            self.folder.mkdir(parents=True, exist_ok=True)
            self._current, self._opened = self.folder / f".live-{time.time_ns()}.jsonl.tmp", now
        with open(self._current, "ab") as stream:
            stream.write(b"".join(line + b"\n" for line in lines))
        self.written += len(lines)

    def rotate_if_due(self, now: float, force: bool = False) -> None:
        if self._current is not None and (force or now - self._opened >= self.rotate_s):
            target = self.folder / self._current.name[1:].removesuffix(".tmp")
            os.replace(self._current, target)
            self.files.append(target)
            self._current = None


class OtlpSender:
    """Each export request POSTed to an OTLP/HTTP receiver as it ends, on one kept-alive connection."""

    def __init__(self, url: str, headers: dict[str, str] | None = None) -> None:
        import httpx

        self.url = url.rstrip("/")
        self._client = httpx.Client(headers={"Content-Type": "application/json", **(headers or {})}, timeout=30)
        self.written = 0

    def write(self, lines: list[bytes], now: float) -> None:
        for line in lines:
            signal = "logs" if line.startswith(b'{"resourceLogs"') else "traces"
            self._client.post(f"{self.url}/v1/{signal}", content=line).raise_for_status()
        self.written += len(lines)

    def rotate_if_due(self, now: float, force: bool = False) -> None:
        """The receiver rotates its own files."""


class Sink(Protocol):
    def write(self, lines: list[bytes], now: float) -> None: ...

    def rotate_if_due(self, now: float, force: bool = False) -> None: ...


@dataclass
class Sent:
    trace_id: str
    sent_at: float  # wall clock, seconds
    incident: bool


def write_history(folder: Path, source: Pools, rate: float, minutes: float, now_ns: int, seed: int) -> int:
    """The ``minutes`` before ``now_ns`` at ``rate`` requests/s, in one file: the alert rules' baseline."""
    rng = random.Random(seed)
    count = int(rate * minutes * 60)
    lines = []
    for n in range(count):
        end_ns = now_ns - int((count - n) / rate * 1e9)
        lines += restamp(rng.choice(source.normal), end_ns, rng)[1]
    folder.mkdir(parents=True, exist_ok=True)
    temporary = folder / ".history.jsonl.tmp"
    temporary.write_bytes(b"".join(line + b"\n" for line in lines))
    os.replace(temporary, folder / f"history-{now_ns}.jsonl")
    return count


def replay(sink: Sink, source: Pools, rate: float, seconds: float, incident_after_s: float | None = None,
           seed: int = 7, stop: Callable[[], bool] = lambda: False,
           on_incident: Callable[[float], None] = lambda _: None) -> list[Sent]:
    """Poisson arrivals at ``rate`` requests/s for ``seconds`` (or until ``stop()``), each trace sent to ``sink``
    as it ends; after ``incident_after_s`` the incident route sends refusals (``on_incident`` gets the wall time)."""
    rng = random.Random(seed)
    sent: list[Sent] = []
    started = time.time()
    next_at = started + rng.expovariate(rate)
    incident_at = started + incident_after_s if incident_after_s is not None else None
    announced = False
    while time.time() < started + seconds and not stop():
        now = time.time()
        if incident_at is not None and now >= incident_at and not announced:
            on_incident(incident_at)
            announced = True
        batch: list[bytes] = []
        while next_at <= now:
            trace = rng.choice(source.normal)
            incident = incident_at is not None and next_at >= incident_at and trace.route == INCIDENT_ROUTE
            trace_id, lines = restamp(rng.choice(source.incident) if incident else trace, int(next_at * 1e9), rng)
            batch += lines
            sent.append(Sent(trace_id, now, incident))
            next_at += rng.expovariate(rate)
        if batch:
            sink.write(batch, now)
        sink.rotate_if_due(now)
        time.sleep(max(0.0, min(next_at, now + 0.5) - time.time()))
    sink.rotate_if_due(time.time(), force=True)
    return sent
