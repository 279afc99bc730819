"""History of one operation over recorded runs, and where it changed step-wise.

The change-point rule (:func:`detect_steps`), documented because a reader must
be able to check a flagged step by hand:

    With a window of ``k`` runs (default 5), a step is flagged between run
    ``i - 1`` and run ``i`` when the ``k`` runs from ``i`` on differ from the
    ``k`` runs before ``i`` by the same test the regression gate uses — the
    Mann-Whitney U test, two-sided p < ``alpha`` — *and* the median of the
    later window is at least ``threshold`` worse (or better) than the median
    of the earlier one. Flagged boundaries less than ``k`` runs apart (one
    real step seen through overlapping windows) count once: the one with the
    smallest p-value, then the largest change, is kept.

Each *run* is one observation here: runs differ from each other by more than
sampling noise (another machine state, another neighbour on the CI host), so
pooling their histograms would count thousands of transactions as
independent evidence and flag every hiccup. With k = 5 and no ties the exact
U test reaches p < 0.01 only when the two windows do not overlap at all
(p = 2/252 ≈ 0.008): a step is flagged only when every run after it is worse
than every run before it, by at least the threshold at the medians.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from dbprobe.errors import ConfigError
from dbprobe.gate.compare import DEFAULT_ALPHA
from dbprobe.gate.stats import mann_whitney_u, median
from dbprobe.gate.store import HistoryStore, OperationPoint
from dbprobe.gate.thresholds import Metric
from dbprobe.metrics.distribution import Distribution
from dbprobe.result.model import Report

__all__ = ["StepChange", "Trend", "TrendPoint", "detect_steps", "history", "trends_for"]

DEFAULT_WINDOW = 5
DEFAULT_STEP_THRESHOLD = 0.10


@dataclass(frozen=True)
class StepChange:
    """A step between ``index - 1`` and ``index`` of a series.

    Attributes:
        index: position of the first value after the step.
        before_median, after_median: medians of the two windows.
        worse: ``after / before`` for a lower-is-better series, its inverse
            otherwise: above 1 is a regression.
        p_value: two-sided Mann-Whitney p of the two windows.
    """

    index: int
    before_median: float
    after_median: float
    worse: float
    p_value: float

    @property
    def is_regression(self) -> bool:
        return self.worse > 1


def detect_steps(
    values: Sequence[float],
    *,
    window: int = DEFAULT_WINDOW,
    threshold: float = DEFAULT_STEP_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
    higher_is_better: bool = False,
) -> tuple[StepChange, ...]:
    """Step changes in ``values`` (oldest first) by the rule in the module docstring."""
    if window < 2:
        raise ConfigError(f"the trend window must be at least 2 runs, got {window}")
    flagged: list[StepChange] = []
    for i in range(window, len(values) - window + 1):
        before, after = values[i - window : i], values[i : i + window]
        m_before, m_after = median(before), median(after)
        if m_before <= 0 or m_after <= 0:
            continue
        worse = m_before / m_after if higher_is_better else m_after / m_before
        if max(worse, 1 / worse) < 1 + threshold - 1e-9:
            continue
        test = mann_whitney_u(Distribution.from_values(before), Distribution.from_values(after))
        if test.p_value < alpha:
            flagged.append(StepChange(i, m_before, m_after, worse, test.p_value))
    # Flagged boundaries closer than a window, in the same direction, see one
    # step through overlapping windows: keep the clearest.
    steps: list[StepChange] = []
    cluster: list[StepChange] = []
    for step in flagged:
        if cluster and (
            step.index - cluster[-1].index >= window
            or step.is_regression != cluster[-1].is_regression
        ):
            steps.append(_clearest(cluster))
            cluster = []
        cluster.append(step)
    if cluster:
        steps.append(_clearest(cluster))
    return tuple(steps)


def _clearest(cluster: list[StepChange]) -> StepChange:
    return min(cluster, key=lambda s: (s.p_value, -abs(math.log(s.worse))))


@dataclass(frozen=True)
class TrendPoint:
    """One recorded run's figure of the operation."""

    run_id: int
    started_at: str
    label: str
    value: float
    count: int


@dataclass(frozen=True)
class Trend:
    """An operation's metric over recorded runs (oldest first) and its step changes."""

    probe: str
    operation: str
    metric: Metric
    backend: str
    scale: str
    points: tuple[TrendPoint, ...]
    steps: tuple[StepChange, ...]
    window: int
    threshold: float
    alpha: float

    def step_runs(self) -> tuple[TrendPoint, ...]:
        """The first run after each step."""
        return tuple(self.points[s.index] for s in self.steps)


def history(
    store: HistoryStore,
    probe: str,
    operation: str,
    metric: Metric = Metric.P50,
    *,
    backend: str | None = None,
    scale: str | None = None,
    window: int = DEFAULT_WINDOW,
    threshold: float = DEFAULT_STEP_THRESHOLD,
    alpha: float = DEFAULT_ALPHA,
) -> Trend:
    """The recorded runs' figure of ``operation`` with step changes flagged.

    Runs of other backends or scales measure other things and are left out:
    without ``backend``/``scale`` those of the most recent run of ``probe``
    are used. No recorded run gives a Trend without points.
    """
    if backend is None or scale is None:
        runs = store.runs(probe=probe, backend=backend, scale=scale)
        if not runs:
            return Trend(
                probe,
                operation,
                metric,
                backend or "",
                scale or "",
                (),
                (),
                window,
                threshold,
                alpha,
            )
        backend, scale = backend or runs[-1].backend, scale or runs[-1].scale
    points = tuple(
        TrendPoint(p.run_id, p.started_at, p.label, _value(p, metric), p.count)
        for p in store.operation_points(probe, operation, backend=backend, scale=scale)
        if p.count > 0
    )
    steps = detect_steps(
        [p.value for p in points],
        window=window,
        threshold=threshold,
        alpha=alpha,
        higher_is_better=metric.higher_is_better,
    )
    return Trend(probe, operation, metric, backend, scale, points, steps, window, threshold, alpha)


def _value(point: OperationPoint, metric: Metric) -> float:
    return {
        Metric.P50: point.p50_ms,
        Metric.P95: point.p95_ms,
        Metric.P99: point.p99_ms,
        Metric.THROUGHPUT: point.throughput_per_s,
    }[metric]


def trends_for(
    store: HistoryStore, report: Report, metric: Metric = Metric.P50
) -> tuple[Trend, ...]:
    """The recorded history of each of ``report``'s operations (same backend and scale)."""
    return tuple(
        t
        for op in report.operations
        if (
            t := history(
                store,
                report.run.probe,
                op.name,
                metric,
                backend=report.target.backend,
                scale=report.target.scale,
            )
        ).points
    )
