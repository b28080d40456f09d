"""Wilson score intervals: honest intervals for rates, also near 0 and 1 and on small samples."""

from __future__ import annotations

import math

Z_95 = 1.959963984540054


def wilson(successes: float, n: float, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of ``successes / n`` (n may be an effective, non-integer size)."""
    if n <= 0:
        return 0.0, 1.0
    p = min(1.0, max(0.0, successes / n))
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)
