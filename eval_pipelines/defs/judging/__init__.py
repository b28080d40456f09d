"""Judging: the hour's sample for the LLM judge, and its verdicts."""
