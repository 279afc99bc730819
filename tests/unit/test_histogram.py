from __future__ import annotations

import random

import pytest

from dbprobe.metrics import LatencyHistogram, LatencySummary


def _filled(values_us: list[int]) -> LatencyHistogram:
    h = LatencyHistogram()
    for us in values_us:
        h.record_ns(us * 1000)
    return h


def test_percentiles_of_one_to_thousand_microseconds_are_within_histogram_precision() -> None:
    summary = _filled(list(range(1, 1001))).summary()
    assert summary.count == 1000
    assert summary.min_ms == pytest.approx(0.001)
    assert summary.p50_ms == pytest.approx(0.500, rel=1e-3)
    assert summary.p90_ms == pytest.approx(0.900, rel=1e-3)
    assert summary.p99_ms == pytest.approx(0.990, rel=1e-3)
    assert summary.p999_ms == pytest.approx(0.999, rel=1e-3)
    assert summary.max_ms == pytest.approx(1.000, rel=1e-3)
    assert summary.mean_ms == pytest.approx(0.5005, rel=1e-3)
    # Population stddev of 1..1000 is sqrt((1000**2 - 1) / 12) = 288.67
    assert summary.stddev_ms == pytest.approx(0.28867, rel=1e-2)


def test_mean_and_stddev_match_hdrhistograms_own_definition() -> None:
    rng = random.Random(7)
    h = _filled([int(rng.lognormvariate(8, 1)) + 1 for _ in range(5000)])
    summary = h.summary()
    raw = h._hist  # the reference implementation, walked bucket by bucket
    assert summary.mean_ms == pytest.approx(raw.get_mean_value() / 1000, rel=1e-9)
    assert summary.stddev_ms == pytest.approx(raw.get_stddev() / 1000, rel=1e-9)


def test_sub_microsecond_durations_are_recorded_as_one_microsecond() -> None:
    h = LatencyHistogram()
    h.record_ns(0)
    h.record_ns(999)
    assert h.count == 2
    assert h.summary().max_ms == pytest.approx(0.001)


def test_merge_is_exact_in_count_and_extremes() -> None:
    a, b = _filled([100, 200, 300]), _filled([5000, 7000])
    a.merge(b)
    summary = a.summary()
    assert summary.count == 5
    assert summary.min_ms == pytest.approx(0.1, rel=1e-3)
    assert summary.max_ms == pytest.approx(7.0, rel=1e-3)
    assert summary.p50_ms == pytest.approx(0.3, rel=1e-3)


def test_encoded_histogram_decodes_to_the_same_summary() -> None:
    h = _filled([10, 20, 30, 40_000, 1_500_000])
    decoded = LatencyHistogram.decode(h.encode())
    assert decoded.summary() == h.summary()
    assert decoded.count == 5


def test_empty_histogram_summarises_to_zeros() -> None:
    assert LatencyHistogram().summary() == LatencySummary.empty()


def test_summary_metric_lookup_by_name() -> None:
    summary = _filled([1000, 2000]).summary()
    assert summary.metric_ms("max") == pytest.approx(2.0, rel=1e-3)
    with pytest.raises(KeyError):
        summary.metric_ms("p42")


@pytest.mark.parametrize("seed", range(5))
def test_the_summary_percentiles_are_hdrhistograms_own(seed: int) -> None:
    # The summary walks only the non-empty buckets; what it reports must be
    # exactly what hdrh's own (slow) walk over every bucket gives.
    rng = random.Random(seed)
    hist = LatencyHistogram()
    for _ in range(rng.randrange(1, 3000)):
        hist.record_ns(int(rng.lognormvariate(14, 1.5)))
    summary = hist.summary()
    raw = hist._hist
    expected = {p: raw.get_value_at_percentile(p) / 1000 for p in (50, 90, 95, 99, 99.9)}
    assert (summary.p50_ms, summary.p90_ms, summary.p95_ms, summary.p99_ms, summary.p999_ms) == (
        expected[50],
        expected[90],
        expected[95],
        expected[99],
        expected[99.9],
    )
    assert summary.mean_ms == pytest.approx(raw.get_mean_value() / 1000, rel=1e-9)
    assert summary.stddev_ms == pytest.approx(raw.get_stddev() / 1000, rel=1e-9)
    # Any other percentile (the benchmark's IQR, the loop-lag figures) too.
    quartiles = [raw.get_value_at_percentile(p) / 1000 for p in (25.0, 75.0)]
    assert hist.percentiles_ms(25.0, 75.0) == quartiles
    assert hist.value_at_percentile_ms(25.0) == quartiles[0]
