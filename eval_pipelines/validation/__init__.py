"""Input validation of ``traces``: row-level rules and the Great Expectations suite (no Dagster)."""
