"""Settings loading: every packaged settings file and rubric, loaded and validated as each asset loads them on
every run, with libyaml's parser (what the project uses where PyYAML has it) beside PyYAML's pure-Python parser
(the baseline). Prints milliseconds per load of all of them, the median of ``--repeats`` rounds.

    .venv/bin/python bench/settings_loading.py
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from unittest.mock import patch

import yaml

from eval_pipelines import config
from eval_pipelines.configuration import SETTINGS
from eval_pipelines.judge.rubrics import load_rubrics


def load_everything() -> None:
    for entry in SETTINGS:
        entry.load(entry.file.packaged())
    load_rubrics()


def median_ms(load: Callable[[], None], repeats: int) -> float:
    load()  # imports and first-use caches out of the measurement
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        load()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    repeats = parser.parse_args().repeats
    used = median_ms(load_everything, repeats)
    with patch.object(config, "_LOADER", yaml.SafeLoader):
        baseline = median_ms(load_everything, repeats)
    print(f"{len(SETTINGS)} settings files and the packaged rubrics, loaded and validated, median of {repeats}:")
    print(f"  {'parser':<34} {'ms per load':>12}")
    print(f"  {'PyYAML pure Python (baseline)':<34} {baseline:>12.1f}")
    print(f"  {config._LOADER.__name__ + ' (used)':<34} {used:>12.1f}   ({baseline / used:.1f}x faster)")


if __name__ == "__main__":
    main()
