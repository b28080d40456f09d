"""Judge calibration against human labels: agreement, ordinal statistics, drift and error correction (no Dagster)."""

from eval_pipelines.calibration.agreement import Agreement, BinaryRates, agreement, binary_rates

__all__ = ["Agreement", "BinaryRates", "agreement", "binary_rates"]
