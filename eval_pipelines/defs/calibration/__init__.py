"""Calibration: human labels, the judge measured against them, and the canary items re-judged daily."""
