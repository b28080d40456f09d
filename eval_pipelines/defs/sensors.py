"""``landing_sensor``: new or changed landing files become runs for exactly the hours they hold.
``labels_sensor``: new labels or a new judge version re-run the calibration.
``quality_alert_sensor``: alert rules on each new hour of quality SLIs and each new day of drift, canary
and divergence results; then the hour's review queue.
``golden_refresh_sensor``: a golden-set refresh once enough reviewed failures wait."""


import hashlib
import json
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from dagster_duckdb import DuckDBResource

from eval_pipelines.calibration.labels import label_files
from eval_pipelines.defs.assets.review import reviewed_failure_items
from eval_pipelines.defs.jobs import calibration_job, golden_job, hourly_evaluation_job, offline_job, review_job
from eval_pipelines.defs.partitions import (
    HOUR_KEY_FORMAT,
    consecutive_stretches,
    history_keys,
    hour_index,
    hour_key,
    key_start,
    range_tags,
)
from eval_pipelines.defs.resources import JudgeResource, LakeResource, MonitoringConfigResource, ReviewConfigResource
from eval_pipelines.judge.run import judge_version
from eval_pipelines.lake import Lake
from eval_pipelines.landing import QUIET_SECONDS
from eval_pipelines.monitoring.alerting import alert_rows, evaluate_hour, history_hours
from eval_pipelines.monitoring.channels import AlertEvent, deliver
from eval_pipelines.monitoring.dashboard import EvidentlyWorkspace
from eval_pipelines.monitoring.rules import HOURLY_SLI_TABLE, AlertConfig
from eval_pipelines.parsing.records import HOUR_NS
from eval_pipelines.review.golden import latest_version, pending_failures

FIRST_TICK_HOURS = 48  # without a cursor, start from the last two days, not the whole history
SCAN_BUDGET_SECONDS = 40.0


def _run_key(key: str, hashes: set[str]) -> str:
    digest = hashlib.sha256("\n".join(sorted(hashes)).encode()).hexdigest()[:16]
    return f"{key}:{digest}"


def _load_deferred(cursor: str | None) -> dict[int, set[str]]:
    if not cursor:
        return {}
    return {int(hour): set(hashes) for hour, hashes in json.loads(cursor).get("deferred", {}).items()}


@dg.sensor(
    job=hourly_evaluation_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Watches <home>/landing for new or changed trace files and requests the hours they hold "
                "(consecutive hours in one run, a day at most).",
)
def landing_sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
    refresh = lake.landing_index.refresh(quiet_seconds=QUIET_SECONDS, budget_seconds=SCAN_BUDGET_SECONDS)
    wanted = _load_deferred(context.cursor)
    for hour, hashes in refresh.hours_to_build().items():
        wanted.setdefault(hour, set()).update(hashes)
    last_hour = time.time_ns() // HOUR_NS
    ready = [(hour, hashes) for hour, hashes in sorted(wanted.items()) if hour <= last_hour]
    deferred = {str(hour): sorted(hashes) for hour, hashes in wanted.items() if hour > last_hour}
    requests = [_landing_request(hours) for hours in consecutive_stretches(ready, lambda item: item[0])]
    for entry in refresh.touched:
        context.log.debug(f"landing file {entry.path}: {len(entry.hours)} hour(s), "
                          f"{entry.unreadable_documents} unreadable line(s)")
    if refresh.touched:
        damaged = [entry for entry in refresh.touched if entry.unreadable_documents]
        context.log.info(f"{len(refresh.touched)} new or changed landing file(s) touching {len(ready)} hour(s) "
                         f"({len(requests)} run(s)); "
                         f"{sum(e.unreadable_documents for e in damaged)} unreadable line(s) in {len(damaged)} file(s)")
    if deferred:
        context.log.warning(f"{len(deferred)} hour(s) lie in the future (clock skew?); they wait in the cursor")
    cursor = json.dumps({"deferred": deferred})
    if not requests:
        waiting = f"; {len(refresh.waiting)} file(s) still being written or not yet scanned" if refresh.waiting else ""
        return dg.SensorResult(skip_reason=f"no new landing data{waiting}", cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)


def _landing_request(hours: list[tuple[int, set[str]]]) -> dg.RunRequest:
    """One run for consecutive hours, keyed by the content of the files that touch each of them."""
    first, last = hour_key(hours[0][0]), hour_key(hours[-1][0])
    tags = {"eval_pipelines/trigger": "landing_sensor"}
    if len(hours) == 1:
        return dg.RunRequest(run_key=_run_key(first, hours[0][1]), partition_key=first, tags=tags)
    content = {f"{hour}:{digest}" for hour, hashes in hours for digest in hashes}
    return dg.RunRequest(run_key=_run_key(f"{first}..{last}", content), tags=tags | range_tags(first, last))


def _files_fingerprint(files: list[Path]) -> str:
    state = [(str(path), path.stat().st_size, path.stat().st_mtime_ns) for path in files]
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:16]


def _judge_versions(judge: JudgeResource) -> str:
    """The current judge versions, or "" when the judge is not configured here (then only labels count)."""
    try:
        endpoint, rubrics = judge.endpoint(), judge.rubrics()
        redact = judge.settings(rubrics).redact_pii
    except Exception:  # noqa: BLE001 - an unconfigured judge must not break label pick-up
        return ""
    return ",".join(f"{name}={judge_version(endpoint, rubric, redact)}" for name, rubric in sorted(rubrics.items()))


@dg.sensor(
    job=calibration_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Re-calibrates the judge when label files in <home>/labels change or the judge version changes.",
)
def labels_sensor(context: dg.SensorEvaluationContext, lake: LakeResource, judge: JudgeResource) -> dg.SensorResult:
    state = {"labels": _files_fingerprint(label_files(lake.layout.labels)), "judge": _judge_versions(judge)}
    return _on_change(context, state, "calibration", "labels and judge versions unchanged")


def _on_change(context: dg.SensorEvaluationContext, state: dict[str, str], prefix: str,
               unchanged: str) -> dg.SensorResult:
    """A run when any fingerprint in ``state`` differs from the cursor's, tagged with what changed."""
    previous = json.loads(context.cursor) if context.cursor else {}
    changed = [name for name, value in state.items() if previous.get(name) != value]
    cursor = json.dumps(state)
    if not changed:
        return dg.SensorResult(skip_reason=unchanged, cursor=cursor)
    key = hashlib.sha256(cursor.encode()).hexdigest()[:16]
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"{prefix}:{key}",
                                                       tags={"eval_pipelines/trigger": "+".join(changed)})],
                           cursor=cursor)


@dg.sensor(
    job=offline_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Re-scores the candidates when files in <home>/offline change, a golden-set version appears or "
                "the judge version changes.",
)
def offline_sensor(context: dg.SensorEvaluationContext, lake: LakeResource, judge: JudgeResource) -> dg.SensorResult:
    home = lake.layout
    latest = latest_version(home.golden)
    if latest is None:
        return dg.SensorResult(skip_reason="no golden set yet", cursor=context.cursor)
    files = sorted(p for p in home.offline.rglob("*.jsonl") if p.is_file())
    state = {"offline files": _files_fingerprint(files), "golden set": f"v{latest.version}",
             "judge": _judge_versions(judge)}
    return _on_change(context, state, "offline", "offline files, golden set and judge versions unchanged")


@dataclass(frozen=True)
class _SliStream:
    """A table of SLI rows the rules read: hourly ``quality_slis``; daily ``drift_scores``, ``canary_scores`` and
    ``divergence_scores``."""

    table: str
    cursor_field: str

    @property
    def daily(self) -> bool:
        return self.table != HOURLY_SLI_TABLE

    @property
    def key_name(self) -> str:
        return "day" if self.daily else "hour"

    @property
    def first_tick_keys(self) -> int:
        return FIRST_TICK_HOURS // 24 if self.daily else FIRST_TICK_HOURS


SLI_STREAMS = (_SliStream(HOURLY_SLI_TABLE, "through"), _SliStream("drift_scores", "drift_through"),
               _SliStream("canary_scores", "canary_through"), _SliStream("divergence_scores", "divergence_through"))


@dg.sensor(
    job=review_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Evaluates the alert rules on each new hour of quality_slis and each new day of drift_scores, "
                "canary_scores and divergence_scores: opens an incident once, sends a resolve when it clears "
                "(state in the cursor, history in the alerts table); then builds each evaluated hour's review "
                "queue, which samples the slices of the incidents open in it.",
)
def quality_alert_sensor(context: dg.SensorEvaluationContext, lake: LakeResource,
                         monitoring: MonitoringConfigResource) -> dg.SensorResult | dg.SkipReason:
    state = {stream.cursor_field: None for stream in SLI_STREAMS} | {"open": {}} | (
        json.loads(context.cursor) if context.cursor else {})
    store = lake.lake
    counts: Counter[str] = Counter()
    reviewed: list[tuple[str, list[str]]] = []
    all_rules = monitoring.alert_config()
    for stream in SLI_STREAMS:
        config = all_rules.only(stream.table)
        names = {rule.name for rule in config.rules}
        keys = [key for key in store.partition_keys(stream.table, stream.key_name)
                if state[stream.cursor_field] is None or key > state[stream.cursor_field]][-stream.first_tick_keys:]
        for key in keys:
            history = store.read_partitions(stream.table, stream.key_name,
                                            history_keys(key, history_hours(config), stream.daily))
            mine = {k: incident for k, incident in state["open"].items() if incident["rule"] in names}
            start = key_start(key, stream.daily)
            outcome = evaluate_hour(config, history, start, mine)
            _deliver_and_record(context, store, config, start, outcome.events)
            counts.update(event.event for event in outcome.events)
            others = {k: incident for k, incident in state["open"].items() if k not in mine}
            state = {**state, stream.cursor_field: key, "open": others | outcome.open}
            if not stream.daily:
                reviewed.append((key, sorted(state["open"])))
            if monitoring.evidently_workspace and not stream.daily:
                opened = sum(event.event == "opened" for event in outcome.events)
                EvidentlyWorkspace(lake.layout.evidently).push_values(
                    {"incidents_opened": opened, "incidents_resolved": len(outcome.events) - opened,
                     "incidents_open": len(state["open"])}, start, "alerts")
        counts[f"{stream.table} evaluated"] += len(keys)
    days = ", ".join(f"{counts[f'{stream.table} evaluated']} {stream.table} day(s)" for stream in SLI_STREAMS
                     if stream.daily)
    summary = (f"evaluated {counts['quality_slis evaluated']} hour(s), {days}: {counts['opened']} incident(s) "
               f"opened, {counts['resolved']} resolved, {len(state['open'])} open")
    context.log.info(summary)
    context.update_cursor(json.dumps(state | {"last_tick": summary}))
    reviews = [_review_request(hours) for hours in consecutive_stretches(reviewed, lambda item: hour_index(item[0]))]
    return dg.SensorResult(run_requests=reviews) if reviews else dg.SkipReason(summary)


def _review_request(hours: list[tuple[str, list[str]]]) -> dg.RunRequest:
    """The review queues of consecutive hours in one run, built again only if the incidents open at some
    hour's evaluation changed."""
    first, last = hours[0][0], hours[-1][0]
    state = {f"{key}:{','.join(open_incidents)}" for key, open_incidents in hours}
    return dg.RunRequest(run_key=_run_key(f"review:{first}..{last}", state),
                         tags={"eval_pipelines/trigger": "quality_alert_sensor", **range_tags(first, last)})


def tick_summary(cursor: str | None) -> str:
    """What the last ``quality_alert_sensor`` tick did, from its cursor."""
    return json.loads(cursor or "{}").get("last_tick", "no tick yet")


def _deliver_and_record(context: dg.SensorEvaluationContext, store: Lake, config: AlertConfig, hour: datetime,
                        events: list[AlertEvent]) -> None:
    """Every event to its rule's channels (one failing channel stops none), then into the alerts table."""
    if not events:
        return
    deliveries = [[deliver(name, config.channels[name], event, context.log.warning)
                   for name in _channels_of(config, event.rule)] for event in events]
    store.write_partition("alerts", "hour", hour.strftime(HOUR_KEY_FORMAT),
                          alert_rows(hour, events, deliveries, datetime.now(UTC)))
    for delivery in (d for sent in deliveries for d in sent if not d.ok):
        context.log.error(f"alert channel {delivery.channel} failed after {delivery.attempts} attempt(s): "
                          f"{delivery.error}")


def _channels_of(config: AlertConfig, rule_name: str) -> list[str]:
    return next(rule.channels for rule in config.rules if rule.name == rule_name)


@dg.sensor(
    job=golden_job,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Refreshes the golden set when enough reviewed failures wait that no refresh has considered "
                "(golden.refresh_threshold in the review settings); materialize golden_set for a refresh on demand.",
)
def golden_refresh_sensor(lake: LakeResource, duckdb: DuckDBResource,
                          review: ReviewConfigResource) -> dg.RunRequest | dg.SkipReason:
    settings = review.settings().golden
    latest = latest_version(lake.layout.golden)
    pending = pending_failures(reviewed_failure_items(lake, duckdb, settings), latest)
    current = f"v{latest.version}" if latest else "no version yet"
    if len(pending) < settings.refresh_threshold:
        return dg.SkipReason(f"{len(pending)} new reviewed failure(s), refresh at {settings.refresh_threshold} "
                             f"({current})")
    digest = hashlib.sha256("\n".join(sorted(item["id"] for item in pending)).encode()).hexdigest()[:16]
    return dg.RunRequest(run_key=f"golden:{current}:{digest}",
                         tags={"eval_pipelines/trigger": f"{len(pending)} new reviewed failures"})
