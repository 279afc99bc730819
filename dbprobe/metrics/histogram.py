"""HdrHistogram-backed latency recording at microsecond resolution.

Memory stays flat however long a run lasts, and histograms recorded by several
workers (or processes, or hosts) merge exactly, which a list of samples or a
running mean cannot do.
"""

from __future__ import annotations

import math
from itertools import compress

from hdrh.histogram import HdrHistogram

from dbprobe.metrics.summary import LatencySummary

__all__ = ["LatencyHistogram", "nonzero_buckets"]

# 1 µs to 1 hour at 3 significant digits: about 0.1 % error on any value,
# within the ~40 kB a histogram of this range takes.
_LOWEST_US = 1
_HIGHEST_US = 3_600_000_000
_SIGNIFICANT_DIGITS = 3


def nonzero_buckets(hist: HdrHistogram) -> list[tuple[int, int]]:
    """(index, count) of an HdrHistogram's non-empty buckets, ascending.

    ``compress`` picks them in C: a histogram of dbprobe's range has some
    23,000 buckets, of which a run fills a few hundred.
    """
    counts = hist.counts[: hist.counts_len]
    return [(i, counts[i]) for i in compress(range(len(counts)), counts)]


class LatencyHistogram:
    """Records durations given in nanoseconds; reports them in milliseconds."""

    __slots__ = ("_bucket_shift", "_half_count", "_half_magnitude", "_hist", "_length", "_mask")

    def __init__(self, hist: HdrHistogram | None = None) -> None:
        h = hist or HdrHistogram(_LOWEST_US, _HIGHEST_US, _SIGNIFICANT_DIGITS)
        self._hist = h
        # hdrh's own index arithmetic (HdrHistogram._counts_index_for), with
        # its constants read once: record_value spends most of its time in
        # four method calls and a bin() string per value, and recording is on
        # every operation's path (see docs/PERFORMANCE.md, overhead).
        self._mask = h.sub_bucket_mask
        self._bucket_shift = h.unit_magnitude + h.sub_bucket_half_count_magnitude + 1
        self._half_magnitude = h.sub_bucket_half_count_magnitude
        self._half_count = h.sub_bucket_half_count
        self._length = h.counts_len
        if h.unit_magnitude != 0:  # pragma: no cover - our range starts at 1 µs
            raise ValueError("LatencyHistogram needs a lowest trackable value of 1")

    def record_ns(self, duration_ns: int) -> None:
        # Sub-microsecond durations are recorded as 1 µs: zero is outside the
        # histogram's range, and nothing that touches a database is that fast.
        us = duration_ns // 1000
        if us < _LOWEST_US:
            us = _LOWEST_US
        bucket = (us | self._mask).bit_length() - self._bucket_shift
        index = ((bucket + 1) << self._half_magnitude) + (us >> bucket) - self._half_count
        h = self._hist
        if index >= self._length:
            h.record_value(us)  # beyond an hour: hdrh's own rule (it is not recorded)
            return
        h.counts[index] += 1
        h.total_count += 1
        if us < h.min_value:
            h.min_value = us
        if us > h.max_value:
            h.max_value = us

    @property
    def count(self) -> int:
        return int(self._hist.get_total_count())

    def merge(self, other: LatencyHistogram) -> None:
        """Add every value recorded by ``other`` to this histogram (exact)."""
        self._hist.add(other._hist)

    def value_at_percentile_ms(self, percentile: float) -> float:
        return self.percentiles_ms(percentile)[0]

    def percentiles_ms(self, *percentiles: float) -> list[float]:
        """hdrh's value at each percentile (ascending), in ms, in one walk; 0 when empty."""
        if self._hist.get_total_count() == 0:
            return [0.0] * len(percentiles)
        return [us / 1000 for us in self._percentiles_us(self._buckets(), percentiles)]

    def summary(self) -> LatencySummary:
        """Percentiles, mean and stddev in ms; all zero when nothing was recorded."""
        h = self._hist
        if h.get_total_count() == 0:
            return LatencySummary.empty()
        buckets = self._buckets()
        at = self._percentiles_us(buckets, (50.0, 90.0, 95.0, 99.0, 99.9))
        mean_us, stddev_us = self._moments_us(buckets)
        return LatencySummary(
            count=self.count,
            min_ms=float(h.get_min_value()) / 1000,
            p50_ms=at[0] / 1000,
            p90_ms=at[1] / 1000,
            p95_ms=at[2] / 1000,
            p99_ms=at[3] / 1000,
            p999_ms=at[4] / 1000,
            max_ms=float(h.get_max_value()) / 1000,
            mean_ms=mean_us / 1000,
            stddev_ms=stddev_us / 1000,
        )

    def _buckets(self) -> list[tuple[int, int]]:
        """(index, count) of the non-empty buckets, ascending.

        hdrh's own percentile, mean and stddev walk every bucket up to the
        value through a method call each (some 23,000 of them for this
        range): about 10 ms a histogram, which made building and comparing a
        report slower than the run it reports on. Only the non-empty buckets
        matter to any of them.
        """
        return nonzero_buckets(self._hist)

    def _percentiles_us(
        self, buckets: list[tuple[int, int]], percentiles: tuple[float, ...]
    ) -> list[float]:
        """hdrh's ``get_value_at_percentile`` for each (same target count, same
        bucket edge), in one walk over the non-empty buckets."""
        h = self._hist
        out: list[float] = []
        total = 0
        k = 0
        for percentile in percentiles:  # ascending
            target = h.get_target_count_at_percentile(percentile)
            while total + buckets[k][1] < target and k + 1 < len(buckets):
                total += buckets[k][1]
                k += 1
            value = h.get_value_from_index(buckets[k][0])
            out.append(float(h.get_highest_equivalent_value(value)))
        return out

    def _moments_us(self, buckets: list[tuple[int, int]]) -> tuple[float, float]:
        """Mean and standard deviation, each bucket at its median equivalent
        value (hdrh's definition), in one pass over the non-empty buckets.

        A bucket's values are found from its index as hdrh's
        ``get_value_from_index`` does (the lowest, with a unit of 1 µs) and
        span ``1 << bucket`` values. Three of hdrh's method calls per bucket
        took 3.5 ms for a histogram of 3,000 buckets (0.8 ms so), and a
        report summarises up to four histograms of every operation.
        """
        half_magnitude, half_count = self._half_magnitude, self._half_count
        # Sums of integers, exact: the variance needs no second walk over the buckets.
        total = weighted = squares = 0
        for index, n in buckets:
            bucket = (index >> half_magnitude) - 1
            sub = (index & (half_count - 1)) + half_count
            if bucket < 0:
                sub -= half_count
                bucket = 0
            value = (sub << bucket) + ((1 << bucket) >> 1)
            total += n
            weighted += value * n
            squares += value * value * n
        variance = (squares * total - weighted * weighted) / (total * total)
        return weighted / total, math.sqrt(variance)

    def encode(self) -> str:
        """The standard compressed, base64 HdrHistogram encoding (readable by any HDR port)."""
        return bytes(self._hist.encode()).decode("ascii")

    @classmethod
    def decode(cls, encoded: str) -> LatencyHistogram:
        return cls(HdrHistogram.decode(encoded))
