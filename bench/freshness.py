"""Freshness live: how fast traffic becomes rows, SLIs and pages, through ``dagster dev`` as shipped.

Starts ``dagster dev`` (daemon, the shipped sensors and instance config) on a fresh home with the stand-in
judge and the packaged alert rules paging a local webhook; writes the hour before at once (the rules'
baseline), then traffic at a steady rate as it happens, sent as OTLP/JSON to the OTLP receiver, which
rotates its landing files every 10 s (``--through files`` writes rotated files directly, as a Collector's
file exporter does); switches ``/orders`` to refusals half way.
Prints, with the targets beside them:

- send → row in ``traces`` and → the row's hour in ``quality_slis`` (median, p90, max);
- incident start → page delivered to the webhook (and how many pages it made);
- runs: how many, their durations, the most running and the most waiting for one hour at once;
- the CPU's busy share; and at the end, how far behind the newest rows were (lag).

    .venv/bin/python bench/freshness.py --per-day 200000 --minutes 30
    .venv/bin/python bench/freshness.py --per-day 1000000 --minutes 30
    .venv/bin/python bench/freshness.py --per-day 5000000 --minutes 30
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))

TARGETS = {200_000: {"page_s": 120, "p90_slis_s": 60, "waiting": 1},
           1_000_000: {"page_s": 180, "p90_slis_s": None, "waiting": 1},
           5_000_000: {"page_s": None, "p90_slis_s": None, "waiting": 1}}


def recording(requests: int, cache: Path):
    """The demo day's traffic to replay (recorded once per size, under ``cache``)."""
    from eval_pipelines.demo.live import pools, record
    from eval_pipelines.demo.traffic import write_demo_traffic

    landing = cache / f"recording-{requests}"
    if not (landing / "otel").exists():
        write_demo_traffic(landing, date(2026, 11, 21), requests=requests, seed=11, bad_lines=0, workers=4)
    return pools(record(landing))


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-day", type=int, default=200_000, help="requests per day (a steady rate)")
    parser.add_argument("--rate", type=float, default=None, help="requests per second (instead of --per-day)")
    parser.add_argument("--minutes", type=float, default=30.0, help="how long the traffic runs")
    parser.add_argument("--incident-after", type=float, default=None,
                        help="minutes into the traffic when /orders switches to refusals (default: half way)")
    parser.add_argument("--history-minutes", type=float, default=60.0, help="the hour before, landed at once")
    parser.add_argument("--recording", type=int, default=4000, help="requests in the recorded demo day")
    parser.add_argument("--keep", type=Path, default=None, help="keep the home and instance in this folder")
    parser.add_argument("--through", choices=("receiver", "files"), default="receiver",
                        help="send to the OTLP receiver (default) or write landing files directly")
    args = parser.parse_args()

    from eval_pipelines_tests.live import LiveSession, cpu_times, quantiles

    if args.rate is not None:
        args.per_day = round(args.rate * 86_400)
    rate = args.per_day / 86_400
    incident_after = (args.incident_after if args.incident_after is not None else args.minutes / 2) * 60
    root = args.keep or Path(tempfile.mkdtemp(prefix="freshness-"))
    source = recording(args.recording, PROJECT / "bench" / ".cache")
    print(f"{args.per_day:,} requests/day ({rate:.2f}/s) for {args.minutes:g} min through the {args.through}, "
          f"/orders refuses from {incident_after / 60:g} min; home {root}", flush=True)
    session = LiveSession(root, source, rate, history_minutes=args.history_minutes,
                          through_receiver=args.through == "receiver")
    busy_before, total_before = cpu_times()
    with session.running():
        session.start_traffic(seconds=args.minutes * 60, incident_after_s=incident_after)
        time.sleep(args.minutes * 60 + 5)
        busy_after, total_after = cpu_times()
        lag_end = _lag_at_end(session)
        freshness = session.freshness()
        runs = [record for record in session.runs() if record.start_time]
        pages = session.pages()
        incident_at = session.observed.incident_at
        samples = session.observed.queue_samples
    durations = [(record.end_time or time.time()) - record.start_time for record in runs]
    target = TARGETS.get(args.per_day, {})
    page_s = pages[0][0] - incident_at if pages and incident_at else None
    print(f"\n{'measure':<44}{'this run':>16}{'target':>14}")
    rows = [
        ("incident → page", seconds(page_s), seconds(target.get("page_s"))),
        ("pages about the incident", str(len(pages)), "1"),
        ("send → traces, median", seconds(freshness["send_to_traces_s"]["median"]), "-"),
        ("send → traces, p90", seconds(freshness["send_to_traces_s"]["p90"]), "-"),
        ("send → traces, max", seconds(freshness["send_to_traces_s"]["max"]), "-"),
        ("send → quality_slis, median", seconds(freshness["send_to_quality_slis_s"]["median"]), "-"),
        ("send → quality_slis, p90", seconds(freshness["send_to_quality_slis_s"]["p90"]),
         seconds(target.get("p90_slis_s"))),
        ("send → quality_slis, max", seconds(freshness["send_to_quality_slis_s"]["max"]), "-"),
        ("traces sent / in traces at the end", f"{len(session.observed.sent)} / {freshness['traces_seen']}", "-"),
        ("lag at the end (oldest sent, not in traces)", seconds(lag_end), "-"),
        ("runs of hourly_evaluation_job", str(len(runs)), "-"),
        ("run duration, median", seconds(statistics.median(durations) if durations else None), "-"),
        ("run duration, p90", seconds(quantiles(durations)["p90"]), "-"),
        ("run duration, max", seconds(max(durations, default=None)), "-"),
        ("runs running at once, max", str(max((s[1] for s in samples), default=0)), "-"),
        ("runs waiting for one hour, max", str(max((s[2] for s in samples), default=0)),
         f"≤ {target.get('waiting', 1)}"),
        ("failed runs", str(sum(r.dagster_run.status.value == "FAILURE" for r in runs)), "0"),
        ("CPU busy share", f"{(busy_after - busy_before) / (total_after - total_before):.0%}", "-"),
    ]
    for name, value, goal in rows:
        print(f"{name:<44}{value:>16}{goal:>14}")


def _lag_at_end(session) -> float | None:  # noqa: ANN001 - LiveSession
    """Seconds since the oldest trace that was sent but is not in ``traces`` yet (0 when all are in)."""
    import duckdb

    from eval_pipelines.lake import Lake

    lake = Lake(session.home.lake)
    if lake.scan_existing("traces") is None:
        return None
    present = {row[0] for row in duckdb.sql(f"SELECT DISTINCT trace_id FROM {lake.scan('traces')}").fetchall()}
    missing = [entry.sent_at for entry in session.observed.sent if entry.trace_id not in present]
    return time.time() - min(missing) if missing else 0.0


if __name__ == "__main__":
    main()
