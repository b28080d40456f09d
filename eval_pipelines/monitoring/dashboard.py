"""The local Evidently workspace (``<home>/evidently``): each hour's SLIs, each day's drift report and
each alert evaluation pushed as snapshots, and a ready-made dashboard over them.

Evidently plots metric values across snapshots. The SLIs are already computed, so each hour becomes
a one-row dataset whose columns are the series (``refusal_rate``, ``refusal_rate@prompt_version=v7``…)
and a ``SliValue`` (:mod:`eval_pipelines.monitoring.sli_metric`) per column: the plotted value is
exactly the SLI. The dashboard is rebuilt from the series seen so far whenever a new one appears (a
new prompt version gets its line).
``make dashboard`` serves it with ``DO_NOT_TRACK=1`` (the UI otherwise sends telemetry).
"""

from __future__ import annotations

import fcntl
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pyarrow as pa

PROJECT_NAME = "eval_pipelines quality"
SERIES_FILE = "eval_pipelines_series.json"
SLICED_BY = ("prompt_version", "model")
DASHBOARD_SLIS = ("refusal_rate", "json_validity", "error_rate", "empty_rate", "thumbs_down_rate",
                  "judge_pass_rate_helpfulness", "judge_pass_rate_helpfulness_corrected", "latency_p95_ms",
                  "volume")
AGREEMENT_PREFIX = "cohen_kappa_"
ALERT_SERIES = ("incidents_opened", "incidents_resolved", "incidents_open")


def sli_series(slis: pa.Table) -> dict[str, float]:
    """The hour's SLIs as named series: totals by SLI name, slices as ``<sli>@<dimension>=<value>``."""
    series: dict[str, float] = {}
    for row in slis.to_pylist():
        if row["value"] is None or row["sli"] not in DASHBOARD_SLIS:
            continue
        if row["dimension"] == "total":
            series[row["sli"]] = row["value"]
        elif row["dimension"] in SLICED_BY:
            series[f"{row['sli']}@{row['dimension']}={row[row['dimension']]}"] = row["value"]
    return series


class EvidentlyWorkspace:
    """One local workspace folder with the project's dashboard; safe against concurrent runs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / ".eval_pipelines.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _project(self, workspace):  # noqa: ANN001, ANN202 - evidently types, imported lazily
        found = workspace.search_project(PROJECT_NAME)
        if found:
            return found[0]
        return workspace.create_project(PROJECT_NAME, description="Quality SLIs, judge agreement, drift and alerts "
                                                                  "from eval_pipelines (pushed by the Dagster assets).")

    def push_values(self, values: dict[str, float], timestamp: datetime, tag: str) -> int:
        """One snapshot holding ``values`` at ``timestamp``; returns how many series it carried."""
        values = {name: float(value) for name, value in values.items() if value is not None}
        if not values:
            return 0
        import pandas as pd
        from evidently import DataDefinition, Dataset, Report

        from eval_pipelines.monitoring.sli_metric import SliValue

        frame = pd.DataFrame([values])
        dataset = Dataset.from_pandas(frame, data_definition=DataDefinition(numerical_columns=list(values)))
        snapshot = Report([SliValue(column=name) for name in values]).run(dataset, None, timestamp=timestamp,
                                                                          tags=[tag])
        self.push_snapshot(snapshot, new_series=list(values))
        return len(values)

    def push_snapshot(self, snapshot, new_series: list[str] = ()) -> None:  # noqa: ANN001 - evidently Snapshot
        from evidently.ui.workspace import Workspace

        with self._locked():
            workspace = Workspace(str(self.folder))
            project = self._project(workspace)
            workspace.add_run(project.id, snapshot)
            known = self._series()
            if set(new_series) - known:
                known |= set(new_series)
                (self.folder / SERIES_FILE).write_text(json.dumps(sorted(known)))
                workspace.save_dashboard(project.id, dashboard_model(sorted(known)))

    def _series(self) -> set[str]:
        path = self.folder / SERIES_FILE
        return set(json.loads(path.read_text())) if path.exists() else set()


def dashboard_model(series: list[str]):  # noqa: ANN201 - evidently DashboardModel, imported lazily
    """Tabs: quality SLIs (totals), by prompt version, by model, judge agreement, drift, alerts."""
    from evidently.sdk.models import DashboardModel, DashboardTabModel, PanelMetric
    from evidently.sdk.panels import line_plot_panel

    def panel(title: str, names: list[str], size: str = "half"):  # noqa: ANN202
        return line_plot_panel(title, [PanelMetric(legend=name.split("@")[-1], metric="SliValue",
                                                   metric_labels={"column": name}) for name in names], size=size)

    tabs: dict[str, list] = {"Quality SLIs": [panel(sli, [sli]) for sli in DASHBOARD_SLIS if sli in series]}
    for dimension in SLICED_BY:
        tabs[f"By {dimension.replace('_', ' ')}"] = [
            panel(f"{sli} by {dimension}", names) for sli in DASHBOARD_SLIS
            if (names := [s for s in series if s.startswith(f"{sli}@{dimension}=")])]
    tabs["Judge agreement"] = [panel("Cohen's kappa, judge vs human labels",
                                     [s for s in series if s.startswith(AGREEMENT_PREFIX)], "full")]
    tabs["Drift"] = [panel("Drift share of the day", [s for s in series if s == "drift_share"], "full")]
    tabs["Alerts"] = [panel("Incidents", [s for s in series if s in ALERT_SERIES], "full")]
    tabs = {title: [p for p in panels if p.values] for title, panels in tabs.items()}
    shown = {title: panels for title, panels in tabs.items() if panels}
    return DashboardModel(tabs=[DashboardTabModel(title=title, panels=[p.id for p in panels])
                                for title, panels in shown.items()],
                          panels=[p for panels in shown.values() for p in panels])
