"""Run one side of a benchmark in a fresh process and report its figures with its peak memory."""

from __future__ import annotations

import multiprocessing
import resource
from collections.abc import Callable
from typing import Any


def _child(target: Callable[..., dict], args: tuple[Any, ...], queue: Any) -> None:
    result = target(*args)
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    queue.put(result)


def measure(target: Callable[..., dict], *args: Any) -> dict:
    """``target(*args)`` in a spawned process (nothing inherited, so peak RSS is its own)."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(target, args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result
