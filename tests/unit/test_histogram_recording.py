"""LatencyHistogram's own recording path files every value where hdrh's record_value does."""

from __future__ import annotations

import random

from hdrh.histogram import HdrHistogram

from dbprobe.metrics import LatencyHistogram
from dbprobe.metrics.histogram import _HIGHEST_US, _LOWEST_US, _SIGNIFICANT_DIGITS


def _values_us() -> list[int]:
    rng = random.Random(11)
    edges = [1, 2, 2047, 2048, 2049, 4095, 4096, 4097, 10**6, _HIGHEST_US - 1, _HIGHEST_US]
    powers = [2**k + d for k in range(1, 41) for d in (-1, 0, 1)]
    spread = [int(rng.lognormvariate(8, 3)) + 1 for _ in range(20_000)]
    return edges + powers + spread


def test_every_value_lands_in_the_bucket_hdrh_puts_it_in() -> None:
    ours = LatencyHistogram()
    reference = HdrHistogram(_LOWEST_US, _HIGHEST_US, _SIGNIFICANT_DIGITS)
    for us in _values_us():
        ours.record_ns(us * 1000 + 999)  # the sub-µs part is truncated, as before
        reference.record_value(us)
    raw = ours._hist
    assert list(raw.counts) == list(reference.counts)
    assert (raw.total_count, raw.min_value, raw.max_value) == (
        reference.total_count,
        reference.min_value,
        reference.max_value,
    )
    assert ours.encode() == bytes(reference.encode()).decode("ascii")


def test_a_value_beyond_the_range_is_left_out_as_hdrh_does() -> None:
    ours = LatencyHistogram()
    ours.record_ns(5 * _HIGHEST_US * 1000)
    ours.record_ns(3_000_000)
    assert ours.count == 1
    assert ours.summary().min_ms == 3.0  # max_ms is its bucket's top (3.001)
