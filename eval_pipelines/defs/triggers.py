"""What the sensors of several stages have in common: a run when the files or judge versions they watch change."""

import hashlib
import json
from pathlib import Path

import dagster as dg

from eval_pipelines.defs.resources import JudgeResource
from eval_pipelines.judge.run import judge_version


def files_fingerprint(files: list[Path]) -> str:
    state = [(str(path), path.stat().st_size, path.stat().st_mtime_ns) for path in files]
    return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:16]


def judge_versions(judge: JudgeResource) -> str:
    """The current judge versions, or "" when the judge is not configured here (then only labels count)."""
    try:
        endpoint, rubrics = judge.endpoint(), judge.rubrics()
        redact = judge.settings(rubrics).redact_pii
    except Exception:  # noqa: BLE001 - an unconfigured judge must not break label pick-up
        return ""
    return ",".join(f"{name}={judge_version(endpoint, rubric, redact)}" for name, rubric in sorted(rubrics.items()))


def on_change(context: dg.SensorEvaluationContext, state: dict[str, str], prefix: str,
              unchanged: str) -> dg.SensorResult:
    """A run when any fingerprint in ``state`` differs from the cursor's, tagged with what changed."""
    previous = json.loads(context.cursor) if context.cursor else {}
    changed = [name for name, value in state.items() if previous.get(name) != value]
    cursor = json.dumps(state)
    if not changed:
        return dg.SensorResult(skip_reason=unchanged, cursor=cursor)
    key = hashlib.sha256(cursor.encode()).hexdigest()[:16]
    return dg.SensorResult(run_requests=[dg.RunRequest(run_key=f"{prefix}:{key}",
                                                       tags={"eval_pipelines/trigger": "+".join(changed)})],
                           cursor=cursor)
