"""A day of 1M requests ingested and scored through Dagster in one run, with the ingestion floor side by side.

    .venv/bin/python bench/pipeline_load.py [--requests 1000000] [--object-store]

Generates the day as 24 OTLP/JSON files, one per hour as a Collector's file exporter rotating hourly would
write them (each request: an application span with route and prompt version, and its LLM span), then measures,
each side in a fresh process:
- floor: the foundation benchmark's floor, ``orjson.loads`` of every line plus a bare walk over every span's
  attributes, over the same files;
- ours: what a single-run backfill of the day does, as shipped: the landing sensor's scan, then
  ``hourly_evaluation_job`` over the 24 hours as one run (``LocalPipeline.execute_hours``, Dagster's
  in-process executor; every step walks the hours): traces and quarantine, the expectations check, row
  validation, programmatic scores and their hourly Evidently report, feedback, the judge sample and its
  verdicts (the stand-in judge over HTTP), quality SLIs.
Figures: wall time per step (Dagster's step durations), requests per second end to end and of the ingestion
step next to the floor's, and the run's peak RSS. With ``--object-store`` ours runs twice, the lake in a folder
and then in a bucket of a local S3-compatible server (moto's, in this process), side by side.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from ingestion_throughput import T0, floor, generate
from processes import measure

DAY_START_NS = T0 - 14 * 3600 * 10**9  # 2026-11-21T00:00Z
# The day of 1M through full rebuilds (every file parsed in every run, every row validated and scored
# again), the baseline issue 27 names (seconds), printed beside this run's.
BASELINE_1M = {"landing_sensor": 78.5, "trace_ingestion": 69.5, "traces_expectations": 46.0,
               "trace_validation": 8.1, "programmatic_scores": 96.6, "feedback_linking": 24.1, "judge_sample": 6.6,
               "judge_scores": 51.6, "quality_slis": 13.5, "the day, scan and run": 398.0}
TARGET_1M_SECONDS = 200
HOUR_NS = 3600 * 10**9
FIRST_CALL_OFFSET_NS = 10_000_000  # the application span starts 5 ms before its call: inside the day too


def write_day(landing: Path, requests: int) -> None:
    landing.mkdir(parents=True)
    per_hour = requests // 24
    for hour in range(24):
        generate(landing / f"traces-{hour:02d}.jsonl", per_hour, first_call=hour * per_hour,
                 start_ns=DAY_START_NS + FIRST_CALL_OFFSET_NS, spacing_ns=HOUR_NS // per_hour)


def floor_of_day(landing: str) -> dict:
    runs = [floor(str(path)) for path in sorted(Path(landing).glob("*.jsonl"))]
    return {"seconds": sum(run["seconds"] for run in runs)}


def ours(home_root: str, lake_url: str = "") -> dict:
    import dagster as dg

    from eval_pipelines.definitions import build_defs
    from eval_pipelines.defs.local_runs import LocalPipeline, wait_for_quiet_landing
    from eval_pipelines.defs.partitions import hours_of
    from eval_pipelines.home import Home
    from eval_pipelines.lake import Lake
    from eval_pipelines.standin.environment import standin_judge

    home = Home(Path(home_root), lake_url).ensure()
    wait_for_quiet_landing(home.landing)
    with standin_judge(), tempfile.TemporaryDirectory() as dagster_home, \
            dg.DagsterInstance.local_temp(dagster_home) as instance:
        pipeline = LocalPipeline(instance, build_defs(home))
        started = time.perf_counter()
        keys, cursor, ticks = set(), None, 0
        while True:  # the sensor scans for at most 40 s per tick; the daemon ticks again until all is seen
            tick = pipeline.landing_sensor_tick(cursor)
            ticks, cursor = ticks + 1, tick.cursor
            if not tick.run_requests:
                break
            keys |= {key for request in tick.run_requests for key in hours_of(request)}
        keys = sorted(keys)
        scanned = time.perf_counter()
        run = pipeline.execute_hours(keys[0], keys[-1])
        done = time.perf_counter()
        records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_SUCCESS).records
        steps = {r.event_log_entry.step_key: r.event_log_entry.dagster_event.event_specific_data.duration_ms / 1000
                 for r in records}
    lake = Lake(home.lake)
    return {"success": run.success, "hours": len(keys), "ticks": ticks, "scan_seconds": scanned - started,
            "run_seconds": done - scanned, "steps": steps,
            "rows": {table: sum(lake.read_partition(table, "hour", key).num_rows for key in keys)
                     for table in ("traces", "programmatic_scores", "judge_scores")}}


@contextmanager
def s3_bucket() -> Iterator[str]:
    """A bucket of moto's S3-compatible server on 127.0.0.1; AWS_* point at it for this process and its children."""
    from moto.server import ThreadedMotoServer

    from eval_pipelines.lake import Lake

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(AWS_ENDPOINT_URL=f"http://{host}:{port}", AWS_ACCESS_KEY_ID="bench",
                      AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    Lake("s3://bench-lake").fs.mkdir("bench-lake")
    try:
        yield "s3://bench-lake/warehouse"
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1_000_000, help="requests in the day (a multiple of 24)")
    parser.add_argument("--object-store", action="store_true", help="run ours again with the lake on local S3")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="eval-pipelines-load-") as folder, ExitStack() as stack:
        home = Path(folder) / "home"
        started = time.perf_counter()
        write_day(home / "landing", args.requests)
        size_mb = sum(path.stat().st_size for path in (home / "landing").glob("*.jsonl")) / 1e6
        print(f"generated {args.requests:,} requests ({2 * args.requests:,} spans, {size_mb:,.0f} MB in 24 files) "
              f"in {time.perf_counter() - started:.0f} s", flush=True)
        base = measure(floor_of_day, str(home / "landing"))
        results = {"lake in a folder": measure(ours, str(home))}
        if args.object_store:
            shutil.rmtree(home / "index")  # the second side scans the landing files afresh, like the first
            results["lake on S3"] = measure(ours, str(home), stack.enter_context(s3_bucket()))
    for result in results.values():
        assert result["success"] and result["hours"] == 24 and result["rows"]["traces"] == args.requests // 24 * 24
    result = next(iter(results.values()))
    requests = result["rows"]["traces"]
    totals = [side["scan_seconds"] + side["run_seconds"] for side in results.values()]
    baseline = BASELINE_1M if args.requests == 1_000_000 else {}

    def line(stage: str, values: list[float]) -> str:
        before = f" {baseline[stage]:>17.1f}" if stage in baseline else f" {'-':>17}" if baseline else ""
        return f"{stage:<28}" + "".join(f" {value:>17.1f}" for value in values) + before

    print(f"\n{'stage':<28}" + "".join(f" {name:>17}" for name in results)
          + (f" {'baseline':>17}" if baseline else ""))
    print(line("landing_sensor", [side["scan_seconds"] for side in results.values()]))
    for step in result["steps"]:
        print(line(step, [side["steps"][step] for side in results.values()]))
    print(line("Dagster run, end to end", [side["run_seconds"] for side in results.values()]))
    print(line("the day, scan and run", totals) + (f"   target ≤ {TARGET_1M_SECONDS} s" if baseline else ""))
    print(f"\nrows: {requests:,} traces, {result['rows']['programmatic_scores']:,} programmatic scores, "
          f"{result['rows']['judge_scores']:,} judge verdicts; landing_sensor: {result['ticks']} ticks")
    for name, total in zip(results, totals, strict=True):
        print(f"end to end (scan + run), {name}: {requests / total:,.0f} requests/s; {total:.0f} s for the day")
    ingestion = requests / result["steps"]["trace_ingestion"]
    floor_rate = requests / base["seconds"]
    print(f"ingestion step: {ingestion:,.0f} LLM spans/s | floor: {floor_rate:,.0f} LLM spans/s | "
          f"ratio {ingestion / floor_rate:.2f}")
    print(f"peak RSS: run {result['peak_rss_mb']:,.0f} MB, floor {base['peak_rss_mb']:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
