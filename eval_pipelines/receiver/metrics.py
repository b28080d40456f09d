"""The receiver's counters, served as Prometheus text on ``GET /metrics``."""

from __future__ import annotations

import threading
from collections import Counter

PREFIX = "eval_pipelines_receiver"


class ReceiverMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: Counter[tuple[str, str, str]] = Counter()  # (transport, signal, outcome)
        self.items: Counter[str] = Counter()  # signal -> accepted spans / log records
        self.rejected_items: Counter[str] = Counter()
        self.refusals: Counter[str] = Counter()  # reason -> requests refused
        self.bytes_received = 0
        self.landing_files = 0
        self.publish_seconds_total = 0.0

    def request(self, transport: str, signal: str, outcome: str, size: int = 0, items: int = 0,
                rejected: int = 0) -> None:
        with self._lock:
            self.requests[transport, signal, outcome] += 1
            self.bytes_received += size
            self.items[signal] += items
            self.rejected_items[signal] += rejected

    def refused(self, transport: str, signal: str, reason: str, size: int = 0) -> None:
        with self._lock:
            self.requests[transport, signal, "refused"] += 1
            self.refusals[reason] += 1
            self.bytes_received += size

    def landed(self, seconds: float) -> None:
        with self._lock:
            self.landing_files += 1
            self.publish_seconds_total += seconds

    def prometheus(self, others: dict[str, tuple[str, str, float]]) -> str:
        """These counters and ``others`` (name -> (type, help, value)) in the Prometheus text format."""
        with self._lock:
            families = [
                ("requests_total", "counter", "Export requests by transport, signal and outcome.",
                 [({"transport": t, "signal": s, "outcome": o}, n) for (t, s, o), n in sorted(self.requests.items())]),
                ("items_total", "counter", "Spans and log records accepted.",
                 [({"signal": s}, n) for s, n in sorted(self.items.items())]),
                ("rejected_items_total", "counter", "Spans and log records rejected (partial success).",
                 [({"signal": s}, n) for s, n in sorted(self.rejected_items.items())]),
                ("refusals_total", "counter", "Requests refused, by reason.",
                 [({"reason": r}, n) for r, n in sorted(self.refusals.items())]),
                ("received_bytes_total", "counter", "Request bytes received (as sent).", [({}, self.bytes_received)]),
                ("landing_files_total", "counter", "Landing files written.", [({}, self.landing_files)]),
                ("publish_seconds_total", "counter", "Time spent writing landing files.",
                 [({}, self.publish_seconds_total)]),
            ]
        families += [(name, kind, help_text, [({}, value)]) for name, (kind, help_text, value) in others.items()]
        return "".join(_family(*family) for family in families)


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{key}="{value}"' for key, value in labels.items()) + "}"


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) else f"{value:.6f}"


def _family(name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> str:
    lines = [f"# HELP {PREFIX}_{name} {help_text}", f"# TYPE {PREFIX}_{name} {kind}"]
    lines += [f"{PREFIX}_{name}{_labels(labels)} {_number(value)}" for labels, value in samples]
    return "\n".join(lines) + "\n"
