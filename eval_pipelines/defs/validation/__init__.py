"""Validation: the hour's traces against their rules, and the Great Expectations suite as asset checks."""
