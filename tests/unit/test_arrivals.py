"""The open-loop arrival schedule: seeded, exact for uniform, right on average for Poisson."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable

import pytest

from dbprobe.load.arrivals import ArrivalSchedule, apportion
from dbprobe.load.profiles import LoadProfile, Segment


def _all(schedule: ArrivalSchedule) -> list[int]:
    out = []
    while (t := schedule.next_ns()) >= 0:
        out.append(t)
    return out


def test_uniform_arrivals_are_exactly_one_gap_apart() -> None:
    schedule = ArrivalSchedule([Segment(1.0, 10.0, 10.0)], arrivals="uniform", rng=random.Random(1))
    assert _all(schedule) == [i * 100_000_000 for i in range(11)]


def test_a_phase_shifts_a_uniform_schedule_so_two_processes_interleave() -> None:
    first = _all(
        ArrivalSchedule([Segment(1.0, 5.0, 5.0)], arrivals="uniform", rng=random.Random(1))
    )
    second = _all(
        ArrivalSchedule(
            [Segment(1.0, 5.0, 5.0)], arrivals="uniform", rng=random.Random(1), phase=0.5
        )
    )
    assert first == [0, 200_000_000, 400_000_000, 600_000_000, 800_000_000, 1_000_000_000]
    assert second == [100_000_000, 300_000_000, 500_000_000, 700_000_000, 900_000_000]


def test_poisson_arrivals_are_reproducible_and_average_the_rate() -> None:
    def make() -> ArrivalSchedule:
        return ArrivalSchedule(
            [Segment(100.0, 50.0, 50.0)], arrivals="poisson", rng=random.Random(42)
        )

    times = _all(make())
    assert times == _all(make())
    assert times == sorted(times)
    # 5000 expected; a Poisson count's standard deviation is sqrt(5000) ~ 71.
    assert 4800 < len(times) < 5200
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Exponential gaps: about 63 % are shorter than the mean gap (1 - 1/e).
    short = sum(g < 20_000_000 for g in gaps) / len(gaps)
    assert 0.60 < short < 0.66


def test_a_ramp_puts_three_times_as_many_arrivals_in_its_second_half() -> None:
    # Rate 0 -> 100/s over 10 s: 125 arrivals expected in the first half, 375 in the second.
    segments = LoadProfile("ramp").segments(100.0, 10.0)
    times = _all(ArrivalSchedule(segments, arrivals="uniform", rng=random.Random(0)))
    first = sum(t <= 5_000_000_000 for t in times)
    assert len(times) == 501  # Lambda(10 s) = 500, plus the arrival at u = 0
    assert first == 126
    assert len(times) - first == 375


def test_a_spike_multiplies_the_rate_for_its_duration_in_the_middle() -> None:
    segments = LoadProfile("spike", spike_factor=4.0, spike_s=2.0).segments(10.0, 10.0)
    assert segments == (
        Segment(4.0, 10.0, 10.0),
        Segment(2.0, 40.0, 40.0),
        Segment(4.0, 10.0, 10.0),
    )
    times = _all(ArrivalSchedule(segments, arrivals="uniform", rng=random.Random(0)))
    in_spike = [t for t in times if 4_000_000_000 < t <= 6_000_000_000]
    assert len(in_spike) == 80
    assert len(times) == 1 + 40 + 80 + 40


def test_a_limit_counts_only_arrivals_after_the_warmup() -> None:
    # 1 s of warm-up at 10/s, then the measured part: 5 measured arrivals wanted.
    schedule = ArrivalSchedule(
        [Segment(1.0, 10.0, 10.0), Segment(float("inf"), 10.0, 10.0)],
        arrivals="uniform",
        rng=random.Random(0),
        limit=5,
        count_from_ns=1_000_000_000,
    )
    times = _all(schedule)
    assert [t for t in times if t >= 1_000_000_000] == [
        1_000_000_000 + i * 100_000_000 for i in range(5)
    ]
    assert len(times) == 15


def test_a_zero_rate_stretch_holds_no_arrival() -> None:
    segments = [Segment(2.0, 0.0, 0.0), Segment(1.0, 4.0, 4.0)]
    times = _all(ArrivalSchedule(segments, arrivals="uniform", rng=random.Random(0)))
    assert times[1:] == [2_250_000_000, 2_500_000_000, 2_750_000_000, 3_000_000_000]


def test_an_unknown_arrival_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="arrivals must be one of"):
        ArrivalSchedule([Segment(1.0, 1.0, 1.0)], arrivals="bursty", rng=random.Random(0))


@pytest.mark.parametrize("phase", [0.0, 0.25])
@pytest.mark.parametrize("taken", [0, 1, 7, 30])
def test_draining_a_uniform_schedule_counts_exactly_the_arrivals_left(
    taken: int, phase: float
) -> None:
    segments = [Segment(1.0, 10.0, 10.0), Segment(2.0, 10.0, 3.0)]
    _assert_drain_counts_what_is_left(
        lambda: ArrivalSchedule(segments, arrivals="uniform", rng=random.Random(1), phase=phase),
        taken,
    )


def _assert_drain_counts_what_is_left(make: Callable[[], ArrivalSchedule], taken: int) -> None:
    """Two identical schedules, ``taken`` arrivals into each: one drained, one walked to its end."""
    counted, drained = make(), make()
    for _ in range(taken):
        counted.next_ns()
        drained.next_ns()
    assert drained.drain() == len(_all(counted))
    assert drained.next_ns() == -1
    assert drained.drain() == 0


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("taken", [0, 1, 150, 2000])
def test_draining_a_poisson_schedule_counts_exactly_the_arrivals_left(
    seed: int, taken: int
) -> None:
    # A ramp, as a fixed-rate run with --profile ramp follows it: the drained count
    # is exactly what the schedule of this seed still held (it once gave the
    # expected count instead, and a run lost arrivals from its accounting).
    segments = [Segment(1.0, 30.0, 90.0), Segment(2.0, 90.0, 150.0), Segment(8.0, 1000.0, 1000.0)]
    _assert_drain_counts_what_is_left(
        lambda: ArrivalSchedule(segments, arrivals="poisson", rng=random.Random(seed)), taken
    )


def test_draining_a_poisson_schedule_stops_at_its_limit() -> None:
    segments = [Segment(10.0, 1000.0, 1000.0)]
    limited = ArrivalSchedule(segments, arrivals="poisson", rng=random.Random(3), limit=500)
    for _ in range(120):
        limited.next_ns()
    assert limited.drain() == 380
    assert limited.next_ns() == -1


def test_draining_a_huge_backlog_takes_no_time_and_stops_at_the_limit() -> None:
    # 1e300 arrivals a second: counting them one by one never ended.
    endless = ArrivalSchedule(
        [Segment(2.0, 1e300, 1e300)], arrivals="poisson", rng=random.Random(1)
    )
    endless.next_ns()
    assert endless.drain() == pytest.approx(2e300, rel=1e-9)
    limited = ArrivalSchedule(
        [Segment(math.inf, 1e6, 1e6)], arrivals="uniform", rng=random.Random(1), limit=50
    )
    for _ in range(20):
        limited.next_ns()
    assert limited.drain() == 30
    assert limited.next_ns() == -1


@pytest.mark.parametrize(
    ("count", "weights", "shares"),
    [
        (10, [1, 3, 6], [1, 3, 6]),
        (11, [1, 3, 6], [1, 3, 7]),
        (1, [1, 1], [1, 0]),
        (0, [2, 5], [0, 0]),
        (7, [1], [7]),
        (2_000_015, [1, 3, 6], [200_002, 600_004, 1_200_009]),
    ],
)
def test_apportion_shares_a_count_by_weight_and_adds_up(
    count: int, weights: list[int], shares: list[int]
) -> None:
    assert apportion(count, weights) == shares
    assert sum(apportion(count, weights)) == count
