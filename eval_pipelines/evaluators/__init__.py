"""Programmatic evaluators: cheap, deterministic checks run on every production request."""

from eval_pipelines.evaluators.config import EvaluatorConfig, load_evaluator_config
from eval_pipelines.evaluators.engine import ScoringStats, config_fingerprint, score_requests
from eval_pipelines.evaluators.registry import EVALUATORS

__all__ = ["EVALUATORS", "EvaluatorConfig", "ScoringStats", "config_fingerprint", "load_evaluator_config",
           "score_requests"]
