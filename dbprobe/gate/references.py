"""The machine's references, baseline against current: did the machine change?

Every round of a run measures the machine beside the operations
(:mod:`dbprobe.load.calibration`). Here each reference's rounds in the
baseline are set against its rounds now, with the same test and interval as
an operation's (:mod:`dbprobe.gate.stats`); a reference *moved* when the
change is significant and large enough to matter next to the thresholds.
Which moved reference may set the band of changes put down to the machine
is the reference's own property (:attr:`~dbprobe.gate.rounds.Reference.judges`).
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from dbprobe.gate.rounds import MIN_ROUNDS, Reference, wait_stretch
from dbprobe.gate.stats import RatioInterval, hodges_lehmann_ratio, mann_whitney_u
from dbprobe.metrics.distribution import Distribution
from dbprobe.result.model import OperationReport, Report

__all__ = [
    "REFERENCE_ALPHA",
    "REFERENCE_MOVED",
    "ReferenceChange",
    "operation_wait_change",
    "reference_changes",
]

#: The machine reference moved when it changed significantly by at least this much.
REFERENCE_MOVED = 0.05

#: A reference's change is significant below this p (or the gate's own alpha,
#: if larger), with no correction for there being several. The two errors are
#: not alike: a reference wrongly said to have moved widens the band only by
#: its own measured change, and a larger regression still stands out; a move
#: missed leaves the whole of the machine's change to be called the code's.
#: Held to alpha / 3 (0.0033), a wait for a CPU that went from 28 % to 56 %
#: of the time (p=0.015, 7 vs 8 rounds) was missed, and an identical
#: operation 80 % slower with it was called a critical regression.
REFERENCE_ALPHA = 0.05


@dataclass(frozen=True)
class ReferenceChange:
    """One of the machine's references (ms per round), now against the baseline.

    ``ratio`` over 1: the reference was slower now. ``moved``: the change is
    significant (p < :data:`REFERENCE_ALPHA`, the interval excludes 1) and at least
    :data:`REFERENCE_MOVED`; a change of an operation up to the reference's
    own is then set aside as the machine's.
    """

    reference: Reference
    ratio: float
    interval: RatioInterval
    p_value: float
    baseline_rounds: int
    current_rounds: int
    moved: bool
    baseline_median: float = math.nan
    current_median: float = math.nan

    def describe(self) -> str:
        shares = ""
        if self.reference is Reference.CPU_WAIT:
            # The figure is the stretch 1 / (1 - share): say the shares too.
            before, after = (1 - 1 / v for v in (self.baseline_median, self.current_median))
            shares = f" (other processes' load: {before:.1%} of the time before, {after:.1%} now)"
        return (
            f"{self.reference.label}{shares} {self.ratio - 1:+.1%} "
            f"({self.interval.confidence:.0%} CI {self.interval.low - 1:+.1%}.."
            f"{self.interval.high - 1:+.1%}, p={self.p_value:.2g}, "
            f"{self.baseline_rounds} vs {self.current_rounds} rounds)"
        )


def reference_changes(
    baseline: Report, current: Report, alpha: float
) -> tuple[ReferenceChange, ...]:
    """Each machine reference's change between the runs, where both have enough of it.

    Every reference is tested at :data:`REFERENCE_ALPHA`, or ``alpha`` if larger.
    """
    changes = []
    for reference in Reference:
        base = [v for c in baseline.calibration if (v := reference.of_calibration(c)) and v > 0]
        cur = [v for c in current.calibration if (v := reference.of_calibration(c)) and v > 0]
        if (change := _change(reference, base, cur, alpha)) is not None:
            changes.append(change)
    return tuple(changes)


def operation_wait_change(
    baseline: OperationReport, current: OperationReport, alpha: float
) -> ReferenceChange | None:
    """The CPU wait of an operation's own rounds, where both runs measured it.

    A catalogue runs each operation alone in its round; another process's
    burst may land on one operation's rounds only, which the run's wait,
    averaged over every operation of a round, dilutes.
    """
    base = [v for r in baseline.rounds if (v := wait_stretch(r.cpu_wait)) is not None]
    cur = [v for r in current.rounds if (v := wait_stretch(r.cpu_wait)) is not None]
    return _change(Reference.CPU_WAIT, base, cur, alpha)


def _change(
    reference: Reference, base: list[float], cur: list[float], alpha: float
) -> ReferenceChange | None:
    if min(len(base), len(cur)) < MIN_ROUNDS:
        return None
    test = mann_whitney_u(Distribution.from_values(base), Distribution.from_values(cur))
    ratio, interval = hodges_lehmann_ratio(base, cur)
    # Hundreds of reference rounds make a 1 % drift significant; only a change
    # that matters next to the thresholds is the machine having changed.
    moved = (
        test.p_value < max(alpha, REFERENCE_ALPHA)
        and (interval.low > 1 or interval.high < 1)
        and abs(math.log(ratio)) >= math.log(1 + REFERENCE_MOVED)
    )
    return ReferenceChange(
        reference,
        ratio,
        interval,
        test.p_value,
        len(base),
        len(cur),
        moved,
        statistics.median(base),
        statistics.median(cur),
    )
