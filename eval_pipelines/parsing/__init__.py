"""Trace parsing: OTLP/JSON (GenAI conventions, OpenInference) and plain JSONL into canonical records.

Pure Python, no Dagster. :func:`~eval_pipelines.parsing.files.read_landing_file` streams a file into
:class:`~eval_pipelines.parsing.records.ParsedBatch` objects of canonical span, event and quarantine
records; :mod:`~eval_pipelines.parsing.assemble` turns them into ``traces`` rows.
"""
