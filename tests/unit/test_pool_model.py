"""The pool probe's arithmetic on fixed inputs: demand, timeline, capacity, recovery."""

from __future__ import annotations

import pytest

from dbprobe.probes.pool.model import (
    TimelineRecorder,
    TimelineRow,
    capacity_per_s,
    demand_at,
    demand_profile,
    recovery_start_s,
)


def test_without_ramp_every_started_second_wants_all_threads() -> None:
    assert demand_profile(6, 2.5, ramp=False) == (6, 6, 6)
    assert demand_profile(6, 2.0, ramp=False) == (6, 6)
    assert demand_profile(1, 0.2, ramp=False) == (1,)


@pytest.mark.parametrize(
    ("threads", "duration_s", "expected"),
    [
        (8, 8, (1, 3, 6, 8, 8, 6, 3, 1)),  # even: the peak is held two seconds
        (5, 5, (1, 3, 5, 3, 1)),  # odd: one second at the peak
        (4, 3, (1, 4, 1)),
        (10, 3.5, (1, 10, 10, 1)),  # a started fourth second counts: a 4 s ramp
        (1, 6, (1, 1, 1, 1, 1, 1)),
    ],
)
def test_ramp_steps_up_to_threads_and_back_down_symmetrically(
    threads: int, duration_s: float, expected: tuple[int, ...]
) -> None:
    assert demand_profile(threads, duration_s, ramp=True) == expected


def test_demand_at_a_time_is_that_seconds_step_and_zero_after_the_profile() -> None:
    profile = (1, 4, 1)
    assert [demand_at(profile, t) for t in (0.0, 0.999, 1.0, 1.5, 2.999, 3.0, 10.0)] == [
        1,
        1,
        4,
        4,
        1,
        0,
        0,
    ]
    assert demand_at(profile, -0.001) == 1  # a clock read just before the start


def test_recovery_starts_when_demand_falls_back_within_the_pool_after_the_peak() -> None:
    profile = (1, 3, 6, 8, 8, 6, 3, 1)
    assert recovery_start_s(profile, connections=3) == 6.0
    assert recovery_start_s(profile, connections=6) == 5.0
    # A peak the pool could serve: from the first step down.
    assert recovery_start_s(profile, connections=8) == 5.0
    assert recovery_start_s(profile, connections=20) == 5.0


def test_a_flat_demand_has_no_fall_to_recover_from() -> None:
    assert recovery_start_s((6, 6, 6), connections=2) is None
    assert recovery_start_s((1, 1), connections=2) is None


def test_capacity_is_connections_over_mean_hold() -> None:
    assert capacity_per_s(2, 1000.0) == 2.0
    assert capacity_per_s(6, 250.0) == 24.0
    assert capacity_per_s(15, 100.0) == pytest.approx(150.0)
    assert capacity_per_s(2, 0.0) is None


def _rows(result_rows: tuple[TimelineRow, ...]) -> list[tuple[int, int, int, int, int]]:
    return [(r.second, r.demand, r.checked_out, r.waiting, r.timeouts) for r in result_rows]


def test_timeline_keeps_per_second_peaks_and_carries_levels_into_quiet_seconds() -> None:
    rec = TimelineRecorder((6, 6, 6))
    rec.checked_out(0.01, 1)
    rec.checked_out(0.02, 2)
    for n in (1, 2, 3, 4):
        rec.waiting(0.03, n)
    rec.timeout(0.33)
    rec.timeout(0.33)
    rec.waiting(0.34, 2)
    # nothing at all happens in second 1: it still had 2 out and 2 waiting
    rec.checked_out(2.1, 1)
    rec.waiting(2.2, 0)
    rec.timeout(2.9)
    rec.checked_out(3.05, 0)  # the tail after the demand ended

    result = rec.result(end_s=3.05)

    assert _rows(result.rows) == [
        (0, 6, 2, 4, 2),
        (1, 6, 2, 2, 0),
        (2, 6, 2, 2, 1),
        (3, 0, 1, 0, 0),
    ]
    assert result.recovery_s is None
    assert result.recovered is None


def test_timeline_has_a_row_for_every_second_of_the_profile_even_without_events() -> None:
    result = TimelineRecorder((1, 1, 1)).result(end_s=0.5)
    assert _rows(result.rows) == [(0, 1, 0, 0, 0), (1, 1, 0, 0, 0), (2, 1, 0, 0, 0)]


def test_recovery_is_the_time_from_the_fall_to_nobody_waiting() -> None:
    rec = TimelineRecorder((1, 4, 1), recover_from_s=2.0)
    rec.waiting(1.1, 1)
    rec.waiting(1.2, 2)
    rec.waiting(2.1, 1)  # still one waiting after the fall
    rec.waiting(2.35, 0)
    rec.waiting(2.5, 1)  # a later wait does not undo the recovery

    result = rec.result(end_s=3.0)

    assert result.recovered is True
    assert result.recovery_s == pytest.approx(0.35)


def test_nobody_waiting_when_demand_falls_is_an_immediate_recovery() -> None:
    rec = TimelineRecorder((1, 4, 1), recover_from_s=2.0)
    rec.waiting(1.1, 1)
    rec.waiting(1.6, 0)
    rec.waiting(2.4, 1)  # the first change after the fall finds nobody had waited
    assert rec.result(end_s=3.0).recovery_s == 0.0

    quiet = TimelineRecorder((1, 4, 1), recover_from_s=2.0)
    quiet.waiting(1.1, 1)
    quiet.waiting(1.6, 0)
    assert quiet.result(end_s=3.0).recovery_s == 0.0  # no change after the fall at all


def test_workers_still_waiting_at_the_end_is_no_recovery() -> None:
    rec = TimelineRecorder((1, 4, 1), recover_from_s=2.0)
    rec.waiting(1.1, 3)
    rec.waiting(2.5, 2)
    result = rec.result(end_s=3.0)
    assert result.recovered is False
    assert result.recovery_s is None


def test_a_run_that_ended_before_the_fall_has_nothing_to_recover_from() -> None:
    rec = TimelineRecorder((1, 4, 4, 1), recover_from_s=3.0)
    rec.waiting(1.1, 3)
    result = rec.result(end_s=1.5)  # interrupted
    assert result.recovered is None
    assert result.recovery_s is None
