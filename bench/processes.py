"""Run one side of a benchmark in a fresh process and report its figures with its peak memory."""

from __future__ import annotations

import contextlib
import multiprocessing
import queue
import resource
from collections.abc import Callable
from typing import Any

import psutil

SAMPLE_SECONDS = 0.05


def _child(target: Callable[..., dict], args: tuple[Any, ...], results: Any) -> None:
    result = target(*args)
    result["own_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results.put(result)


def tree_rss(process: psutil.Process) -> int:
    """Resident memory of a process and of every process it started (the workers it spawns)."""
    total = 0
    for member in (process, *process.children(recursive=True)):
        with contextlib.suppress(psutil.NoSuchProcess):  # a worker that has just exited
            total += member.memory_info().rss
    return total


def measure(target: Callable[..., dict], *args: Any) -> dict:
    """``target(*args)`` in a spawned process (nothing inherited, so its memory is its own). ``peak_rss_mb``
    is the largest total resident memory of that process and its own worker processes, sampled every
    50 ms, and never less than the process's own peak."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=_child, args=(target, args, results))
    process.start()
    watched = psutil.Process(process.pid)
    peak = 0
    while True:
        try:
            result = results.get(timeout=SAMPLE_SECONDS)
            break
        except queue.Empty:
            with contextlib.suppress(psutil.NoSuchProcess):
                peak = max(peak, tree_rss(watched))
    process.join()
    result["peak_rss_mb"] = max(peak / 2**20, result.pop("own_peak_rss_mb"))
    return result
