"""Asset checks shared by the stages: one check per alert rule on the SLI table an asset writes."""

import math
from datetime import datetime, timedelta

import dagster as dg
import pyarrow as pa

from eval_pipelines.defs.partitions import history_keys, key_start
from eval_pipelines.defs.resources import MonitoringConfigResource
from eval_pipelines.lake import Lake
from eval_pipelines.monitoring.alerting import bucket_end
from eval_pipelines.monitoring.incidents import describe
from eval_pipelines.monitoring.rules import (
    HOURLY_SLI_TABLE,
    SliHistory,
    load_alert_config,
    lookback_minutes,
    newest_window,
)
from eval_pipelines.monitoring.slis import KNOWN_SLIS


def rule_check_specs(asset: str, table: str) -> list[dg.AssetCheckSpec]:
    """One check per alert rule on ``table`` (from the configuration found when the definitions load)."""
    return [dg.AssetCheckSpec(f"{asset}_{rule.name}", asset=asset,
                              description=rule.description or f"{rule.sli} within its alert rule")
            for rule in load_alert_config(known_slis=KNOWN_SLIS).only(table).rules]


def rule_checks(context: dg.AssetExecutionContext, store: Lake, monitoring: MonitoringConfigResource, table: str,
                keys: list[str], evaluate: bool = True) -> dict[str, list[dg.AssetCheckResult]]:
    """Each rule on ``table`` evaluated at the end of each key's newest data over the stored history (read once
    for all keys; no incident state: that is the alerts assets'), one check per rule declared on the asset:
    red while it breaches. ``evaluate=False``: nothing to evaluate (every check passes)."""
    config = monitoring.alert_config().only(table)
    daily = table != HOURLY_SLI_TABLE
    checked = {spec.name: spec.asset_key.path[-1] for spec in context.assets_def.check_specs}
    specs, asset = set(checked), next(iter(checked.values()), "")  # named after the asset, whatever its prefix
    declared = [rule for rule in config.rules if f"{asset}_{rule.name}" in specs]
    lookback = math.ceil(lookback_minutes(config.rules) / 60) + (len(keys) - 1) * (24 if daily else 1)
    table_rows = store.read_partitions(table, "day" if daily else "hour", history_keys(keys[-1], lookback, daily)) \
        if evaluate else None
    history = SliHistory(table_rows) if table_rows is not None else None
    # Checks declared from rules the configuration in use no longer has pass, saying so.
    retired = [dg.AssetCheckResult(check_name=name, passed=True, description="not among the alert rules in use")
               for name in sorted(specs - {f"{asset}_{rule.name}" for rule in declared})]
    results = {}
    for key in keys:
        breaches = ({b.rule.name: b for b in history.breaches(declared, _evaluated_at(history.history, key, daily))}
                    if history is not None else {})
        results[key] = [dg.AssetCheckResult(
            check_name=f"{asset}_{rule.name}", passed=rule.name not in breaches,
            severity=dg.AssetCheckSeverity.ERROR if rule.severity == "page" else dg.AssetCheckSeverity.WARN,
            description=describe(breaches[rule.name], None) if rule.name in breaches else None,
            metadata={"sli": rule.sli, "slice": breaches[rule.name].slice if rule.name in breaches else ""})
            for rule in declared] + retired
    return results


def _evaluated_at(rows: pa.Table, key: str, daily: bool) -> datetime:
    """The end of the day, or of the hour's newest minute with data (the hour's end without data)."""
    start = key_start(key, daily)
    end = start + (timedelta(days=1) if daily else timedelta(hours=1))
    newest = None if daily else newest_window(rows, start, end)
    return end if newest is None else bucket_end(newest)


def merge_hours(by_hour: dict[str, list[dg.AssetCheckResult]]) -> list[dg.AssetCheckResult]:
    """One result per check for a run over several hours: red if any hour is red, naming those hours
    (a run over one hour keeps that hour's results as they are)."""
    if len(by_hour) == 1:
        return next(iter(by_hour.values()))
    merged: dict[str, list[tuple[str, dg.AssetCheckResult]]] = {}
    for key, results in by_hour.items():
        for result in results:
            merged.setdefault(result.check_name or "", []).append((key, result))
    return [_merged(outcomes) for outcomes in merged.values()]


def _merged(outcomes: list[tuple[str, dg.AssetCheckResult]]) -> dg.AssetCheckResult:
    failed = [(key, result) for key, result in outcomes if not result.passed]
    key, shown = failed[0] if failed else outcomes[-1]
    return dg.AssetCheckResult(
        check_name=shown.check_name, passed=not failed, severity=shown.severity,
        description=f"{key}: {shown.description}" if shown.description else None,
        metadata={**(shown.metadata or {}), "hours_checked": len(outcomes),
                  "failed_hours": ", ".join(k for k, _ in failed) or "none"})
