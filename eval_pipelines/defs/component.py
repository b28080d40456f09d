"""``eval_pipelines.OnlineEvaluationComponent``: the whole pipeline in a team's own Dagster project.

``dg scaffold defs eval_pipelines.OnlineEvaluationComponent online_eval`` writes a ``defs.yaml`` of this type; its
attributes are what a deployment sets (every one optional: with none, it is what ``make ui`` loads).
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path
from typing import Literal

import dagster as dg
from pydantic import Field

from eval_pipelines.home import Home
from eval_pipelines.hours import START_ENV_VAR, partitions_start

MONITORING_ASSETS = "eval_pipelines.defs.monitoring.assets"


class OnlineEvaluationComponent(dg.Component, dg.Model, dg.Resolvable):
    """Online evaluation of an LLM application's production traces: ingestion, validation, scores, the LLM judge
    and its calibration, quality SLIs and alerts, drift, and the review loop, as assets of this project."""

    home: str | None = Field(default=None, description="Root folder of caches, landing files and the default lake "
                                                        "(default: EVAL_PIPELINES_HOME, else .eval_pipelines_home).")
    lake: str | None = Field(default=None, description="The lake's folder or object-store URL (default: "
                                                        "EVAL_PIPELINES_LAKE, else <home>/warehouse).")
    landing: str | None = Field(default=None, description="Where trace files land: a folder or an object-store URL "
                                                           "(default: EVAL_PIPELINES_LANDING, else <home>/landing).")
    shared: str | None = Field(default=None, description="Object-store URL of labels, canary items, offline results, "
                                                          "golden sets and reports (default: EVAL_PIPELINES_SHARED).")
    key_prefix: str | None = Field(default=None, description="Prefix of every asset key, e.g. online_eval gives "
                                                              "online_eval/traces (lake tables keep their names).")
    group_prefix: str | None = Field(default=None, description="Prefix of every group name (default: the key "
                                                                "prefix and an underscore).")
    partitions_start: str | None = Field(default=None, description="First day of the partitions, YYYY-MM-DD "
                                                                    "(default: EVAL_PIPELINES_START).")
    stages: list[str] | None = Field(default=None, description="The stages to load (default: all): ingestion, "
                                     "validation, scoring, judging, calibration, monitoring, review, offline, "
                                     "operations. Jobs keep the tables of the stages loaded.")
    judge_base_url: str | None = Field(default=None, description="OpenAI-compatible endpoint of the judge (default: "
                                                                  "EVAL_PIPELINES_JUDGE_BASE_URL).")
    judge_model: str | None = Field(default=None, description="Judge model (default: EVAL_PIPELINES_JUDGE_MODEL).")
    judge_model_version: str | None = Field(default=None, description="The pinned judge model version (default: "
                                                                       "EVAL_PIPELINES_JUDGE_MODEL_VERSION).")
    judge_structured_output: Literal["json_schema", "json_object", "none"] | None = Field(
        default=None, description="How the judge is asked for JSON: json_schema (default), json_object, or none "
                                  "where the endpoint supports neither (replies are parsed whatever their shape).")
    judge_api_key_env: str = Field(default="EVAL_PIPELINES_JUDGE_API_KEY",
                                   description="The environment variable holding the judge's API key.")
    config: dict[str, str] = Field(default_factory=dict, description="YAML settings files by resource field: "
                                   "ingestion_config, prices, validation_config, evaluators, feedback, alert_rules, "
                                   "drift, review, settings_file (judge), rubrics_folder.")

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        self._use_partitions_start()
        self._use_alert_rules()
        from eval_pipelines.definitions import build_defs  # after what the stages read when imported is settled
        from eval_pipelines.defs.naming import Naming
        from eval_pipelines.defs.resources import configured_resources

        naming = Naming(tuple(self.key_prefix.split("/")) if self.key_prefix else (),
                        self.group_prefix if self.group_prefix is not None else
                        f"{self.key_prefix.replace('/', '_')}_" if self.key_prefix else "")
        judge = {"base_url": self.judge_base_url, "model": self.judge_model, "model_version": self.judge_model_version,
                 "structured_output": self.judge_structured_output, "api_key": dg.EnvVar(self.judge_api_key_env)}
        return build_defs(self._home(context), naming, self.stages,
                          **configured_resources(self.config, {k: v for k, v in judge.items() if v is not None}))

    def _home(self, context: dg.ComponentLoadContext) -> Home:
        environment = Home.from_env()
        root = (context.path / self.home).resolve() if self.home else environment.root
        return replace(environment, root=Path(root), **{field: value for field, value in (
            ("lake_url", self.lake), ("landing_url", self.landing), ("shared_url", self.shared)) if value})

    def _use_alert_rules(self) -> None:
        """One check per alert rule is declared when the monitoring stage is first imported: the rules file the
        ``monitoring`` resource evaluates must be the one its checks were declared from."""
        from eval_pipelines.monitoring.rules import ALERT_RULES_FILE

        if not (rules := self.config.get("alert_rules")):
            return
        wanted = str(Path(rules).resolve())
        if MONITORING_ASSETS in sys.modules and os.environ.get(ALERT_RULES_FILE.env_var) != wanted:
            raise dg.DagsterInvalidDefinitionError(
                f"alert_rules {wanted} differs from the rules this process declared its checks from: set "
                f"{ALERT_RULES_FILE.env_var}={wanted} in the environment instead")
        os.environ[ALERT_RULES_FILE.env_var] = wanted

    def _use_partitions_start(self) -> None:
        """The partitions read their start when ``eval_pipelines.defs`` is first imported: settle it before."""
        if not self.partitions_start:
            return
        loaded = sys.modules.get("eval_pipelines.defs.partitions")
        wanted = partitions_start({START_ENV_VAR: self.partitions_start})
        if loaded is not None and wanted != loaded.FIRST_DAY:
            raise dg.DagsterInvalidDefinitionError(
                f"partitions_start {wanted} differs from {loaded.FIRST_DAY}, the start this process already uses: "
                f"set {START_ENV_VAR}={wanted} in the environment instead")
        os.environ[START_ENV_VAR] = wanted.isoformat()
