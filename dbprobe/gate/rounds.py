"""An operation's rounds as the regression gate's samples (pure).

Each round of a run gives one figure per operation (:mod:`dbprobe.load.rounds`):
its latency percentile or its throughput, absolute or relative to one of the
machine's references measured in the same round (:class:`Reference`).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence

from dbprobe.gate.stats import mann_whitney_u
from dbprobe.gate.thresholds import Metric
from dbprobe.metrics.distribution import Distribution
from dbprobe.result.model import CalibrationRound, OperationReport, RoundFigures

__all__ = [
    "MIN_ROUNDS",
    "Reference",
    "overall_value",
    "p_value",
    "relative_values",
    "round_values",
    "samples",
]

#: Fewer rounds than this on either side: no verdict (5 a side is the least
#: with which the exact two-sided U test can reach p < 0.01).
MIN_ROUNDS = 5


class Reference(enum.Enum):
    """A machine reference measured in every round (:mod:`dbprobe.load.calibration`)."""

    CPU = "cpu"
    ROUND_TRIP = "round_trip"

    @property
    def judges(self) -> bool:
        """Whether verdicts may be judged relative to it.

        Only the CPU loop: it does the same work whatever the operations do.
        ``SELECT 1`` is measured beside the operations, on their event loop,
        so it slows with their own load (measured: a run whose operations
        each did 1.5 ms more Python work had ``SELECT 1`` 116-191 % slower);
        dividing by it would hide exactly such a regression.
        """
        return self is Reference.CPU

    @property
    def label(self) -> str:
        return {
            Reference.CPU: "machine reference (a fixed CPU loop)",
            Reference.ROUND_TRIP: "driver round trip (SELECT 1)",
        }[self]

    def of_round(self, r: RoundFigures) -> float | None:
        return r.cpu_ms if self is Reference.CPU else r.round_trip_ms

    def of_calibration(self, c: CalibrationRound) -> float | None:
        return c.cpu_ms if self is Reference.CPU else c.select_1_ms


def round_values(rounds: Sequence[RoundFigures], metric: Metric) -> list[float]:
    """Each round's figure of ``metric``: latency in ms, or throughput per second.

    Rounds that committed nothing give no latency, and no throughput to take
    a ratio of: they are left out.
    """
    q = metric.quantile
    if q is None:
        return [r.throughput_per_s for r in rounds if r.count > 0 and r.duration_s > 0]
    return [r.percentile_ms(q * 100) for r in rounds if r.count > 0]


def relative_values(
    rounds: Sequence[RoundFigures], metric: Metric, reference: Reference
) -> list[float]:
    """Each round's figure over ``reference`` measured in that round (rounds without one out).

    A slower machine raises a latency and lowers a throughput: the latency is
    divided by the reference's time, the throughput multiplied by it.
    """
    out = []
    for r in rounds:
        ref = reference.of_round(r)
        if ref is None or ref <= 0:
            continue
        for value in round_values((r,), metric):
            out.append(value * ref if metric.higher_is_better else value / ref)
    return out


def overall_value(op: OperationReport, metric: Metric) -> float:
    """The metric over the whole run (the value the report's table shows)."""
    q = metric.quantile
    if q is None:
        return op.throughput_per_s
    if not op.histogram:
        return math.nan
    dist = Distribution.from_encoded_histogram(op.histogram)
    return dist.quantile(q) / 1000 if dist.count else math.nan


def samples(
    baseline: OperationReport,
    current: OperationReport,
    metric: Metric,
    relative_to: Reference | None = None,
) -> tuple[list[float], list[float]]:
    """Both sides' round figures: absolute, or relative to ``relative_to``."""
    if relative_to is not None:
        return (
            relative_values(baseline.rounds, metric, relative_to),
            relative_values(current.rounds, metric, relative_to),
        )
    return round_values(baseline.rounds, metric), round_values(current.rounds, metric)


def p_value(base: Sequence[float], cur: Sequence[float]) -> float | None:
    """The U test's p of one operation's round figures, None when it has no test."""
    if min(len(base), len(cur)) < MIN_ROUNDS or not all(v > 0 for v in (*base, *cur)):
        return None
    return mann_whitney_u(Distribution.from_values(base), Distribution.from_values(cur)).p_value
