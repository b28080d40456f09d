"""What a ``sessions`` or ``agent_runs`` partition says at a glance: the numbers the Dagster UI plots per hour."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def _share(mask: pa.ChunkedArray, count: int) -> float:
    return round(pc.sum(pc.cast(mask, pa.int64())).as_py() / count, 4) if count else 0.0


def _mean(column: pa.ChunkedArray) -> float:
    return round(pc.mean(column).as_py(), 2) if len(column) else 0.0


def session_metadata(sessions: pa.Table) -> dict[str, float | int]:
    """Turns per session and the share of sessions with each signal (shares are 0 for an hour without any)."""
    count = sessions.num_rows
    return {
        "turns_mean": _mean(sessions.column("turns")),
        "escalated_share": _share(sessions.column("escalated"), count),
        "frustrated_share": _share(pc.greater(pc.list_value_length(sessions.column("frustration_markers")), 0),
                                   count),
        "repeated_question_share": _share(pc.greater(sessions.column("repeated_questions"), 0), count),
        "abandoned_share": _share(sessions.column("abandoned"), count),
        "failed_share": _share(pc.or_(pc.greater(sessions.column("failed_calls"), 0),
                                      pc.greater(sessions.column("errors"), 0)), count),
    }


def agent_metadata(runs: pa.Table) -> dict[str, float | int]:
    """Steps per run and the share of runs that looped, broke the declared tools or hit an error."""
    count = runs.num_rows
    return {
        "steps_mean": _mean(runs.column("steps")),
        "tool_calls": pc.sum(runs.column("tool_calls")).as_py() or 0,
        "loop_share": _share(pc.greater(runs.column("loops"), 0), count),
        "invalid_tool_call_share": _share(pc.greater(runs.column("invalid_tool_calls"), 0), count),
        "error_share": _share(pc.greater(runs.column("errors"), 0), count),
    }
