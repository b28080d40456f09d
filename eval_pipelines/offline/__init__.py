"""Offline evaluation: candidates' outputs on the golden set, teams' own results, and their divergence
from what production shows."""
