"""Offline: candidates scored on the golden set, and their offline scores beside the online ones."""
