"""Budgets per route as pass/fail: latency, tokens and cost of each call."""

from __future__ import annotations

from pydantic import PositiveFloat, PositiveInt, model_validator

from eval_pipelines.evaluators.base import Batch, Evaluator, Query, Settings, single


class BudgetSettings(Settings):
    def limits(self) -> dict[str, float | int | None]:
        return {name: getattr(self, name) for name in type(self).model_fields if name.startswith("max_")}

    @model_validator(mode="after")
    def _limit_when_enabled(self) -> BudgetSettings:
        if self.enabled and all(limit is None for limit in self.limits().values()):
            raise ValueError(f"set {' or '.join(self.limits())} where this budget is enabled")
        return self


class LatencyBudgetSettings(BudgetSettings):
    max_ms: PositiveFloat | None = None
    """A call slower than this fails."""


class TokenBudgetSettings(BudgetSettings):
    max_input_tokens: PositiveInt | None = None
    """A call with more input tokens fails."""
    max_output_tokens: PositiveInt | None = None
    """A call with more output tokens fails."""


class CostBudgetSettings(BudgetSettings):
    max_usd: PositiveFloat | None = None
    """A call costing more (from `prices.yaml`) fails."""


def _budget_query(batch: Batch, value: str, limit: str, unit: str) -> Query:
    return Query(f"""
        SELECT rid, v::DOUBLE AS score, CASE WHEN v > {limit} THEN 'over' ELSE 'within' END AS label,
               v <= {limit} AS passed, v || ' {unit} (budget ' || {limit} || ')' AS explanation
        FROM (SELECT rid, {value} AS v FROM {batch.view}) WHERE v IS NOT NULL""")


@single("latency_budget")
def latency_budget(batch: Batch, settings: LatencyBudgetSettings) -> Query:
    return _budget_query(batch, "round(duration_ms, 1)", str(settings.max_ms), "ms")


@single("cost_budget")
def cost_budget(batch: Batch, settings: CostBudgetSettings) -> Query:
    return _budget_query(batch, "round(cost_usd, 6)", repr(settings.max_usd), "USD")


@single("token_budget")
def token_budget(batch: Batch, settings: TokenBudgetSettings) -> Query:
    checks = [(column, limit) for column, limit in (("input_tokens", settings.max_input_tokens),
                                                    ("output_tokens", settings.max_output_tokens))
              if limit is not None]
    over = " OR ".join(f"coalesce({column} > {limit}, FALSE)" for column, limit in checks)
    described = " || ', ' || ".join(f"coalesce({column}, 0) || ' {column.split('_')[0]} (budget {limit})'"
                                    for column, limit in checks)
    return Query(f"""
        SELECT rid, (coalesce(input_tokens, 0) + coalesce(output_tokens, 0))::DOUBLE AS score,
               CASE WHEN {over} THEN 'over' ELSE 'within' END AS label, NOT ({over}) AS passed,
               {described} AS explanation
        FROM {batch.view} WHERE input_tokens IS NOT NULL OR output_tokens IS NOT NULL""")


EVALUATORS = [
    Evaluator("latency_budget", 1, "Call duration within the route's budget.", latency_budget, LatencyBudgetSettings),
    Evaluator("token_budget", 1, "Input and output tokens within the route's budgets.", token_budget,
              TokenBudgetSettings),
    Evaluator("cost_budget", 1, "Cost of the call within the route's budget.", cost_budget, CostBudgetSettings),
]
