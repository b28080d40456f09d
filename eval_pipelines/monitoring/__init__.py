"""Quality SLIs, alert rules and drift (no Dagster)."""
