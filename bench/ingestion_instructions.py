"""Instructions per span pair, ours against the floor: a figure this machine's drifting speed cannot move.

    .venv/bin/python bench/ingestion_instructions.py        # needs valgrind

Wall-clock figures on a shared 2-core machine drift by tens of percent from minute to minute (see
``ingestion_throughput.py``). valgrind's callgrind counts executed instructions instead, which drift
far less. Each side runs in one process, under callgrind, over 4 and then 16 lines of the throughput
benchmark's file (250 LLM calls and their 250 parent spans per line). The difference between the two
counts, less the same difference for the set-up alone (imports, reading the lines), is the cost of
3,000 span pairs, printed per 1,000:

- floor: ``orjson.loads`` of each line plus a bare walk over every span's attributes;
- ours: each line read (typed fast path or lenient reader), extracted and staged to Parquet, as one
  ``traces`` worker process does it. DuckDB's join and the partition writes are not included: they
  are the same work whatever the parsing, and the throughput benchmark times them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

LINES = (4, 16)
PAIRS_PER_LINE = 250


def child(side: str, lines_path: str, count: int) -> None:
    import gc

    from ingestion_throughput import floor_line

    from eval_pipelines.parsing.files import _parse_line
    from eval_pipelines.parsing.records import Extractor, Window
    from eval_pipelines.parsing.staging import StagingWriter
    from eval_pipelines.settings import load_ingestion_settings

    with open(lines_path, "rb") as stream:
        lines = [stream.readline() for _ in range(count)]
    gc.disable()  # as in the workers
    if side == "floor":
        for line in lines:
            floor_line(line)
    elif side == "ours":
        extractor = Extractor(load_ingestion_settings(), "traces.jsonl", Window(0, 2**62), with_quarantine=True)
        with tempfile.TemporaryDirectory() as folder, StagingWriter(Path(folder)) as writer:
            for number, line in enumerate(lines, start=1):
                extractor.extract(_parse_line(number, line), writer)


def instructions(side: str, lines_path: Path, count: int) -> int:
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable, __file__,
               "--child", side, str(lines_path), str(count)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    stderr = subprocess.run(command, capture_output=True, text=True, env=env, check=True).stderr
    return int(re.search(r"Collected : (\d+)", stderr).group(1))


def per_thousand_pairs(side: str, lines_path: Path) -> float:
    few, more = (instructions(side, lines_path, n) - instructions("setup", lines_path, n) for n in LINES)
    return (more - few) / ((LINES[1] - LINES[0]) * PAIRS_PER_LINE) * 1000


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return 0
    from ingestion_throughput import generate, parsing_build

    with tempfile.TemporaryDirectory(prefix="eval-pipelines-bench-") as folder:
        path = Path(folder) / "traces.jsonl"
        generate(path, LINES[1] * PAIRS_PER_LINE)
        floor, ours = (per_thousand_pairs(side, path) for side in ("floor", "ours"))
    print(f"instructions per 1,000 span pairs (one LLM call and its parent span), one process; "
          f"parsing modules {parsing_build()}:")
    for label, count in (("floor (orjson + attribute walk)", floor), ("ours (read, extract, stage)", ours)):
        print(f"  {label:32s} {count / 1e6:8.0f} M   = {count / floor:.2f} x the floor")
    return 0


if __name__ == "__main__":
    sys.exit(main())
