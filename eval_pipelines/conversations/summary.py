"""What a ``sessions`` partition says at a glance: the numbers the Dagster UI plots per hour."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc


def session_metadata(sessions: pa.Table) -> dict[str, float | int]:
    """Turns per session and the share of sessions with each signal (shares are 0 for an hour without any)."""
    count = sessions.num_rows

    def share(mask: pa.ChunkedArray) -> float:
        return round(pc.sum(pc.cast(mask, pa.int64())).as_py() / count, 4) if count else 0.0

    return {
        "turns_mean": round(pc.mean(sessions.column("turns")).as_py(), 2) if count else 0.0,
        "escalated_share": share(sessions.column("escalated")),
        "frustrated_share": share(pc.greater(pc.list_value_length(sessions.column("frustration_markers")), 0)),
        "repeated_question_share": share(pc.greater(sessions.column("repeated_questions"), 0)),
        "abandoned_share": share(sessions.column("abandoned")),
        "failed_share": share(pc.or_(pc.greater(sessions.column("failed_calls"), 0),
                                     pc.greater(sessions.column("errors"), 0))),
    }
