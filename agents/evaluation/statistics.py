"""Small statistics for ratings and pass rates."""

from __future__ import annotations

import math

Z_95 = 1.959963984540054


def wilson_interval(successes: int, total: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval for a proportion (95% by default).

    Unlike ``p ± z·sqrt(p(1-p)/n)`` it stays inside [0, 1] and is honest for the handful of ratings a new prompt
    version has: 2 of 2 helpful gives (0.34, 1.0), not a certain 100%.
    """
    if total <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= total:
        raise ValueError(f"successes must be between 0 and {total}, got {successes}")
    p = successes / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    margin = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return (max(0.0, centre - margin), min(1.0, centre + margin))
