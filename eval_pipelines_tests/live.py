"""The pipeline run live, as a team runs it: ``dagster dev`` with the shipped sensors and instance config, the
stand-in judge, the packaged alert rules paging a local webhook, and traffic written as it happens
(:mod:`eval_pipelines.demo.live`), into landing files or through the OTLP receiver. Used by the live test and
by ``bench/freshness.py``, which measure the same things: send → row, send → SLIs, incident → page, runs and
queues.
"""

from __future__ import annotations

import shutil
import statistics
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import duckdb
import yaml

from eval_pipelines.config import packaged_default
from eval_pipelines.defs.ingestion.jobs import hourly_evaluation_job
from eval_pipelines.demo.live import OtlpSender, Pools, RotatingFile, Sent, replay, write_history
from eval_pipelines.home import Home
from eval_pipelines.lake import Lake
from eval_pipelines.receiver.server import Receiver as OtlpReceiver
from eval_pipelines.receiver.settings import ReceiverSettings
from eval_pipelines.standin.environment import standin_judge
from eval_pipelines_tests.servers import PROJECT, DagsterDev, Receiver, wait_until

# The rules watching refusals: the staged incident switches a route to refusals.
REFUSAL_RULES = ("refusal_rate_spike", "refusal_rate_up")
ACTIVE = {dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
          dg.DagsterRunStatus.STARTED}


def alert_rules_with_webhook(folder: Path, url: str) -> Path:
    """The packaged alert rules, every rule also sending to a local webhook (as a team adds its pager)."""
    rules = yaml.safe_load(packaged_default("alert_rules.yaml").read_text())
    rules["channels"]["pager"] = {"type": "webhook", "url": url}
    for rule in rules["rules"]:
        rule["channels"] = [*rule["channels"], "pager"]
    path = folder / "alert_rules.yaml"
    path.write_text(yaml.safe_dump(rules, sort_keys=False))
    return path


def quantiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"median": None, "p90": None, "max": None}
    ordered = sorted(values)
    return {"median": statistics.median(ordered), "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
            "max": ordered[-1]}


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine so far."""
    fields = [float(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


@dataclass
class Observation:
    """What a live session saw."""

    incident_at: float | None = None
    sent: list[Sent] = field(default_factory=list)
    queue_samples: list[tuple[float, int, int]] = field(default_factory=list)  # (time, running, waiting max/hour)


class LiveSession:
    """A fresh home and instance, ``dagster dev`` on it, a webhook pager, and a traffic writer thread."""

    def __init__(self, root: Path, source: Pools, rate: float, history_minutes: float = 30.0,
                 rotate_s: float = 10.0, through_receiver: bool = False) -> None:
        self.root, self.source, self.rate, self.rotate_s = root, source, rate, rotate_s
        self.through_receiver = through_receiver
        self.home = Home(root / "home").ensure()
        self.dagster_home = root / "dagster"
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        shutil.copy(PROJECT / "dagster.yaml", self.dagster_home / "dagster.yaml")
        self.pager = Receiver()
        self.env = {"EVAL_PIPELINES_HOME": str(self.home.root),
                    "EVAL_PIPELINES_ALERT_RULES": str(alert_rules_with_webhook(root, self.pager.url))}
        write_history(self.home.landing / "live", source, rate, history_minutes, time.time_ns(), seed=3)
        self.observed = Observation()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.server: DagsterDev | None = None
        self._restarts = 0

    @contextmanager
    def running(self) -> Iterator[LiveSession]:
        with ExitStack() as stack:
            stack.enter_context(standin_judge())
            stack.callback(self.pager.close)
            if self.through_receiver:
                self.receiver = stack.enter_context(OtlpReceiver(
                    ReceiverSettings(http_port=0, grpc_port=0, rotate_seconds=self.rotate_s, publish_processes=1),
                    self.home.landing_location, self.home.receiver_spool))
            self.server = DagsterDev(self.dagster_home, self.env, self.root / "dagster-dev.log").__enter__()
            stack.callback(self._stop_server)  # whichever server runs by then (a restart replaces it)
            stack.callback(self._stop_threads)
            yield self

    def restart(self) -> None:
        """``dagster dev`` stopped at once with whatever is in flight, then started again on the same instance."""
        assert self.server is not None
        self.server.kill()
        self._restarts += 1
        self.server = DagsterDev(self.dagster_home, self.env, self.root / f"dagster-dev-{self._restarts}.log")
        self.server.__enter__()

    def start_traffic(self, seconds: float, incident_after_s: float | None) -> None:
        sink = (OtlpSender(self.receiver.http_url) if self.through_receiver
                else RotatingFile(self.home.landing / "live", self.rotate_s))

        def write() -> None:
            self.observed.sent += replay(sink, self.source, self.rate, seconds, incident_after_s,
                                         stop=self._stop.is_set, on_incident=self._incident_started)
        self._spawn(write)
        self._spawn(self._sample_queues)

    def _stop_server(self) -> None:
        if self.server is not None:
            self.server.__exit__(None, None, None)

    def _incident_started(self, at: float) -> None:
        self.observed.incident_at = at

    def _spawn(self, target) -> None:  # noqa: ANN001
        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _sample_queues(self) -> None:
        while not self._stop.wait(2.0):
            try:
                with self.instance() as instance:
                    runs = instance.get_runs(dg.RunsFilter(job_name=hourly_evaluation_job.name,
                                                           statuses=list(ACTIVE)))
            except Exception:  # noqa: BLE001 - the server may be restarting
                continue
            running = sum(run.status == dg.DagsterRunStatus.STARTED for run in runs)
            waiting: dict[str, int] = {}
            for run in runs:
                if run.status != dg.DagsterRunStatus.STARTED:
                    key = run.tags.get("dagster/partition") or run.tags.get("dagster/asset_partition_range_start")
                    waiting[key] = waiting.get(key, 0) + 1
            self.observed.queue_samples.append((time.time(), running, max(waiting.values(), default=0)))

    def _stop_threads(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    @contextmanager
    def instance(self) -> Iterator[dg.DagsterInstance]:
        assert self.server is not None
        with self.server.instance() as instance:
            yield instance

    def pages(self, event: str = "opened", rules: tuple[str, ...] = REFUSAL_RULES) -> list[tuple[float, dict]]:
        return [(at, body) for at, body in zip(self.pager.arrivals, self.pager.bodies, strict=True)
                if body["event"] == event and body["rule"] in rules]

    def wait_for_page(self, timeout_s: float) -> float:
        """Seconds from the incident's start to the first page about it."""
        wait_until(lambda: self.observed.incident_at is not None and self.pages(), timeout_s,
                   f"a page about the refusals (dagster dev log: {self.root})", interval_s=1.0)
        return self.pages()[0][0] - self.observed.incident_at

    def runs(self) -> list[dg.RunRecord]:
        with self.instance() as instance:
            return list(instance.get_run_records(dg.RunsFilter(job_name=hourly_evaluation_job.name)))

    def overlapping_runs(self) -> list[tuple[str, str]]:
        """Pairs of runs of the hourly job that wrote the same hour at the same time (a run's id, status and
        start and end times)."""
        spans: dict[str, list[tuple[float, float, str]]] = {}
        for record in self.runs():
            run = record.dagster_run
            key = run.tags.get("dagster/partition")
            if key and record.start_time:
                spans.setdefault(key, []).append((record.start_time, record.end_time or time.time(),
                                                  f"{run.run_id[:8]} {run.status.value} {record.start_time:.0f}-"
                                                  f"{record.end_time or 0:.0f}"))
        return [(a[2], b[2]) for runs in spans.values() for i, a in enumerate(sorted(runs))
                for b in sorted(runs)[i + 1:] if b[0] < a[1]]

    def freshness(self) -> dict:
        """Send → row in ``traces`` and send → the row's hour in ``quality_slis`` (seconds), over the traffic
        sent live."""
        lake = Lake(self.home.lake)
        sent = {entry.trace_id: entry.sent_at for entry in self.observed.sent}
        if not sent or lake.scan_existing("traces") is None:
            return {"send_to_traces_s": quantiles([]), "send_to_quality_slis_s": quantiles([]), "traces_seen": 0}
        rows = duckdb.sql(f"SELECT trace_id, hour, epoch(min(ingested_at)) FROM {lake.scan('traces')} "
                          "GROUP BY ALL").fetchall()
        with self.instance() as instance:
            records = instance.fetch_materializations(dg.AssetKey("quality_slis"), limit=10_000).records
        written: dict[str, list[float]] = {}
        for record in records:
            written.setdefault(record.partition_key, []).append(record.timestamp)
        to_row, to_slis = [], []
        for trace_id, hour, ingested in rows:
            if trace_id not in sent:
                continue
            to_row.append(ingested - sent[trace_id])
            after = [stamp for stamp in written.get(hour, []) if stamp >= ingested]
            if after:
                to_slis.append(min(after) - sent[trace_id])
        return {"send_to_traces_s": quantiles(to_row), "send_to_quality_slis_s": quantiles(to_slis),
                "traces_seen": len(to_row)}
