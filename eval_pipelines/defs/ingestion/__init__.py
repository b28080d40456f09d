"""Ingestion: landing files become the hour's traces, quarantine rows and feedback events."""
