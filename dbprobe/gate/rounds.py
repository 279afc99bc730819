"""An operation's rounds as the regression gate's samples (pure).

Each round of a run gives one figure per operation (:mod:`dbprobe.load.rounds`):
its latency percentile or its throughput.

When the machine itself changed between the runs (its CPU reference, a fixed
loop, took ``m`` times as long, or its threads waited for a CPU so much more
that an operation can take ``m`` times as long), an operation's figures could change by
anything from nothing (one that waits on the database or sleeps) to ``m``
(one that only computes) for that reason alone. Dividing every figure by
``m`` assumes the second: measured, a pytest session of 2-4 ms sleeps judged
that way, the loop having run faster than in the baseline's session, was
"70 % slower" in every benchmark, its raw figures unchanged. So
the change the machine can explain is a **band**, from 1 to ``m``, and only
what lies beyond it is the code's (:func:`judged_samples`).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

from dbprobe.gate.stats import hodges_lehmann_ratio, mann_whitney_u
from dbprobe.gate.thresholds import Metric
from dbprobe.metrics.distribution import Distribution
from dbprobe.result.model import CalibrationRound, OperationReport, RoundFigures

__all__ = [
    "MIN_ROUNDS",
    "JudgedSamples",
    "Reference",
    "judged_samples",
    "overall_value",
    "p_value",
    "round_values",
    "wait_stretch",
]

#: Fewer rounds than this on either side: no verdict (5 a side is the least
#: with which the exact two-sided U test can reach p < 0.01).
MIN_ROUNDS = 5

# A stretch of at most 10x: beyond, the share says little but "very busy".
_MAX_WAIT_SHARE = 0.9


class Reference(enum.Enum):
    """A machine reference measured in every round (:mod:`dbprobe.load.calibration`)."""

    CPU = "cpu"
    ROUND_TRIP = "round_trip"
    CPU_WAIT = "cpu_wait"

    @property
    def judges(self) -> bool:
        """Whether, when it moved, it sets the band of changes put down to the machine.

        The CPU loop: it does the same work whatever the operations do. The
        CPU wait: it grows when other processes keep the CPUs busy, and a
        thread blocked on the GIL or on I/O is not waiting for a CPU, so the
        run's own work barely moves it. Not ``SELECT 1``: it is measured
        beside the operations, on their event loop, so it slows with their
        own load (measured: a run whose operations each did 1.5 ms more
        Python work had ``SELECT 1`` 116-191 % slower); setting the band by
        it would hide exactly such a regression.
        """
        return self is not Reference.ROUND_TRIP

    @property
    def label(self) -> str:
        return {
            Reference.CPU: "machine reference (a fixed CPU loop)",
            Reference.ROUND_TRIP: "driver round trip (SELECT 1)",
            Reference.CPU_WAIT: "time waiting for a CPU",
        }[self]

    def of_calibration(self, c: CalibrationRound) -> float | None:
        """The round's figure, as how many times as long it can make an operation.

        The CPU wait as the stretch ``1 / (1 - share)``: an operation whose
        threads waited for a CPU that share of its time took that many times
        as long (an upper bound: a thread may wait while another carries the
        operation on). Measured, a ``SELECT 1`` loop with 39 % of its time
        waiting was 30 % slower, where the bound says 64 %.
        """
        if self is Reference.CPU:
            return c.cpu_ms
        if self is Reference.ROUND_TRIP:
            return c.select_1_ms
        return wait_stretch(c.cpu_wait)


def wait_stretch(share: float | None) -> float | None:
    """How many times as long a share of time waiting for a CPU can make an operation."""
    if share is None:
        return None
    # Several threads can wait at once, so the share can reach 1 and beyond.
    return 1 / (1 - min(share, _MAX_WAIT_SHARE))


def round_values(rounds: Sequence[RoundFigures], metric: Metric) -> list[float]:
    """Each round's figure of ``metric``: latency in ms, or throughput per second.

    Rounds that committed nothing give no latency, and no throughput to take
    a ratio of: they are left out.
    """
    q = metric.quantile
    if q is None:
        return [r.throughput_per_s for r in rounds if r.count > 0 and r.duration_s > 0]
    return [r.percentile_ms(q * 100) for r in rounds if r.count > 0]


def overall_value(op: OperationReport, metric: Metric) -> float:
    """The metric over the whole run (the value the report's table shows)."""
    q = metric.quantile
    if q is None:
        return op.throughput_per_s
    summary = op.latency_ms
    shown = {0.5: summary.p50_ms, 0.95: summary.p95_ms, 0.99: summary.p99_ms}.get(q)
    if shown is not None and summary.count:
        # The table's own figure, read from the report: decoding the histogram
        # again took 70 % of comparing two 25-operation runs.
        return shown
    if not op.histogram:
        return math.nan
    dist = Distribution.from_encoded_histogram(op.histogram)
    return dist.quantile(q) / 1000 if dist.count else math.nan


@dataclass(frozen=True)
class JudgedSamples:
    """Both sides' round figures as the verdict judges them.

    ``shift``: the machine's share taken out of the change (the baseline's
    figures scaled by it: 1.0 when the machine did not change, else the edge
    of the band the change lies beyond). ``within_machine``: the change lies
    inside the band, all of it explainable by the machine.
    """

    baseline: list[float]
    current: list[float]
    shift: float = 1.0
    within_machine: bool = False

    @property
    def enough(self) -> bool:
        """Enough rounds, all positive, for a test."""
        both = (*self.baseline, *self.current)
        return min(len(self.baseline), len(self.current)) >= MIN_ROUNDS and all(v > 0 for v in both)


def judged_samples(
    baseline: OperationReport,
    current: OperationReport,
    metric: Metric,
    band: tuple[float, float] = (1.0, 1.0),
) -> JudgedSamples:
    """The round figures of both sides, with the machine's share of the change set aside.

    ``band`` is the range of changes the machine can explain, as factors of
    how many times as long an operation can take now: from 1 (the machine
    did not change, or the operation only waits) to each moved reference's
    own change, on either side of 1 when references moved in opposite
    directions (measured: beside a CPU-bound process the CPU loop ran 32 %
    faster while the time waiting for a CPU stretched operations 18 %).
    A change, in the "worse" sense of ``metric``, inside the band is within
    the machine; beyond it, the baseline is scaled to the band's near edge,
    so that the test and interval measure only what lies beyond.
    """
    base = round_values(baseline.rounds, metric)
    cur = round_values(current.rounds, metric)
    plain = JudgedSamples(base, cur)
    low, high = min(1.0, *band), max(1.0, *band)
    if low == high or not plain.enough:
        return plain
    ratio, _ = hodges_lehmann_ratio(base, cur)
    worse = 1 / ratio if metric.higher_is_better else ratio
    if low <= worse <= high:
        return JudgedSamples(base, cur, 1.0, within_machine=True)
    shift = high if worse > high else low
    # A slower machine raises a latency and lowers a throughput.
    scaled = [b / shift for b in base] if metric.higher_is_better else [b * shift for b in base]
    return JudgedSamples(scaled, cur, shift)


def p_value(judged: JudgedSamples) -> float | None:
    """The U test's p for one operation, None when it has no test; 1.0 within the machine."""
    if not judged.enough:
        return None
    if judged.within_machine:
        return 1.0  # no evidence of a change of the code's own
    base, cur = (Distribution.from_values(v) for v in (judged.baseline, judged.current))
    return mann_whitney_u(base, cur).p_value
