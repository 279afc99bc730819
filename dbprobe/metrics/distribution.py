"""A recorded latency distribution as sorted (value, count) buckets (pure).

The statistics (:mod:`dbprobe.gate.stats`) work on this form rather than on the
HdrHistogram object: it is what a histogram *is* once recorded — each
non-empty bucket at its value with its count — and it can be built as well
from plain numbers (a test's seeded sample, one figure per run of a trend).
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import accumulate

from hdrh.histogram import HdrHistogram

from dbprobe.metrics.histogram import nonzero_buckets

__all__ = ["Distribution", "rank_of_quantile"]


def rank_of_quantile(q: float, n: int) -> int:
    """The 1-based rank of the ``q``-quantile among ``n`` sorted values.

    The HdrHistogram definition (``get_value_at_percentile``): the smallest
    value with at least ``ceil(q * n)`` values at or below it, so a
    distribution's p50 here agrees with the report's ``latency_ms.p50``.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be within [0, 1], got {q}")
    return min(n, max(1, math.ceil(q * n - 1e-9)))


@dataclass(frozen=True)
class Distribution:
    """Values with their counts, ascending and distinct.

    Attributes:
        values: the distinct values, ascending (a histogram's buckets, each at
            the middle of its range, in the histogram's unit: µs for dbprobe).
        counts: how many recorded values each bucket holds (all positive).
    """

    values: tuple[float, ...]
    counts: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.values) != len(self.counts):
            raise ValueError("values and counts differ in length")
        if any(c <= 0 for c in self.counts):
            raise ValueError("every count must be positive")
        if any(b <= a for a, b in zip(self.values, self.values[1:], strict=False)):
            raise ValueError("values must be distinct and ascending")

    @classmethod
    def from_values(cls, values: Iterable[float]) -> Distribution:
        """Each distinct value counted as often as it occurs."""
        tally = Counter(float(v) for v in values)
        ordered = sorted(tally)
        return cls(tuple(ordered), tuple(tally[v] for v in ordered))

    @classmethod
    def from_hdr(cls, hist: HdrHistogram) -> Distribution:
        """The non-empty buckets of an HdrHistogram, each at its median equivalent value.

        The median equivalent value is the middle of the bucket's range, the
        value HdrHistogram itself uses for the mean; a bucket spans 0.1 % of
        its value at 3 significant digits.
        """
        values: list[float] = []
        counts: list[int] = []
        for index, n in nonzero_buckets(hist):
            value = hist.get_value_from_index(index)
            low = hist.get_lowest_equivalent_value(value)
            high = hist.get_highest_equivalent_value(value)
            values.append(float(low + (high - low + 1) // 2))
            counts.append(int(n))
        return cls(tuple(values), tuple(counts))

    @classmethod
    def from_encoded_histogram(cls, encoded: str) -> Distribution:
        """Decode the report's ``histogram`` (compressed base64 HdrHistogram)."""
        return cls.from_hdr(HdrHistogram.decode(encoded))

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> tuple[int, ...]:
        """Running totals of ``counts``: how many values are at or below each bucket."""
        return tuple(accumulate(self.counts))

    def value_at_rank(self, rank: int, cumulative: tuple[int, ...] | None = None) -> float:
        """The ``rank``-th smallest value (1-based)."""
        cum = cumulative if cumulative is not None else self.cumulative()
        if not 1 <= rank <= cum[-1]:
            raise ValueError(f"rank {rank} is outside 1..{cum[-1]}")
        return self.values[bisect.bisect_left(cum, rank)]

    def quantile(self, q: float) -> float:
        """The ``q``-quantile (0..1), as HdrHistogram defines it; NaN when empty."""
        if not self.values:
            return math.nan
        return self.value_at_rank(rank_of_quantile(q, self.count))

    def mean(self) -> float:
        n = self.count
        return sum(v * c for v, c in zip(self.values, self.counts, strict=True)) / n if n else 0.0

    def stddev(self) -> float:
        """Population standard deviation (as HdrHistogram computes it)."""
        n = self.count
        if n == 0:
            return 0.0
        mean = self.mean()
        return math.sqrt(
            sum((v - mean) ** 2 * c for v, c in zip(self.values, self.counts, strict=True)) / n
        )

    def count_outside(self, low: float, high: float) -> int:
        """How many values lie strictly below ``low`` or strictly above ``high``."""
        return sum(c for v, c in zip(self.values, self.counts, strict=True) if v < low or v > high)
