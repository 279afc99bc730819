"""The summary of a latency distribution, as reports carry it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["LatencySummary"]


@dataclass(frozen=True)
class LatencySummary:
    """Latency percentiles in milliseconds.

    Attributes:
        count: number of recorded values.
        min_ms, max_ms: smallest and largest recorded value.
        p50_ms … p999_ms: the 50th, 90th, 95th, 99th and 99.9th percentiles.
        mean_ms, stddev_ms: arithmetic mean and standard deviation.
    """

    count: int
    min_ms: float
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    mean_ms: float
    stddev_ms: float

    @classmethod
    def empty(cls) -> LatencySummary:
        return cls(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)

    def metric_ms(self, name: str) -> float:
        """The figure called ``name`` (``p95``, ``p999``, ``max``, ``mean``...) in ms."""
        value = getattr(self, f"{name}_ms", None)
        if not isinstance(value, int | float):
            raise KeyError(name)
        return float(value)
