"""The demo's runs: the landing sensor's tick and every run it and the daily jobs request, against the stand-in
judge, then the review loop once, with a summary and where to look next."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

import dagster as dg

from eval_pipelines.definitions import build_defs
from eval_pipelines.defs.local_runs import LocalPipeline, wait_for_quiet_landing
from eval_pipelines.defs.partitions import hours_of
from eval_pipelines.demo.reviewers import replayed_outputs, review_labels, team_results
from eval_pipelines.home import Home
from eval_pipelines.inspection import lake_summary
from eval_pipelines.lake import Lake
from eval_pipelines.review.export import write_jsonl
from eval_pipelines.review.golden import latest_version
from eval_pipelines.standin.environment import standin_judge
from eval_pipelines.standin.server import STANDIN_LABEL


def run_demo(home: Home) -> int:
    """Everything the landing files in ``home`` call for, run in this process on the instance of DAGSTER_HOME."""
    started = time.monotonic()
    wait_for_quiet_landing(home.landing)
    with standin_judge() as judge_url, dg.DagsterInstance.get() as instance:
        print(f"judge: {STANDIN_LABEL} at {judge_url} (the demo's judge; never a production default)")
        pipeline = LocalPipeline(instance, build_defs(home))
        calibration = pipeline.execute_job("calibration_job")
        print(f"calibration_job (seed labels): {'ok' if calibration.success else 'FAILED'}")
        tick = pipeline.landing_sensor_tick()
        requests = tick.run_requests or []
        skipped = tick.skip_reason.skip_message if tick.skip_reason else ""
        hours = sum(len(hours_of(request)) for request in requests)
        print(f"landing_sensor: {hours} hour partition(s) to build in {len(requests)} run(s)"
              + (f" ({skipped})" if skipped else ""))
        runs = pipeline.execute_run_requests(requests)
        days = sorted({key[:10] for run in runs for key in run.partition_keys})
        canaries = [pipeline.execute_job("canary_job", day) for day in days]
        print(f"canary_job: {', '.join(days) or 'no new day'}")
        drifts = [pipeline.execute_job("drift_job", day) for day in days]
        print(f"drift_job: {', '.join(days) or 'no new day'} (the first day has no reference)")
        reviews = pipeline.review_sensor_tick().run_requests or []
        loop = feedback_loop(pipeline, home, reviews, days[-1]) if days else []
    failed = [run.partition_key for run in [calibration, *runs, *canaries, *drifts, *loop] if not run.success]
    Lake(home.lake, home.catalog).refresh_catalog()
    hours_ok = sum(len(run.partition_keys) for run in runs if run.success)
    print(f"\nmaterialized {hours_ok}/{sum(len(run.partition_keys) for run in runs)} hour(s) in "
          f"{time.monotonic() - started:.0f} s"
          + (f"; FAILED: {', '.join(failed)}" if failed else "") + "\n")
    print(lake_summary(Lake(home.lake)))
    print(f"""
Where to look:
  make ui                      Dagster UI on http://127.0.0.1:3000 (groups ingestion, validation, scoring,
                               judging: pass_rate_* plots and worst_examples on programmatic_scores,
                               feedback counts on user_feedback, strata on judge_sample, weighted
                               pass_rate_* (raw and corrected), statuses, tokens and latency on
                               judge_scores; calibration: cohen_kappa_*, tpr_*, tnr_* on judge_calibration,
                               judge_canary and its check; conversations: turns_mean and the
                               escalated, frustrated and repeated-question shares on sessions, loop and
                               invalid-tool-call shares on agent_runs, tool_errors on tool_spans
                               (ingestion), pass_rate_conversation_resolution,
                               _user_frustration and _agent_trajectory on conversation_judge_scores;
                               monitoring: SLI plots and one check per alert rule on quality_slis,
                               drift_share and the report link on
                               drift_report, incidents on alerts and daily_alerts; landing_sensor,
                               labels_sensor, review_sensor, conversations_sensor, the daily schedules),
                               run history kept in {os.environ['DAGSTER_HOME']}
  while `make ui` runs, send your own app's traces to the OTLP receiver it starts:
      OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 .venv/bin/eval-pipelines demo-app --requests 20
      (any OpenTelemetry SDK exporter; the calls are rows of traces within half a minute)
  {home.catalog}
      DuckDB catalog, one view per table:
      .venv/bin/python -c "import duckdb; print(duckdb.connect('{home.catalog}', read_only=True).sql(
        'SELECT evaluator, route, prompt_version, avg(passed::INT) AS pass_rate, count(*) AS n '
        'FROM programmatic_scores GROUP BY ALL ORDER BY pass_rate LIMIT 10'))"
      and the judge's verdicts with their inclusion probabilities:
      .venv/bin/python -c "import duckdb; print(duckdb.connect('{home.catalog}', read_only=True).sql(
        'SELECT rubric, route, prompt_version, count(*) AS judged, sum(passed::INT / inclusion_probability) '
        '/ sum(1 / inclusion_probability) AS weighted_pass_rate FROM judge_scores WHERE status = \\'ok\\' '
        'GROUP BY ALL ORDER BY weighted_pass_rate LIMIT 10'))"
  SELECT * FROM alerts / quality_slis in the catalog: every incident with its evidence, every SLI
      with its interval (rules: eval_pipelines/defaults/alert_rules.yaml)
  {home.labels}
      drop reviewers' label files here (JSONL or CSV, see docs/trust-the-judge.md): labels_sensor
      re-calibrates the judge; agreement history: SELECT * FROM judge_calibration in the catalog
  {home.reports / 'validation'}
      Great Expectations results per hour (HTML), also linked from the checks in the UI
  {home.reports / 'scoring' / 'text_evals'}
      Evidently TextEvals report per hour over the programmatic scores
  {home.reports / 'drift'}
      Evidently drift report per day against the days before (linked from drift_report in the UI)
  .venv/bin/eval-pipelines inspect   this summary again""")
    return 1 if failed else 0


def feedback_loop(pipeline: LocalPipeline, home: Home, review_requests: list[dg.RunRequest], day: str) -> list:
    """The loop once: review queues, stand-in reviewers' labels, a golden-set version, candidates scored
    offline, the day's online-offline divergence and its alert."""
    lake = Lake(home.lake)
    reviews = pipeline.execute_run_requests(review_requests, progress=lambda _: None, job_name="review_job")
    queue = lake.read_partitions("review_queue", "hour", [f"{day}-{hour:02d}:00" for hour in range(24)])
    queued = queue.to_pylist() if queue is not None else []
    print(f"review_job: {len(reviews)} run(s), {len(queued)} item(s) queued on {day} "
          f"({sum(row['control'] for row in queued)} control)")
    labels = home.labels / f"demo-reviewers-{day}.jsonl"
    write_jsonl(labels, review_labels(queued, "demo-reviewer", datetime.now(UTC)))
    print(f"stand-in reviewers: {len(queued)} helpfulness labels in {labels}")
    runs = [*reviews, pipeline.execute_job("calibration_job")]
    request = pipeline.golden_refresh_tick()
    why = (request.tags["eval_pipelines/trigger"] if isinstance(request, dg.RunRequest)
           else f"{request.skip_message}; the demo refreshes on demand")
    runs.append(pipeline.execute_job("golden_job"))
    golden = latest_version(home.golden)
    print(f"golden_refresh_sensor: {why}" + (
        f" -> golden set v{golden.version}: {golden.manifest['counts']['items']} items, "
        f"{len(golden.manifest['rejected'])} near-duplicates rejected" if golden else ""))
    if golden is None:
        return runs
    for folder in ("outputs", "results"):
        (home.offline / folder).mkdir(parents=True, exist_ok=True)
    for stem, outputs in replayed_outputs(golden.regression).items():
        write_jsonl(home.offline / "outputs" / f"{stem}.jsonl", outputs)
    models = sorted({(row["model"], row["prompt_version"]) for row in queued if row["model"]})
    write_jsonl(home.offline / "results" / "team-suite.jsonl",
                 [r for model in sorted({m for m, _ in models})
                  for r in team_results(model, sorted({v for m, v in models if m == model}))])
    runs += [pipeline.execute_job("offline_job"), pipeline.execute_job("divergence_job", day)]
    divergence = lake.read_partition("online_offline_divergence", "day", day)
    worst = max(divergence.to_pylist(), key=lambda r: -r["gap_high"], default=None) if divergence else None
    if worst:
        print(f"online_offline_divergence {day}: {worst['metric']} on {worst['prompt_version']}: online "
              f"{worst['online_rate']:.0%} vs offline {worst['offline_rate']:.0%} ({worst['offline_source']}), "
              f"gap {worst['gap']:+.0%} [{worst['gap_low']:+.0%}, {worst['gap_high']:+.0%}]")
    return runs
