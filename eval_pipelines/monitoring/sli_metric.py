"""``SliValue``: an Evidently metric that carries a value computed upstream, without rendering it.

The workspace snapshots are plotted, never opened, and Evidently's own ``MeanValue`` renders a Plotly
histogram per value (3 s for an hour's 75 series, discarded right after). Imported only when pushing,
so nothing else pays for importing Evidently.
"""

from typing import Any

from evidently.metrics.column_statistics import StatisticsCalculation, StatisticsMetric


class SliValue(StatisticsMetric):
    """One SLI series at one point in time (the mean of a one-row column: the value itself)."""


class SliValueCalculation(StatisticsCalculation[SliValue]):
    def calculate(self, context: Any, current_data: Any, reference_data: Any) -> tuple[Any, None]:
        return self.result(self.calculate_value(current_data.column(self.column))), None

    def calculate_value(self, column: Any) -> float:
        return column.data.mean()

    def display_name(self) -> str:
        return f"SLI '{self.column}'"
