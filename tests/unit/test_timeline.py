"""The per-interval timeline, driven by a fake clock: intervals, stalls, compaction, merging."""

from __future__ import annotations

import random

from dbprobe.load.timeline import Timeline, TimelineRecorder, concat_timelines, merge_timelines
from dbprobe.metrics import LatencyHistogram
from dbprobe.metrics.sparse import SparseHistogram

S = 1_000_000_000
MS = 1_000_000


def _op(rec: TimelineRecorder, start_ns: int, latency_ns: int, *, ok: bool = True) -> None:
    rec.begin(start_ns)
    rec.end(start_ns + latency_ns, latency_ns if ok else -1)


def test_each_second_becomes_a_point_and_a_stall_shows_as_empty_seconds() -> None:
    rec = TimelineRecorder(origin_ns=0, rss_mb=lambda: 42.0)
    for i in range(10):  # second 0: ten 5 ms operations, one failing
        _op(rec, i * 50 * MS, 5 * MS, ok=i != 3)
    rec.begin(int(0.9 * S))  # starts in second 0, stuck until 3.2 s
    rec.end(int(3.2 * S), int(2.3 * S))
    timeline = rec.finish(4 * S, start_unix_s=1000.0)

    assert [p.t_s for p in timeline.points] == [0.0, 1.0, 2.0, 3.0]
    first, stuck1, stuck2, last = timeline.points
    assert (first.commits, first.errors, first.started) == (9, 1, 11)
    # Values are reported as HdrHistogram does: the top of their bucket (5 ms -> 5.003).
    assert first.p50_ms == first.p99_ms == 5.003
    assert first.throughput_per_s == 9.0
    # Nothing finished while it was stuck, but it was in flight all along.
    assert (stuck1.commits, stuck1.in_flight_max, stuck2.commits, stuck2.in_flight_max) == (
        0,
        1,
        0,
        1,
    )
    assert last.commits == 1
    assert abs(last.p99_ms - 2300.0) / 2300.0 < 0.001
    assert all(p.rss_mb == 42.0 for p in timeline.points)
    assert timeline.start_unix_s == 1000.0


def test_open_loop_points_carry_target_rate_lag_late_and_skips() -> None:
    rec = TimelineRecorder(origin_ns=0, rate_at=lambda t: 10.0 * t)
    rec.begin(100 * MS, lag_ns=30 * MS, late=True)
    rec.end(120 * MS, 50 * MS)
    rec.skip(200 * MS)
    (point,) = rec.finish(S, start_unix_s=0.0).points
    assert point.target_rate_per_s == 5.0  # the rate in the middle of the interval
    assert (point.late, point.skipped, point.lag_max_ms) == (1, 1, 30.0)


def test_a_short_tail_after_the_deadline_joins_the_last_interval() -> None:
    rec = TimelineRecorder(origin_ns=0)
    _op(rec, 0, 10 * MS)
    _op(rec, int(0.99 * S), 15 * MS)  # ends at 1.005 s, just past the last full second
    points = rec.finish(int(1.005 * S), start_unix_s=0.0).points
    assert len(points) == 1
    assert points[0].commits == 2
    assert points[0].interval_s == 1.005


def test_live_points_are_handed_out_once() -> None:
    rec = TimelineRecorder(origin_ns=0)
    _op(rec, 0, MS)
    rec.tick(int(2.5 * S))
    assert [p.t_s for p in rec.take_new()] == [0.0, 1.0]
    assert rec.take_new() == []


def test_memory_stays_flat_long_runs_are_compacted_exactly() -> None:
    rec = TimelineRecorder(origin_ns=0, max_points=8)
    for second in range(100):
        _op(rec, second * S, (second + 1) * MS)
    timeline = rec.finish(100 * S, start_unix_s=0.0)
    assert len(timeline.points) <= 8
    assert timeline.interval_s == 16.0
    assert sum(p.commits for p in timeline.points) == 100
    assert sum(p.interval_s for p in timeline.points) == 100.0
    # Percentiles of a compacted point are those of all its operations.
    assert timeline.points[0].max_ms == 16.007
    assert timeline.points[0].p50_ms == 8.003


def test_timelines_of_processes_overlay_by_wall_clock() -> None:
    def run(start_unix_s: float, latency_ms: int) -> Timeline:
        rec = TimelineRecorder(origin_ns=0)
        for second in range(3):
            for i in range(4):
                _op(rec, second * S + i * MS, latency_ms * MS)
        return rec.finish(3 * S, start_unix_s=start_unix_s)

    merged = merge_timelines([run(100.0, 2), run(100.004, 8)])
    assert merged is not None
    assert merged.start_unix_s == 100.0
    assert [p.commits for p in merged.points] == [8, 8, 8]
    assert [p.throughput_per_s for p in merged.points] == [8.0, 8.0, 8.0]
    assert [(p.p50_ms, p.max_ms) for p in merged.points] == [(2.0, 8.003)] * 3


def test_phases_of_one_process_are_joined_in_time() -> None:
    first = Timeline(1.0, 50.0, TimelineRecorder(0).finish(2 * S, 50.0).points)
    second = Timeline(1.0, 53.5, TimelineRecorder(0).finish(S, 53.5).points)
    joined = concat_timelines([first, second])
    assert joined is not None
    assert [p.t_s for p in joined.points] == [0.0, 1.0, 3.5]


def test_sparse_histogram_matches_hdr_precision_and_merges_exactly() -> None:
    a, b, both = SparseHistogram(), SparseHistogram(), SparseHistogram()
    values_us = [1, 999, 2047, 2048, 2049, 5000, 123_456, 7_654_321]
    for i, us in enumerate(values_us):
        (a if i % 2 else b).record_ns(us * 1000)
        both.record_ns(us * 1000)
    a.merge(b)
    assert a.counts == both.counts
    assert a.total == 8
    # Exact below 2048 µs, within 0.1 % above.
    assert both.percentile_ms(100 * 2 / 8) == 0.999
    assert both.max_ms() == 7655.423
    assert abs(both.max_ms() - 7654.321) / 7654.321 < 0.001
    assert SparseHistogram.from_pairs(both.to_pairs()).counts == both.counts
    assert SparseHistogram().percentiles_ms((50.0, 99.0)) == (0.0, 0.0)


def test_sparse_histogram_reports_the_same_percentiles_as_the_hdr_histogram() -> None:
    rng = random.Random(7)
    sparse, hdr = SparseHistogram(), LatencyHistogram()
    for _ in range(5000):
        ns = int(rng.lognormvariate(15, 1.5))  # about 3 ms median, a long tail
        sparse.record_ns(ns)
        hdr.record_ns(ns)
    for percentile in (50.0, 90.0, 99.0, 99.9):
        assert sparse.percentile_ms(percentile) == hdr.value_at_percentile_ms(percentile)


def test_an_operation_ending_exactly_on_a_boundary_after_the_end_is_kept() -> None:
    rec = TimelineRecorder(origin_ns=0)
    _op(rec, int(0.5 * S), int(0.5 * S))  # ends at exactly 1 s, opening the second interval
    points = rec.finish(S, start_unix_s=0.0).points
    assert sum(p.commits for p in points) == 1
