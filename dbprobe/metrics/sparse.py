"""A small, sparse latency histogram for one timeline interval (pure).

The run's own latencies go to HdrHistograms (:mod:`dbprobe.metrics.histogram`),
but asking hdrh for a percentile walks its 23,552 buckets in Python (about
2 ms a percentile): once a second inside the measuring event loop, that would
itself delay the operations being measured. This keeps only the buckets that
were hit, in a dict, with HdrHistogram's log-linear layout at 11 bits of
sub-bucket precision (values below 2048 µs exact, above within 0.1 %), so a
percentile is a sort of a few dozen keys, and two histograms merge exactly by
adding counts. Keys are bucket lower bounds in µs, so the JSON form
(``[[value_us, count], ...]``) is self-describing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

__all__ = ["SparseHistogram"]

_EXACT_BELOW_US = 2048
_SUB_BUCKET_BITS = 11


def _upper_us(lower: int) -> int:
    """The highest value of the bucket starting at ``lower`` (what HdrHistogram reports)."""
    if lower < _EXACT_BELOW_US:
        return lower
    return lower + (1 << (lower.bit_length() - _SUB_BUCKET_BITS)) - 1


class SparseHistogram:
    """Counts of latencies (µs) per log-linear bucket; only hit buckets take memory."""

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.total = 0

    def record_ns(self, duration_ns: int) -> None:
        us = duration_ns // 1000
        if us < 1:
            us = 1
        elif us >= _EXACT_BELOW_US:
            shift = us.bit_length() - _SUB_BUCKET_BITS
            us = (us >> shift) << shift
        counts = self.counts
        counts[us] = counts.get(us, 0) + 1
        self.total += 1

    def merge(self, other: SparseHistogram) -> None:
        counts = self.counts
        for value, n in other.counts.items():
            counts[value] = counts.get(value, 0) + n
        self.total += other.total

    def percentile_ms(self, percentile: float) -> float:
        """The value at ``percentile`` (0..100) in ms, HdrHistogram's way; 0.0 when empty."""
        if self.total == 0:
            return 0.0
        wanted = max(1, int(percentile / 100 * self.total + 0.5))
        seen = 0
        for value in sorted(self.counts):
            seen += self.counts[value]
            if seen >= wanted:
                return _upper_us(value) / 1000
        return _upper_us(max(self.counts)) / 1000

    def percentiles_ms(self, percentiles: Sequence[float]) -> tuple[float, ...]:
        """Several percentiles (increasing) in one sorted walk; zeros when empty."""
        if self.total == 0:
            return tuple(0.0 for _ in percentiles)
        wanted = [max(1, int(p / 100 * self.total + 0.5)) for p in percentiles]
        found: list[float] = []
        seen = 0
        for value in sorted(self.counts):
            seen += self.counts[value]
            while len(found) < len(wanted) and seen >= wanted[len(found)]:
                found.append(_upper_us(value) / 1000)
        top = self.max_ms()
        return tuple(found) + tuple(top for _ in range(len(wanted) - len(found)))

    def max_ms(self) -> float:
        return _upper_us(max(self.counts)) / 1000 if self.counts else 0.0

    def to_pairs(self) -> list[list[int]]:
        """``[[bucket_lower_us, count], ...]`` in increasing order: the JSON form."""
        return [[value, self.counts[value]] for value in sorted(self.counts)]

    @classmethod
    def from_pairs(cls, pairs: Iterable[Sequence[int]]) -> SparseHistogram:
        hist = cls()
        for value, n in pairs:
            hist.counts[int(value)] = hist.counts.get(int(value), 0) + int(n)
            hist.total += int(n)
        return hist
