"""The LLM judge: sampling, rubrics, prompts, the fault-tolerant client, reply parsing (no Dagster)."""

from eval_pipelines.judge.client import Endpoint
from eval_pipelines.judge.rubrics import Rubric, load_rubrics
from eval_pipelines.judge.settings import JudgeSettings, load_judge_settings

__all__ = ["Endpoint", "JudgeSettings", "Rubric", "load_judge_settings", "load_rubrics"]
