"""One operation's verdict, baseline against current, and the words that explain it.

The figures and the verdict are decided in :mod:`dbprobe.gate.compare`; this
module holds what a verdict is and how it reads, so that the report writers
and the decision share one wording.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

from dbprobe.gate.rounds import MIN_ROUNDS
from dbprobe.gate.stats import RatioInterval
from dbprobe.gate.thresholds import Level, Levels, Metric

__all__ = ["CompareResult", "Verdict"]


class Verdict(enum.StrEnum):
    IMPROVED = "improved"
    UNCHANGED = "unchanged"
    REGRESSED = "regressed"
    INSUFFICIENT = "insufficient data"


@dataclass(frozen=True)
class CompareResult:
    """One operation, one metric: baseline against current, and the verdict.

    Attributes:
        operation, metric: what was compared.
        baseline_value, current_value: the metric over the whole run, in
            ``metric.unit`` (latency from the run's histogram, as its table shows).
        raw_ratio: ``current_value / baseline_value``.
        machine_band: the changes the machine's moved references explain,
            lowest to highest ((1.0, 1.0): none moved).
        shift: the machine's share set aside (1.0: none; else the edge of
            ``machine_band`` that the change lies beyond).
        within_machine: the whole change lies inside that band.
        ratio: the ratio judged: the Hodges-Lehmann ratio of the round figures,
            the machine's share set aside (the raw ratio ``within_machine``).
        worse: how many times worse that is (``ratio`` for latency, ``1 /
            ratio`` for throughput): 1.15 means 15 % worse.
        interval: 95 % interval of ``ratio`` (None without a test).
        p_value: two-sided p of the U test on the round figures.
        test: ``"mann-whitney"``, or ``"none"`` (insufficient data).
        effect: P(a current round is worse than a baseline round), 0.5 for no shift.
        verdict: improved, unchanged, regressed or insufficient data.
        level: minor / warning / critical for a regression, else None.
        levels: the thresholds applied to this operation.
        baseline_count, current_count: committed operations on each side.
        baseline_rounds, current_rounds: rounds with a figure on each side.
        rounds_needed: rounds a side would need to tell a change of the minor
            threshold at this spread (set when the verdict is insufficient data),
            and ``rounds_hint`` the options that run them at this run's round length.
        borderline: insufficient data because a significant change's interval
            reaches inside the threshold (rather than because nothing was seen).
    """

    operation: str
    metric: Metric
    baseline_value: float
    current_value: float
    raw_ratio: float
    machine_band: tuple[float, float]
    ratio: float
    worse: float
    interval: RatioInterval | None
    p_value: float
    test: str
    effect: float
    verdict: Verdict
    level: Level | None
    levels: Levels
    baseline_count: int
    current_count: int
    baseline_rounds: int = 0
    current_rounds: int = 0
    rounds_needed: int | None = None
    rounds_hint: str = ""
    borderline: bool = False
    shift: float = 1.0
    within_machine: bool = False

    @property
    def change(self) -> float:
        """Signed change judged: +0.15 for 15 % higher."""
        return self.ratio - 1

    @property
    def raw_change(self) -> float:
        """Signed change of the metric's value as measured over the whole run."""
        return self.raw_ratio - 1

    @property
    def confident(self) -> bool:
        """Whether the whole interval is beyond the minor threshold (a regression or
        improvement that is not confident is a borderline call)."""
        if self.interval is None or self.verdict not in (Verdict.REGRESSED, Verdict.IMPROVED):
            return False
        low, high = self.interval.low, self.interval.high
        if self.metric.higher_is_better:  # the interval is of the ratio; worse is its inverse
            low, high = 1 / high, 1 / low
        bound = 1 + self.levels.minor
        if self.verdict is Verdict.REGRESSED:
            return low >= bound
        return high <= 1 / bound

    @property
    def rounds_text(self) -> str:
        return f"{self.baseline_rounds} vs {self.current_rounds} rounds"

    def describe(self) -> str:
        """One line: values, the change judged, its interval, the test, the rounds, the verdict."""
        unit = self.metric.unit
        text = (
            f"{self.operation} {self.metric.value} {self.baseline_value:.3f} -> "
            f"{self.current_value:.3f} {unit} ("
        )
        text += f"{self.raw_change:+.1%}" if not math.isnan(self.raw_ratio) else "no figure"
        if not math.isnan(self.ratio):
            text += f"; per round {self.change:+.1%} {self._judged()}"
        if self.interval is not None:
            text += (
                f", {self.interval.confidence:.0%} CI {self.interval.low - 1:+.1%}"
                f"..{self.interval.high - 1:+.1%}"
            )
        if self.test != "none":
            text += f", Mann-Whitney p={self.p_value:.2g}"
        text += f", {self.rounds_text}): {self.verdict.value}"
        if self.verdict is Verdict.INSUFFICIENT:
            return text + f" ({self.insufficient_reason()})"
        return text + (f" ({self.level.value})" if self.level is not None else "")

    def _judged(self) -> str:
        low, high = self.machine_band
        edges = [f"{edge - 1:+.1%}" for edge in (low, high) if edge != 1.0]
        machine = f"the machine's own {'..'.join(edges)}"
        if self.within_machine:
            return f"judged, within {machine}"
        if self.shift != 1.0:
            return f"judged beyond {machine}"
        return "judged"

    def insufficient_reason(self) -> str:
        """Why there is no verdict, and how many rounds would be enough."""
        have = min(self.baseline_rounds, self.current_rounds)
        needed = self.rounds_needed or MIN_ROUNDS
        if self.within_machine:
            text = (
                "within what the machine's own change explains, but the interval reaches "
                f"beyond it; {have} rounds, need {needed} to tell"
            )
        elif self.borderline:
            side = "slower" if self.worse > 1 else "faster"
            text = (
                f"{side}, but the interval reaches inside the {self.levels.minor:.0%} threshold; "
                f"{have} rounds, need {needed} to tell"
            )
        elif have >= MIN_ROUNDS:
            text = (
                f"{have} rounds, need {needed} for a {self.levels.minor:.0%} change at this spread"
            )
        else:
            text = f"{have} rounds, need at least {needed}"
        return text + (f": {self.rounds_hint}" if self.rounds_hint else "")
