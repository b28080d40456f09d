"""The Great Expectations 1.x suite over one ``traces`` partition.

Each expectation backs one Dagster asset check (``traces_<rule>``); the suite is validated once per
partition and the results are handed out per check. GX runs in an ephemeral context on the pandas
frame: nothing is written to a GX project folder.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import pyarrow as pa

from eval_pipelines.schemas import TRACES

KNOWN_STATUS_CODES = ["UNSET", "OK", "ERROR"]


@dataclass(frozen=True)
class CheckOutcome:
    """The outcome of one rule of the suite, as an asset check reports it."""

    name: str
    description: str
    blocking: bool
    passed: bool
    observed: dict[str, Any]


@dataclass(frozen=True)
class Rule:
    name: str
    description: str
    blocking: bool


RULES = (
    Rule("span_id_unique", "Every span id appears once in the partition.", True),
    Rule("ids_present", "Every row has a span id and a trace id.", True),
    Rule("columns_match_schema", "The partition has exactly the canonical traces columns, in order.", True),
    Rule("start_time_in_partition", "Every row starts inside the partition's hour.", True),
    Rule("token_counts_non_negative", "Token counts are never negative.", False),
    Rule("status_code_known", "status_code is UNSET, OK or ERROR.", False),
)


@lru_cache(maxsize=1)
def _gx() -> Any:
    """Import GX lazily (about 2.5 s) and only once, with its usage statistics off."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    import great_expectations as gx

    return gx


def _expectations(gx: Any, start: datetime, end: datetime) -> dict[str, list[Any]]:
    e = gx.expectations
    return {
        "span_id_unique": [e.ExpectColumnValuesToBeUnique(column="span_id")],
        "ids_present": [e.ExpectColumnValuesToNotBeNull(column="span_id"),
                        e.ExpectColumnValuesToNotBeNull(column="trace_id")],
        "columns_match_schema": [e.ExpectTableColumnsToMatchOrderedList(column_list=list(TRACES.names))],
        "start_time_in_partition": [e.ExpectColumnValuesToBeBetween(
            column="start_time", min_value=start, max_value=end, strict_max=True)],
        "token_counts_non_negative": [e.ExpectColumnValuesToBeBetween(column="input_tokens", min_value=0),
                                      e.ExpectColumnValuesToBeBetween(column="output_tokens", min_value=0)],
        "status_code_known": [e.ExpectColumnValuesToBeInSet(column="status_code",
                                                           value_set=KNOWN_STATUS_CODES)],
    }


def _observed(result: Any) -> dict[str, Any]:
    details = result.result or {}
    keep = ("element_count", "unexpected_count", "unexpected_percent", "missing_count", "observed_value")
    observed = {k: details[k] for k in keep if k in details}
    if details.get("partial_unexpected_list"):
        observed["examples"] = [str(v)[:80] for v in details["partial_unexpected_list"][:5]]
    return observed


def run_suite(traces: pa.Table, start: datetime, end: datetime) -> list[CheckOutcome]:
    """Validate one partition; one outcome per rule, in the order of :data:`RULES`."""
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    batch = (context.data_sources.add_pandas("lake").add_dataframe_asset("traces")
             .add_batch_definition_whole_dataframe("partition"))
    suite = context.suites.add(gx.ExpectationSuite(name="traces"))
    expectations = _expectations(gx, start, end)
    owner: dict[str, str] = {}
    for rule_name, items in expectations.items():
        for expectation in items:
            suite.add_expectation(expectation)
            owner[expectation.id] = rule_name
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="traces_partition", data=batch, suite=suite))
    result = definition.run(batch_parameters={"dataframe": traces.to_pandas()}, result_format="SUMMARY")
    outcomes: dict[str, list[Any]] = {rule.name: [] for rule in RULES}
    for item in result.results:
        outcomes[owner[item.expectation_config.id]].append(item)
    return [
        CheckOutcome(rule.name, rule.description, rule.blocking,
                     passed=all(r.success for r in outcomes[rule.name]),
                     observed={"expectations": [{"type": r.expectation_config.type,
                                                 "column": r.expectation_config.kwargs.get("column"),
                                                 **_observed(r)} for r in outcomes[rule.name]]})
        for rule in RULES
    ]
