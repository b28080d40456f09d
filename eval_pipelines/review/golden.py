"""The golden set: reviewed production failures as versioned, immutable regression items.

An item is a queued production request that reviewers labelled as failing at least one rubric: its
input (messages, retrieved context), what was expected (the failing rubrics and the reviewers' notes),
the failing production answer, tags (route, failure mode) and provenance (span, trace, day,
reviewers, the alerts and reasons that queued it).

A refresh adds the reviewed failures not considered before, rejects near-duplicates of items already
in (MinHash, as in the queue), and over the size cap keeps every route × failure-mode stratum a fair
share (max-min: small strata whole, the rest split the remainder; the newest items stay). Splits are
drawn per conversation (session, else trace): ``blake2b(seed, group) < held_out_share`` is held out for
judge calibration, the rest is the regression split, so one conversation never lands in both, and
near-duplicates never coexist at all. Each refresh that considered anything writes
``golden_set_vN.jsonl`` and ``golden_set_vN.manifest.json`` next to each other, never overwriting; the
manifest (written last) says what was added, removed and rejected, and why.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from eval_pipelines.judge.sampling import draw
from eval_pipelines.review.queue import Deduplicator
from eval_pipelines.review.settings import GoldenSettings

HELD_OUT, REGRESSION = "held_out", "regression"
VERSION_FILE = re.compile(r"^golden_set_v(\d+)\.manifest\.json$")


@dataclass(frozen=True)
class GoldenVersion:
    version: int
    items: list[dict[str, Any]]
    manifest: dict[str, Any]
    path: Path

    @property
    def regression(self) -> list[dict[str, Any]]:
        """The items offline runs score (the rest are held out for the judge's calibration)."""
        return [item for item in self.items if item["split"] == REGRESSION]


@dataclass(frozen=True)
class Refresh:
    items: list[dict[str, Any]]
    added: list[dict[str, str]]
    removed: list[dict[str, str]]
    rejected: list[dict[str, str]]

    @property
    def considered(self) -> int:
        return len(self.added) + len(self.removed) + len(self.rejected)


def items_path(folder: Path, version: int) -> Path:
    return folder / f"golden_set_v{version}.jsonl"


def manifest_path(folder: Path, version: int) -> Path:
    return folder / f"golden_set_v{version}.manifest.json"


def latest_version(folder: Path) -> GoldenVersion | None:
    """The newest complete version (its manifest is written last, so a half-written one is not seen)."""
    versions = [int(m.group(1)) for p in folder.glob("*.manifest.json") if (m := VERSION_FILE.match(p.name))]
    return read_version(folder, max(versions)) if versions else None


def read_version(folder: Path, version: int) -> GoldenVersion:
    path = items_path(folder, version)
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    manifest = json.loads(manifest_path(folder, version).read_text(encoding="utf-8"))
    return GoldenVersion(version, items, manifest, path)


def regression_spans(version: GoldenVersion | None) -> set[str]:
    """Production spans whose labels are reserved for offline regression runs, so kept out of the judge's
    calibration (the held-out split and every label outside the golden set remain for it)."""
    if version is None:
        return set()
    return {item["provenance"]["span_id"] for item in version.regression}


def _json_or_text(text: str | None) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def conversation(item: dict[str, Any]) -> str:
    """The unit the splits are drawn by: the session, else the trace, else the span."""
    provenance = item["provenance"]
    return provenance.get("session_id") or provenance.get("trace_id") or provenance["span_id"]


def split_of(item: dict[str, Any], settings: GoldenSettings) -> str:
    return HELD_OUT if draw(settings.seed, conversation(item)) < settings.held_out_share else REGRESSION


def golden_item(queued: dict[str, Any], failing: dict[str, str], labels: list[dict[str, Any]],
                settings: GoldenSettings) -> dict[str, Any]:
    """A queued request, session or agent run (a ``review_queue`` row) with its failing rubrics (rubric → human
    label) and the reviewers' label rows on it, as a golden item. A session's input text is its transcript, an agent
    run's production output its steps."""
    notes = sorted({row["comment"] for row in labels if row.get("comment")})
    failure_mode = "+".join(sorted(failing))
    item = {
        "id": f"gold-{queued['span_id']}",
        "unit": queued.get("unit") or "call",
        "input": {"text": queued["input_text"], "messages": _json_or_text(queued.get("input_messages")),
                  "retrieved_context": _json_or_text(queued.get("retrieved_context"))},
        "expected": {"behaviour": "; ".join(notes) if notes else
                     "an answer that passes " + ", ".join(f"{r} (reviewers labelled production '{label}')"
                                                          for r, label in sorted(failing.items())),
                     "failing_rubrics": dict(sorted(failing.items())), "notes": notes},
        "production_output": queued.get("output_text"),
        "tags": {"route": queued.get("route"), "failure_mode": failure_mode,
                 "prompt_version": queued.get("prompt_version"), "model": queued.get("model")},
        "provenance": {"span_id": queued["span_id"], "trace_id": queued.get("trace_id"),
                       "session_id": queued.get("session_id"),
                       "date": queued["start_time"].date().isoformat() if queued.get("start_time") else None,
                       "reviewers": sorted({str(row["reviewer_id"]) for row in labels}),
                       "alert_keys": list(queued.get("alert_keys") or []), "reasons": list(queued.get("reasons") or []),
                       "control": bool(queued.get("control"))},
        "dedup_key": queued["dedup_key"],
    }
    return item | {"split": split_of(item, settings)}


def reviewed_failures(queue: list[dict[str, Any]], resolved: list[dict[str, Any]], labels: list[dict[str, Any]],
                      settings: GoldenSettings) -> list[dict[str, Any]]:
    """Golden candidates: queued requests whose resolved human label fails at least one rubric."""
    failing: dict[str, dict[str, str]] = {}
    for row in resolved:
        if row["passed"] is False:
            failing.setdefault(row["item_id"], {})[row["rubric"]] = row["label"]
    label_rows: dict[str, list[dict[str, Any]]] = {}
    for row in labels:
        label_rows.setdefault(row["item_id"], []).append(row)
    latest = {row["span_id"]: row for row in sorted(queue, key=lambda r: str(r.get("start_time")))}
    return [golden_item(row, failing[span], label_rows.get(span, []), settings)
            for span, row in sorted(latest.items()) if span in failing]


def considered_ids(latest: GoldenVersion | None) -> set[str]:
    return set(latest.manifest.get("considered", [])) if latest else set()


def pending_failures(failures: list[dict[str, Any]], latest: GoldenVersion | None) -> list[dict[str, Any]]:
    """Reviewed failures no refresh has considered yet (the refresh sensor's count)."""
    seen = considered_ids(latest)
    return [item for item in failures if item["provenance"]["span_id"] not in seen]


def stratum(item: dict[str, Any]) -> str:
    return f"route={item['tags']['route']}, failure_mode={item['tags']['failure_mode']}"


def fair_quotas(sizes: dict[str, int], cap: int) -> dict[str, int]:
    """Max-min fair shares of ``cap``: strata smaller than an equal share keep everything."""
    quotas, left = {}, cap
    ordered = sorted(sizes, key=lambda name: (sizes[name], name))
    for position, name in enumerate(ordered):
        quotas[name] = min(sizes[name], left // (len(ordered) - position))
        left -= quotas[name]
    return quotas


def _recency(item: dict[str, Any]) -> tuple[str, str]:
    return item["provenance"].get("date") or "", item["id"]


def apply_cap(items: list[dict[str, Any]], cap: int) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """Items within ``cap`` (each stratum its fair share, newest kept), and the removed ones with the reason."""
    by_stratum: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        by_stratum.setdefault(stratum(item), []).append(item)
    quotas = fair_quotas({name: len(group) for name, group in by_stratum.items()}, cap)
    kept_ids, removed = set(), []
    for name, group in by_stratum.items():
        ordered = sorted(group, key=_recency, reverse=True)
        kept_ids |= {item["id"] for item in ordered[:quotas[name]]}
        removed += [{"id": item["id"], "reason": f"size cap {cap}: {name} keeps its {quotas[name]} newest"}
                    for item in ordered[quotas[name]:]]
    return [item for item in items if item["id"] in kept_ids], removed


def _added_reason(item: dict[str, Any]) -> str:
    failing = ", ".join(f"{rubric}={label}" for rubric, label in item["expected"]["failing_rubrics"].items())
    provenance = item["provenance"]
    alerts = f"; alert {', '.join(provenance['alert_keys'])}" if provenance["alert_keys"] else ""
    return f"reviewed failure {failing} by {', '.join(provenance['reviewers']) or 'unknown'}{alerts}"


def refresh(latest: GoldenVersion | None, failures: list[dict[str, Any]], settings: GoldenSettings) -> Refresh:
    """The next version's items: new reviewed failures added unless they nearly repeat an item, within the cap."""
    current = latest.items if latest else []
    seen = considered_ids(latest) | {item["provenance"]["span_id"] for item in current}
    deduplicator = Deduplicator(settings.near_duplicate_jaccard)
    for item in current:
        deduplicator.keep(item["dedup_key"], item["id"])
    added, rejected = [], []
    for item in sorted((f for f in failures if f["provenance"]["span_id"] not in seen), key=_recency,
                       reverse=True):
        duplicate = deduplicator.duplicate_of(item["dedup_key"])
        if duplicate is not None:
            rejected.append({"id": item["id"], "reason": f"near-duplicate of {duplicate}"})
            continue
        deduplicator.keep(item["dedup_key"], item["id"])
        added.append(item)
    items, removed = apply_cap(current + added, settings.size_cap)
    new_ids = {item["id"] for item in added}
    rejected += [entry for entry in removed if entry["id"] in new_ids]
    removed = [entry for entry in removed if entry["id"] not in new_ids]
    kept = {item["id"] for item in items}
    return Refresh(items, [{"id": item["id"], "reason": _added_reason(item)} for item in added if item["id"] in kept],
                   removed, rejected)


def splits_leak(items: list[dict[str, Any]], threshold: float) -> list[str]:
    """What would leak between the splits: a conversation in both, or near-duplicates across them."""
    problems = []
    groups: dict[str, set[str]] = {}
    for item in items:
        groups.setdefault(conversation(item), set()).add(item["split"])
    problems += [f"conversation {group} is in both splits" for group, splits in sorted(groups.items())
                 if len(splits) > 1]
    held_out = Deduplicator(threshold)
    for item in items:
        if item["split"] == HELD_OUT:
            held_out.keep(item["dedup_key"], item["id"])
    for item in items:
        if item["split"] == REGRESSION and (twin := held_out.duplicate_of(item["dedup_key"])) is not None:
            problems.append(f"{item['id']} (regression) nearly repeats {twin} (held out)")
    return problems


def counts(items: list[dict[str, Any]]) -> dict[str, Any]:
    by_stratum = Counter(stratum(item) for item in items)
    return {"items": len(items), REGRESSION: sum(i["split"] == REGRESSION for i in items),
            HELD_OUT: sum(i["split"] == HELD_OUT for i in items), "by_stratum": dict(sorted(by_stratum.items()))}


def _create(path: Path, text: str) -> None:
    """Write ``path`` whole, failing if it exists (versions are immutable; a concurrent refresh loses)."""
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, delete=False,
                                     prefix=f".{path.name}.") as handle:
        handle.write(text)
    try:
        os.link(handle.name, path)
    except FileExistsError:
        raise FileExistsError(f"{path} already exists: golden-set versions are never overwritten") from None
    finally:
        os.unlink(handle.name)


def write_version(folder: Path, latest: GoldenVersion | None, result: Refresh, settings: GoldenSettings,
                  now: datetime, trigger: str) -> GoldenVersion:
    """The refresh as version N+1: items first, then the manifest that makes it visible."""
    folder.mkdir(parents=True, exist_ok=True)
    version = (latest.version if latest else 0) + 1
    text = "".join(json.dumps(item, ensure_ascii=False, sort_keys=True) + "\n" for item in result.items)
    manifest = {
        "version": version, "parent": latest.version if latest else None, "created_at": now.isoformat(),
        "trigger": trigger, "settings": settings.model_dump(), "counts": counts(result.items),
        "added": result.added, "removed": result.removed, "rejected": result.rejected,
        "considered": sorted(considered_ids(latest) | {entry["id"].removeprefix("gold-") for entry in
                                                       result.added + result.removed + result.rejected}),
        "items_sha256": hashlib.sha256(text.encode()).hexdigest(),
    }
    _create(items_path(folder, version), text)
    _create(manifest_path(folder, version), json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
    return GoldenVersion(version, result.items, manifest, items_path(folder, version))
