"""A team's own code evaluators, named in ``evaluators.yaml`` under ``custom`` and run on every request of their
routes, beside the packaged ones, with the same result contract.

A per-row function takes one request (a dict of the request columns) and the entry's ``settings`` and returns
``True``/``False`` (passed), a number (a score), a dict with any of ``score``, ``label``, ``passed``,
``explanation``, or ``None`` (no result for this request). A batch function takes the requests as an Arrow table
(with ``rid``, the request's row number) and ``settings``, and returns an Arrow table or a list of dicts with
``rid`` and any of the same fields. A function that raises, or returns something else, gives a result row with the
label ``evaluator_error`` and the error as the explanation for each request it was given: a failure is recorded,
never a reason for the hour to fail.
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Callable, Iterator
from typing import Any

import pyarrow as pa

from eval_pipelines.evaluators.base import RESULT_SCHEMA, Batch, Evaluator, Outcome

ERROR_LABEL = "evaluator_error"
RESULT_FIELDS = ("score", "label", "passed", "explanation")
MAX_EXPLANATION = 500


def load_function(reference: str) -> Callable[..., Any]:
    """The function ``package.module:function`` names; ``ValueError`` saying what is missing."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{reference!r} is not a function reference of the form package.module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"cannot import {module_name!r} for {reference!r}: {error}") from None
    function = getattr(module, attribute, None)
    if not callable(function):
        raise ValueError(f"{module_name!r} has no function {attribute!r}")
    return function


def _error(error: BaseException | str) -> dict[str, Any]:
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    return {"score": None, "label": ERROR_LABEL, "passed": None, "explanation": text[:MAX_EXPLANATION]}


def _as_result(value: Any) -> dict[str, Any] | None:
    """One per-row return value as a result row (without ``rid``), ``None`` for no result."""
    if value is None:
        return None
    if isinstance(value, bool):
        return {"passed": value}
    if isinstance(value, int | float):
        return {"score": float(value)}
    if isinstance(value, dict) and set(value) <= set(RESULT_FIELDS):
        return value
    return _error(f"returned {type(value).__name__} {str(value)[:80]!r}: expected a bool, a number, None or a "
                  f"dict of {', '.join(RESULT_FIELDS)}")


def _typed(rows: list[dict[str, Any]]) -> pa.Table:
    """Result rows in the result schema; a row whose values have the wrong type becomes an error row."""
    checked = []
    for row in rows:
        try:
            pa.Table.from_pylist([row], schema=RESULT_SCHEMA)
            checked.append(row)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError, OverflowError) as error:
            checked.append({"rid": row["rid"], **_error(f"a result of the wrong type: {error}")})
    return pa.Table.from_pylist(checked, schema=RESULT_SCHEMA)


def _per_row(function: Callable[..., Any], requests: pa.Table, settings: dict[str, Any]) -> pa.Table:
    rows = []
    for request in requests.to_pylist():
        try:
            result = _as_result(function(request, settings))
        except Exception as error:  # noqa: BLE001 - a team's code: any failure is a result, not a failed hour
            result = _error(error)
        if result is not None:
            rows.append({"rid": request["rid"], **result})
    return _typed(rows)


def _batch(function: Callable[..., Any], requests: pa.Table, settings: dict[str, Any]) -> pa.Table:
    try:
        returned = function(requests, settings)
        rows = returned.to_pylist() if isinstance(returned, pa.Table) else list(returned)
        given = set(requests.column("rid").to_pylist())
        if not all(isinstance(row, dict) and row.get("rid") in given and set(row) <= {"rid", *RESULT_FIELDS}
                   for row in rows):
            raise ValueError(f"every result needs the rid of a request given and only {', '.join(RESULT_FIELDS)}")
    except Exception as error:  # noqa: BLE001 - a team's code: any failure is a result, not a failed hour
        return _typed([{"rid": rid, **_error(error)} for rid in requests.column("rid").to_pylist()])
    return _typed(rows)


def custom_evaluator(name: str, function_reference: str, per_row: bool, version: int, routes: list[str] | None,
                     settings: dict[str, Any], request_columns: list[str]) -> Evaluator:
    """An evaluator running ``function_reference`` on every request, or on those whose route matches a glob of
    ``routes``."""
    function = load_function(function_reference)
    run_function = _per_row if per_row else _batch

    def run(batch: Batch, _: Any) -> Iterator[tuple[str, Outcome]]:
        requests = batch.fetch(", ".join([*request_columns, "rid"]))
        if routes is not None:
            requests = requests.filter(pa.array([route is not None and any(fnmatch.fnmatchcase(route, glob)
                                                                           for glob in routes)
                                                 for route in requests.column("route").to_pylist()], pa.bool_()))
        yield name, run_function(function, requests, settings)

    return Evaluator(name, version, f"custom: {function_reference}", run)
