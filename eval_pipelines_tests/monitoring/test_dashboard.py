"""The Evidently workspace: pushed series, the rebuilt dashboard, and the real `evidently ui` serving it."""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pyarrow as pa
import pytest

from eval_pipelines.monitoring.dashboard import EvidentlyWorkspace, sli_series
from eval_pipelines.schemas import QUALITY_SLIS
from eval_pipelines_tests.servers import free_port

T0 = datetime(2026, 11, 21, 12, tzinfo=UTC)


def test_sli_series_name_totals_and_the_prompt_version_and_model_slices():
    rows = [{"hour_start": T0, "dimension": "total", "slice": "total", "sli": "refusal_rate", "value": 0.02},
            {"hour_start": T0, "dimension": "prompt_version", "prompt_version": "v7", "slice": "prompt_version=v7",
             "sli": "refusal_rate", "value": 0.4},
            {"hour_start": T0, "dimension": "route", "route": "/orders", "slice": "route=/orders",
             "sli": "refusal_rate", "value": 0.3},
            {"hour_start": T0, "dimension": "total", "slice": "total", "sli": "json_validity", "value": None}]
    assert sli_series(pa.Table.from_pylist(rows, schema=QUALITY_SLIS)) == {
        "refusal_rate": 0.02, "refusal_rate@prompt_version=v7": 0.4}


@pytest.fixture
def evidently_ui(tmp_path):
    """`evidently ui` on the workspace folder, as `make dashboard` starts it."""
    folder, port = tmp_path / "evidently", free_port()
    folder.mkdir()

    def start() -> httpx.Client:
        process = subprocess.Popen([str(Path(sys.executable).parent / "evidently"), "ui", "--workspace", str(folder),
                                    "--host", "127.0.0.1", "--port", str(port)], start_new_session=True,
                                   env={**os.environ, "DO_NOT_TRACK": "1"}, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        started.append(process)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                client.get("/api/projects").raise_for_status()
                return client
            except httpx.HTTPError:
                time.sleep(0.5)
        raise AssertionError("evidently ui did not start")

    started: list[subprocess.Popen] = []
    yield folder, start
    for process in started:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)


def test_pushed_hours_are_served_with_a_line_per_prompt_version(evidently_ui):
    folder, start = evidently_ui
    workspace = EvidentlyWorkspace(folder)
    for hour in range(3):
        workspace.push_values({"refusal_rate": 0.02 + 0.1 * hour, "refusal_rate@prompt_version=v6": 0.02,
                               **({"refusal_rate@prompt_version=v7": 0.45} if hour else {}),
                               "cohen_kappa_helpfulness": 0.8, "ignored": None}, T0 + timedelta(hours=hour), "slis")
    client = start()
    (project,) = client.get("/api/projects").json()
    dashboard = client.get(f"/api/v2/dashboards/{project['id']}").json()
    assert [tab["title"] for tab in dashboard["tabs"]] == ["Quality SLIs", "By prompt version", "Judge agreement"]
    by_version = next(p for p in dashboard["panels"] if p["title"] == "refusal_rate by prompt_version")
    assert [v["legend"] for v in by_version["values"]] == ["prompt_version=v6", "prompt_version=v7"]
    overall = next(p for p in dashboard["panels"] if p["title"] == "refusal_rate")
    series = client.post(f"/api/v2/snapshots/{project['id']}/data_series_batch", json={"series_filter": [
        {"tags": [], "metadata": {}, "metric": v["metric"], "metric_labels": v["metric_labels"]}
        for v in overall["values"]]}).json()
    (plotted,) = series["series"]
    assert plotted["values"] == pytest.approx([0.02, 0.12, 0.22])  # the SLIs exactly, as the panel plots them
    snapshots = client.get(f"/api/projects/{project['id']}/snapshots").json()
    assert sorted(s["timestamp"] for s in snapshots) == [f"2026-11-21T{h}:00:00Z" for h in (12, 13, 14)]
    stored = [json.loads(p.read_text()) for p in folder.rglob("snapshots/*.json")]
    assert all("ignored" not in json.dumps(s) for s in stored)
