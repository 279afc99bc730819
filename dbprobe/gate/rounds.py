"""An operation's rounds as the regression gate's samples (pure).

Each round of a run gives one figure per operation (:mod:`dbprobe.load.rounds`):
its latency percentile or its throughput, absolute or relative to the machine
reference measured in the same round.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from dbprobe.gate.stats import mann_whitney_u
from dbprobe.gate.thresholds import Metric
from dbprobe.metrics.distribution import Distribution
from dbprobe.result.model import OperationReport, RoundFigures

__all__ = ["MIN_ROUNDS", "overall_value", "p_value", "relative_values", "round_values", "samples"]

#: Fewer rounds than this on either side: no verdict (5 a side is the least
#: with which the exact two-sided U test can reach p < 0.01).
MIN_ROUNDS = 5


def round_values(rounds: Sequence[RoundFigures], metric: Metric) -> list[float]:
    """Each round's figure of ``metric``: latency in ms, or throughput per second.

    Rounds that committed nothing give no latency, and no throughput to take
    a ratio of: they are left out.
    """
    q = metric.quantile
    if q is None:
        return [r.throughput_per_s for r in rounds if r.count > 0 and r.duration_s > 0]
    return [r.percentile_ms(q * 100) for r in rounds if r.count > 0]


def relative_values(rounds: Sequence[RoundFigures], metric: Metric) -> list[float]:
    """Each round's figure over the machine's reference of that round (rounds without one out).

    A slower machine raises a latency and lowers a throughput: the latency is
    divided by the reference's time, the throughput multiplied by it.
    """
    out = []
    for r in rounds:
        if r.cpu_ms is None or r.cpu_ms <= 0:
            continue
        for value in round_values((r,), metric):
            out.append(value * r.cpu_ms if metric.higher_is_better else value / r.cpu_ms)
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
    baseline: OperationReport, current: OperationReport, metric: Metric, relative: bool
) -> tuple[list[float], list[float]]:
    if relative:
        return relative_values(baseline.rounds, metric), relative_values(current.rounds, metric)
    return round_values(baseline.rounds, metric), round_values(current.rounds, metric)


def p_value(base: Sequence[float], cur: Sequence[float]) -> float | None:
    """The U test's p of one operation's round figures, None when it has no test."""
    if min(len(base), len(cur)) < MIN_ROUNDS or not all(v > 0 for v in (*base, *cur)):
        return None
    return mann_whitney_u(Distribution.from_values(base), Distribution.from_values(cur)).p_value
