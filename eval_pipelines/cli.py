"""``eval-pipelines``: the entry points that are not Dagster's (demo data, stand-in servers, inspection)."""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from eval_pipelines.home import HOME_ENV_VAR, PROJECT_ROOT, Home
from eval_pipelines.hours import START_ENV_VAR, partitions_start
from eval_pipelines.standin.environment import standin_judge

if TYPE_CHECKING:
    from eval_pipelines.receiver.server import Receiver
    from eval_pipelines.receiver.settings import ReceiverSettings


def _home(args: argparse.Namespace) -> Home:
    if args.home:
        os.environ[HOME_ENV_VAR] = str(Path(args.home).resolve())
    return Home.from_env().ensure()


def _yesterday() -> date:
    return (datetime.now(UTC) - timedelta(days=1)).date()


def _demo_traffic(args: argparse.Namespace) -> int:
    from eval_pipelines.demo.traffic import write_demo_traffic

    home = _home(args)
    day = date.fromisoformat(args.date) if args.date else _yesterday()
    started = time.monotonic()
    summary = write_demo_traffic(home.landing, day, args.requests, seed=args.seed, bad_lines=args.bad_lines,
                                 incidents=not args.quiet)
    services = ", ".join(f"{service} {n}" for service, n in summary.by_service.items())
    print(f"wrote {summary.requests} requests for {day}{' (quiet day)' if args.quiet else ''} ({services})"
          f", {summary.plain_records} plain JSONL records and {sum(summary.bad_lines.values())} damaged lines "
          f"into {home.landing} in {time.monotonic() - started:.0f} s")
    return 0


def _faults(args: argparse.Namespace):
    from eval_pipelines.standin.server import Faults

    statuses = tuple(int(code) for code in args.error_statuses.split(",") if code.strip())
    return Faults(latency_ms=args.latency_ms, error_rate=args.error_rate, error_statuses=statuses,
                  retry_after_s=args.retry_after_s, timeout_rate=args.timeout_rate, malformed_rate=args.malformed_rate,
                  truncated_rate=args.truncated_rate, fenced_rate=args.fenced_rate, refusal_rate=args.refusal_rate,
                  seed=args.seed)


def _serve(persona, args: argparse.Namespace, what: str) -> int:
    from eval_pipelines.standin.server import STANDIN_LABEL, StandinServer

    server = StandinServer(persona=persona, faults=_faults(args), port=args.port)
    print(f"{STANDIN_LABEL}, {what}, listening on {server.base_url} (Ctrl-C to stop)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


def _serve_llm(args: argparse.Namespace) -> int:
    from eval_pipelines.demo.assistant import support_persona

    return _serve(support_persona, args, "support assistant")


def _serve_judge(args: argparse.Namespace) -> int:
    from eval_pipelines.standin.judge import drifted_judge_persona, judge_persona

    persona = drifted_judge_persona(args.quality_shift) if args.quality_shift else judge_persona
    return _serve(persona, args, "rubric-heuristic judge")


def _inspect(args: argparse.Namespace) -> int:
    from eval_pipelines.inspection import lake_summary
    from eval_pipelines.lake import Lake

    print(lake_summary(Lake(_home(args).lake)))
    return 0


def _export_evaluations(args: argparse.Namespace) -> int:
    from itertools import chain

    from eval_pipelines.evaluation_export import judge_records, programmatic_records, write_otlp_logs
    from eval_pipelines.lake import Lake

    home = _home(args)
    lake = Lake(home.lake)
    day = date.fromisoformat(args.date)
    hours = [f"{day.isoformat()}-{hour:02d}:00" for hour in range(24)]
    sources = []
    if args.source in ("judge", "all"):
        judged = lake.read_partitions("judge_scores", "hour", hours)
        sources.append(judge_records(judged) if judged is not None else iter(()))
    if args.source in ("programmatic", "all"):
        scored = lake.read_partitions("programmatic_scores", "hour", hours)
        sources.append(programmatic_records(scored) if scored is not None else iter(()))
    out = Path(args.out or home.root / "exports" / f"evaluation-results-{day.isoformat()}.jsonl")
    count = write_otlp_logs(chain(*sources), out)
    print(f"wrote {count} gen_ai.evaluation.result log records for {day} to {out}")
    return 0


def _review_export(args: argparse.Namespace) -> int:
    from eval_pipelines.judge import load_judge_settings, load_rubrics
    from eval_pipelines.lake import Lake
    from eval_pipelines.review.export import export_queue

    home = _home(args)
    lake = Lake(home.lake)
    keys = [key for key in lake.partition_keys("review_queue", "hour") if not args.date or key.startswith(args.date)]
    queue = lake.read_partitions("review_queue", "hour", keys)
    if queue is None:
        print(f"no review queue{' on ' + args.date if args.date else ''} in {home.lake}: materialize "
              "review_queue first (review_sensor requests it once an hour has ended and its alerts are evaluated)")
        return 1
    rubrics = load_rubrics()
    settings = load_judge_settings(rubrics=rubrics)
    out = Path(args.out or home.root / "exports" / "review")
    paths = export_queue(queue.to_pylist(), out, f"review-{args.date or 'all'}", rubrics, settings.rubrics_for_route)
    print(f"{queue.num_rows} queued item(s) from {len(keys)} hour(s):")
    for kind, path in paths.items():
        print(f"  {kind:20} {path}")
    print(f"Fill in label, reviewer_id and timestamp (JSONL or CSV), or import the tasks into Label Studio with the "
          f"config and export JSON; drop the file into {home.labels} (labels_sensor picks it up).")
    return 0


def _catalog(args: argparse.Namespace) -> int:
    from eval_pipelines.lake import Lake

    home = _home(args)
    lake = Lake(home.lake, home.catalog)
    if not lake.refresh_catalog():
        print(f"{home.catalog} is open in another process; close it and retry", file=sys.stderr)
        return 1
    print(f"{home.catalog}: views {', '.join(lake.tables())}")
    return 0


def _check_settings(args: argparse.Namespace) -> int:
    from eval_pipelines.configuration import check_settings

    checked = check_settings()
    for entry in checked:
        print(f"{'ok' if entry.problem is None else 'ERROR':5} {entry.file.name:18} {entry.path}")
        if entry.problem:
            print("      " + entry.problem.replace("\n", "\n      "))
    return 1 if any(entry.problem for entry in checked) else 0


def _demo_live(args: argparse.Namespace) -> int:
    """Traffic as it happens: a recorded demo day replayed now into <home>/landing/live."""
    import time

    from eval_pipelines.demo.live import OtlpSender, RotatingFile, pools, record, replay, write_history
    from eval_pipelines.demo.traffic import write_demo_traffic

    home = _home(args)
    recording = home.root / "recordings" / f"demo-{args.recording}"
    if not (recording / "otel").exists():
        print(f"recording a demo day of {args.recording} requests into {recording} …", flush=True)
        write_demo_traffic(recording, _yesterday(), requests=args.recording, seed=11, bad_lines=0)
    source = pools(record(recording))
    rate = args.per_day / 86_400
    folder = home.landing / "live"
    history = write_history(folder, source, rate, args.history_minutes, time.time_ns(), seed=3)
    incident = f"; /orders refuses from minute {args.incident_after:g}" if args.incident_after is not None else ""
    sink = OtlpSender(args.receiver) if args.receiver else RotatingFile(folder, rotate_s=10.0)
    print(f"wrote the {args.history_minutes:g} minutes before ({history} requests); now {rate:.2f} requests/s for "
          f"{args.minutes:g} min to {args.receiver or folder}{incident} (Ctrl-C stops)", flush=True)
    try:
        sent = replay(sink, source, rate, args.minutes * 60,
                      args.incident_after * 60 if args.incident_after is not None else None,
                      on_incident=lambda at: print(f"incident: /orders refuses from {time.ctime(at)}", flush=True))
    except KeyboardInterrupt:
        return 0
    print(f"sent {len(sent)} requests ({sum(entry.incident for entry in sent)} refused on /orders)")
    return 0


def _run_dagster_dev(command: list[str]) -> int:
    """Runs ``dagster dev`` until it exits; Ctrl-C reaches it directly, SIGTERM is passed on."""
    import signal
    import subprocess

    process = subprocess.Popen(command, cwd=PROJECT_ROOT)
    signal.signal(signal.SIGTERM, lambda *_: process.terminate())
    try:
        return process.wait()
    except KeyboardInterrupt:
        return process.wait()


def _receiver_settings(args: argparse.Namespace) -> ReceiverSettings:
    from eval_pipelines.receiver.settings import MIB, ReceiverSettings, tokens_from_env

    return ReceiverSettings(host=args.host, http_port=args.http_port, grpc_port=args.grpc_port,
                            tokens=tokens_from_env(), max_request_bytes=int(args.max_request_mb * MIB),
                            rotate_bytes=int(args.rotate_mb * MIB), rotate_seconds=args.rotate_seconds,
                            backlog_limit_bytes=int(args.backlog_mb * MIB), publish_processes=args.publish_processes)


@contextlib.contextmanager
def receiving(home: Home, settings: ReceiverSettings) -> Iterator[Receiver]:
    """The OTLP receiver, landing into ``<home>/landing``, with a banner saying how to send to it."""
    from eval_pipelines.receiver.server import Receiver  # noqa: F811 - the import is lazy on purpose
    from eval_pipelines.receiver.settings import TOKEN_ENV_VAR

    with Receiver(settings, home.landing_location, home.receiver_spool) as receiver:
        auth = f"bearer tokens from ${TOKEN_ENV_VAR}" if settings.tokens else f"no auth (set ${TOKEN_ENV_VAR})"
        print(f"""OTLP receiver: {receiver.http_url} (HTTP /v1/traces and /v1/logs, protobuf or JSON), \
{receiver.grpc_target} (gRPC); {auth}
  landing files: {home.landing_location.rstrip('/')}/receiver    metrics: {receiver.http_url}/metrics
  an app sends to it with:
    export OTEL_EXPORTER_OTLP_ENDPOINT={receiver.http_url}
    export OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf""", flush=True)
        yield receiver


def _receive(args: argparse.Namespace) -> int:
    import logging
    import signal
    import threading

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with receiving(_home(args), _receiver_settings(args)):
        stop.wait()
    return 0


def _demo_app(args: argparse.Namespace) -> int:
    from eval_pipelines.demo.app import run_app

    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "the OpenTelemetry default endpoint")
    answered = run_app(args.requests)
    print(f"{answered} chat requests answered; their traces and log events went to {endpoint}")
    return 0


def _ui(args: argparse.Namespace) -> int:
    """``dagster dev`` on 127.0.0.1 with the OTLP receiver beside it; with no judge configured, the stand-in
    judge too."""
    home = _home(args)
    prepare_dagster_home(home)
    command = [str(Path(sys.executable).parent / "dagster"), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1",
               "-p", str(args.port)]
    with contextlib.ExitStack() as services:
        try:
            services.enter_context(receiving(home, _receiver_settings(args)))
        except (OSError, RuntimeError) as error:
            print(f"the OTLP receiver did not start ({error}); the UI runs without it", flush=True)
        if not os.environ.get("EVAL_PIPELINES_JUDGE_BASE_URL"):
            judge_url = services.enter_context(standin_judge())
            print(f"EVAL_PIPELINES_JUDGE_BASE_URL is not set: judge_scores will use the STAND-IN judge at {judge_url} "
                  "(heuristics, not a model). Set the EVAL_PIPELINES_JUDGE_* variables to use a real judge.",
                  flush=True)
        return _run_dagster_dev(command)


def _add_receiver_arguments(parser: argparse.ArgumentParser) -> None:
    from eval_pipelines.receiver.settings import MIB, ReceiverSettings

    default = ReceiverSettings()
    parser.add_argument("--host", default=default.host, help=f"address to bind (default {default.host})")
    parser.add_argument("--http-port", type=int, default=default.http_port,
                        help=f"OTLP/HTTP port (default {default.http_port}; 0 picks one)")
    parser.add_argument("--grpc-port", type=int, default=default.grpc_port,
                        help=f"OTLP/gRPC port (default {default.grpc_port}; 0 picks one)")
    parser.add_argument("--max-request-mb", type=float, default=default.max_request_bytes / MIB,
                        help="largest request, decompressed (%(default)g)")
    parser.add_argument("--rotate-mb", type=float, default=default.rotate_bytes / MIB,
                        help="landing file size to rotate at (%(default)g)")
    parser.add_argument("--rotate-seconds", type=float, default=default.rotate_seconds,
                        help="landing file age to rotate at (%(default)g)")
    parser.add_argument("--backlog-mb", type=float, default=default.backlog_limit_bytes / MIB,
                        help="accepted data not yet landed above which requests get 503 (%(default)g)")
    parser.add_argument("--publish-processes", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                        help="processes writing landing files (default: the CPUs but one; 0: a thread)")


def _demo(args: argparse.Namespace) -> int:
    home = _home(args)
    day = date.fromisoformat(args.date) if args.date else _yesterday()
    if (first := day - timedelta(days=1)) < partitions_start():
        print(f"the demo's days start on {first}, before the first partition ({partitions_start()}): "
              f"run it with {START_ENV_VAR}={first}", file=sys.stderr)
        return 2
    if not any(home.landing.rglob("*.json*")):
        # The day before, without incidents: the drift report's reference and the alerts' first baseline.
        _demo_traffic(argparse.Namespace(**{**vars(args), "date": (day - timedelta(days=1)).isoformat(),
                                            "requests": args.requests // 4, "bad_lines": 0, "quiet": True}))
        _demo_traffic(argparse.Namespace(**{**vars(args), "date": day.isoformat(), "quiet": False}))
    prepare_dagster_home(home)
    from eval_pipelines.demo.run import run_demo

    return run_demo(home)


def prepare_dagster_home(home: Home) -> Path:
    """Point DAGSTER_HOME at ``<home>/dagster`` holding the shipped instance config (unless set)."""
    dagster_home = Path(os.environ.get("DAGSTER_HOME") or home.dagster)
    dagster_home.mkdir(parents=True, exist_ok=True)
    shipped = PROJECT_ROOT / "dagster.yaml"
    if shipped.exists() and not (dagster_home / "dagster.yaml").exists():
        shutil.copy(shipped, dagster_home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(dagster_home)
    return dagster_home


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eval-pipelines", description=__doc__)
    parser.add_argument("--home", help=f"lake folder (default ${HOME_ENV_VAR} or .eval_pipelines_home)")
    commands = parser.add_subparsers(dest="command", required=True)

    traffic = commands.add_parser("demo-traffic", help="write a demo day of traces into <home>/landing")
    demo_help = "a quiet day and the demo day of traffic, one sensor tick, all runs"
    for sub in (traffic, demo := commands.add_parser("demo", help=demo_help)):
        sub.add_argument("--date", help="UTC day to simulate, YYYY-MM-DD (default: yesterday)")
        sub.add_argument("--requests", type=int, default=20_000, help="requests in the day (default 20000)")
        sub.add_argument("--seed", type=int, default=7)
        sub.add_argument("--bad-lines", type=int, default=300, help="damaged lines to append")
    traffic.add_argument("--quiet", action="store_true", help="a day without the staged incidents")
    traffic.set_defaults(handler=_demo_traffic)
    demo.set_defaults(handler=_demo)
    live = commands.add_parser("demo-live", help="traffic as it happens: a recorded demo day replayed now into "
                                                 "<home>/landing/live, with an optional incident")
    live.add_argument("--per-day", type=int, default=200_000, help="requests per day, sent at a steady rate")
    live.add_argument("--minutes", type=float, default=30.0, help="how long to send")
    live.add_argument("--incident-after", type=float, default=None, help="minutes until /orders refuses")
    live.add_argument("--history-minutes", type=float, default=60.0, help="the minutes before, written at once")
    live.add_argument("--recording", type=int, default=4000, help="requests in the recorded demo day")
    live.add_argument("--receiver", help="send to this OTLP/HTTP receiver (e.g. http://127.0.0.1:4318) instead of "
                                         "writing files into <home>/landing/live")
    live.set_defaults(handler=_demo_live)

    for name, handler, port, what in (("serve-llm", _serve_llm, 8000, "support-assistant model"),
                                      ("serve-judge", _serve_judge, 8001, "rubric-heuristic judge")):
        serve = commands.add_parser(name, help=f"run the STAND-IN {what} (OpenAI-compatible, 127.0.0.1)")
        serve.add_argument("--port", type=int, default=port)
        serve.add_argument("--latency-ms", type=float, default=0.0)
        serve.add_argument("--error-rate", type=float, default=0.0, help="share of error replies")
        serve.add_argument("--error-statuses", default="429,500,503", help="statuses the errors are spread over")
        serve.add_argument("--retry-after-s", type=float, default=1.0, help="Retry-After sent with 429")
        serve.add_argument("--timeout-rate", type=float, default=0.0, help="share of requests never answered")
        serve.add_argument("--malformed-rate", type=float, default=0.0, help="share of broken HTTP bodies")
        serve.add_argument("--truncated-rate", type=float, default=0.0, help="share of replies cut in half")
        serve.add_argument("--fenced-rate", type=float, default=0.0, help="share of replies in a Markdown fence")
        serve.add_argument("--refusal-rate", type=float, default=0.0, help="share of replies that refuse")
        serve.add_argument("--seed", type=int, default=0)
        serve.set_defaults(handler=handler)
        if name == "serve-judge":
            serve.add_argument("--quality-shift", type=float, default=0.0,
                               help="simulate a silent model update: move every verdict's quality (e.g. -0.5)")

    commands.add_parser("inspect", help="rows per hour, quarantine and validation summary").set_defaults(
        handler=_inspect)
    commands.add_parser("catalog", help="rebuild the DuckDB catalog of views").set_defaults(handler=_catalog)
    commands.add_parser("check-settings", help="load every settings file as this environment names it (or the "
                        "packaged default) and report each problem with its file and line").set_defaults(
        handler=_check_settings)
    ui = commands.add_parser("ui", help="the Dagster UI (dagster dev) on 127.0.0.1, with the stand-in judge "
                                        "if no judge endpoint is configured")
    ui.add_argument("--port", type=int, default=3000)
    _add_receiver_arguments(ui)
    ui.set_defaults(handler=_ui)
    receive = commands.add_parser("receive", help="the OTLP receiver (HTTP and gRPC, traces and logs) writing "
                                                  "landing files; tokens from $EVAL_PIPELINES_RECEIVER_TOKEN")
    _add_receiver_arguments(receive)
    receive.set_defaults(handler=_receive)
    app = commands.add_parser("demo-app", help="an app instrumented with OpenTelemetry sending chat requests' "
                                               "traces over OTLP (set OTEL_EXPORTER_OTLP_ENDPOINT)")
    app.add_argument("--requests", type=int, default=8)
    app.set_defaults(handler=_demo_app)
    export = commands.add_parser("export-evaluations",
                                 help="write a day's results as OTLP/JSON gen_ai.evaluation.result log records")
    export.add_argument("--date", required=True, help="UTC day, YYYY-MM-DD")
    export.add_argument("--source", choices=("judge", "programmatic", "all"), default="all")
    export.add_argument("--out", help="output file (default <home>/exports/evaluation-results-<date>.jsonl)")
    export.set_defaults(handler=_export_evaluations)
    review = commands.add_parser("review", help="the human review queue").add_subparsers(dest="action", required=True)
    review_export = review.add_parser("export", help="write the review queue as JSONL and CSV label templates and "
                                                     "as Label Studio tasks with a labeling config")
    review_export.add_argument("--date", help="UTC day, YYYY-MM-DD (default: the whole queue)")
    review_export.add_argument("--out", help="output folder (default <home>/exports/review)")
    review_export.set_defaults(handler=_review_export)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)
