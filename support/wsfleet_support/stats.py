"""The statistics every benchmark and test uses: nearest-rank percentiles and the balance of
open connections over processes."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def nearest_rank(ordered: Sequence[float], point: float) -> float | None:
    """The nearest-rank percentile `point` (0 to 100) of sorted values; None when empty."""
    if not ordered:
        return None
    return ordered[max(math.ceil(point / 100 * len(ordered)) - 1, 0)]


def percentile_key(point: float) -> str:
    """50 -> "p50", 99.9 -> "p999"."""
    return "p" + f"{point:g}".replace(".", "")


def percentiles(
    values: Iterable[float], points: Sequence[float], digits: int | None = 6
) -> dict[str, float | None]:
    """Nearest-rank percentiles keyed p50, p90, p99, p999 ..., plus max, rounded to digits
    (None: not rounded); None when there is no value."""
    ordered = sorted(values)
    summary: dict[str, float | None] = {
        percentile_key(point): nearest_rank(ordered, point) for point in points
    }
    summary["max"] = ordered[-1] if ordered else None
    if digits is None:
        return summary
    return {key: None if value is None else round(value, digits) for key, value in summary.items()}


def balance(counts: Iterable[float]) -> float | None:
    """The busiest process's open connections over the mean of all processes; None when there
    is no process or no connection."""
    values = list(counts)
    total = sum(values)
    if not values or total <= 0:
        return None
    return max(values) / (total / len(values))
