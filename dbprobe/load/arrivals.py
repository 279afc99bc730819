"""The arrival schedule of an open-loop run: when each operation is meant to start (pure).

Arrivals are generated in "operational time": a counter ``u`` that advances by
an Exp(1) draw per arrival (Poisson) or by exactly 1 (uniform), mapped to
clock time through the inverse of the cumulative rate
``Lambda(t) = integral of rate``. For a constant rate this is the usual
exponential (or fixed) gap of 1/rate; for a ramp or a spike it gives a
non-homogeneous Poisson process exactly, without thinning, and memory stays
constant whatever the length of the run.

On a segment whose rate goes linearly from ``a`` to ``a + b*t``,
``Lambda(t) = a*t + b*t**2/2``, whose inverse at ``x`` is
``2x / (a + sqrt(a**2 + 2*b*x))`` (the form that stays exact as ``b -> 0``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

from dbprobe.load.profiles import Segment

__all__ = ["ARRIVAL_KINDS", "ArrivalSchedule", "apportion"]

ARRIVAL_KINDS: tuple[str, ...] = ("poisson", "uniform")


#: Up to this many arrivals expected, draining a Poisson schedule draws them (a
#: few microseconds each, a tenth of a second at most): the count is then exact.
_EXACT_POISSON_DRAIN = 20_000


class ArrivalSchedule:
    """Intended start times, in ns after the schedule's origin, in increasing order.

    ``next_ns()`` returns the next one, or -1 when the schedule has ended (the
    last segment is over, or ``limit`` arrivals at or after ``count_from_ns``
    were given). ``phase`` (0..1) shifts a uniform schedule by that share of a
    gap, so that P processes at rate R/P each interleave instead of arriving
    together.
    """

    __slots__ = (
        "_base_s",
        "_count_from_ns",
        "_counted",
        "_index",
        "_limit",
        "_poisson",
        "_rng",
        "_segments",
        "_started",
        "_u",
        "_u_base",
        "given",
    )

    def __init__(
        self,
        segments: Sequence[Segment],
        *,
        arrivals: str,
        rng: random.Random,
        phase: float = 0.0,
        limit: int | None = None,
        count_from_ns: int = 0,
    ) -> None:
        if arrivals not in ARRIVAL_KINDS:
            raise ValueError(f"arrivals must be one of {ARRIVAL_KINDS}, got {arrivals!r}")
        self._segments = tuple(segments)
        self._poisson = arrivals == "poisson"
        self._rng = rng
        self._u = phase if not self._poisson else 0.0
        self._started = False
        self._index = 0
        self._u_base = 0.0  # Lambda at the start of the current segment
        self._base_s = 0.0  # clock time at the start of the current segment
        self._limit = limit
        self._count_from_ns = count_from_ns
        self._counted = 0
        #: Arrivals given so far (those at or after count_from_ns and before).
        self.given = 0

    def next_ns(self) -> int:
        if self._limit is not None and self._counted >= self._limit:
            return -1
        if self._poisson:
            self._u += self._rng.expovariate(1.0)
        elif self._started:
            self._u += 1.0
        self._started = True
        segments = self._segments
        while self._index < len(segments):
            segment = segments[self._index]
            within = self._u - self._u_base
            if within <= segment.expected_arrivals:
                offset_s = self._base_s + _inverse(segment, within)
                offset_ns = int(offset_s * 1e9)
                self.given += 1
                if offset_ns >= self._count_from_ns:
                    self._counted += 1
                return offset_ns
            self._u_base += segment.expected_arrivals
            self._base_s += segment.duration_s
            self._index += 1
        return -1

    def drain(self) -> int:
        """End the schedule; how many arrivals it still held.

        A uniform schedule holds exactly the whole steps of operational time left,
        counted without generating them. A Poisson one's count depends on its draws:
        up to ``_EXACT_POISSON_DRAIN`` arrivals expected, they are drawn, so that the
        count is exactly this seed's (the expected count in their place lost a ramp
        run a few arrivals from its accounting); beyond, only the expected count is
        affordable (counting one by one took for ever at ``--rate 1e300``, in a loop
        that never yielded), and its spread, the square root, is noise next to it.
        """
        segments = self._segments
        if self._index >= len(segments) or (
            self._limit is not None and self._counted >= self._limit
        ):
            return 0
        left = sum(s.expected_arrivals for s in segments) - self._u
        if math.isinf(left):  # an open-ended schedule: only its limit ends it
            if self._limit is None:
                raise ValueError("an open-ended schedule without a limit cannot be drained")
            count = self._limit - self._counted
        elif self._poisson and left <= _EXACT_POISSON_DRAIN:
            count = 0
            while self.next_ns() >= 0:
                count += 1
            self._index = len(segments)
            return count
        elif self._poisson:
            count = round(max(0.0, left))
        elif left < 0:
            count = 0
        else:
            # After the first arrival the next comes one whole step on; the first is at u.
            count = math.floor(left) + (0 if self._started else 1)
        if self._limit is not None:
            count = min(count, self._limit - self._counted)
        self._index = len(segments)
        self.given += count
        self._counted += count
        return count


def apportion(count: int, weights: Sequence[float]) -> list[int]:
    """``count`` shared out in proportion to ``weights``: whole numbers that add up to it,
    the remainder going to the largest fractions (the largest-remainder method)."""
    total = sum(weights)
    exact = [count * w / total for w in weights]
    shares = [math.floor(x) for x in exact]
    by_fraction = sorted(range(len(weights)), key=lambda i: shares[i] - exact[i])
    for i in by_fraction[: count - sum(shares)]:
        shares[i] += 1
    return shares


def _inverse(segment: Segment, x: float) -> float:
    """The time into ``segment`` at which its cumulative rate reaches ``x`` (0 <= x <= total)."""
    if x <= 0:
        return 0.0
    a = segment.start_rate
    if math.isinf(segment.duration_s):
        return x / a
    b = (segment.end_rate - segment.start_rate) / segment.duration_s if segment.duration_s else 0.0
    denominator = a + math.sqrt(max(0.0, a * a + 2 * b * x))
    if denominator <= 0:  # a zero-rate stretch holds no arrival; only reached at its very end
        return segment.duration_s
    return min(segment.duration_s, 2 * x / denominator)
