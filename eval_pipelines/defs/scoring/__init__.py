"""Scoring: programmatic evaluators on every request, and user feedback linked to its calls."""
