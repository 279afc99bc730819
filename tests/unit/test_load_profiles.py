"""Load profiles and the open-loop options of a load plan: parsed, shaped, validated."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from dbprobe.errors import ConfigError
from dbprobe.load.arrivals import ArrivalSchedule
from dbprobe.load.plan import LoadPlan
from dbprobe.load.profiles import LoadProfile, Segment, parse_profile


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("steady", LoadProfile()),
        ("soak", LoadProfile("soak")),
        ("ramp", LoadProfile("ramp")),
        ("ramp:from=10", LoadProfile("ramp", ramp_from_per_s=10.0)),
        ("spike", LoadProfile("spike")),
        ("spike:factor=4,seconds=5", LoadProfile("spike", spike_factor=4.0, spike_s=5.0)),
        ("Spike: factor=4x, seconds=5s", LoadProfile("spike", spike_factor=4.0, spike_s=5.0)),
    ],
)
def test_profiles_parse_from_their_text_form(text: str, expected: LoadProfile) -> None:
    assert parse_profile(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("burst", "unknown --profile 'burst': choose steady, ramp, spike, soak"),
        ("ramp:to=5", "--profile ramp takes from=...; got 'to=5'"),
        ("steady:x=1", "--profile steady takes no parameters; got 'x=1'"),
        ("spike:factor=lots", "--profile spike: factor= must be a number, got 'lots'"),
        ("spike:factor=0", "--profile spike: factor= must be positive, got 0"),
        ("spike:seconds=-1", "--profile spike: seconds= must be positive, got -1"),
        ("ramp:from=-3", "--profile ramp: from= must be 0 or more per second, got -3"),
        ("ramp:from=1e308", "--profile ramp: from= must be 1,000,000 or less, got 1e+308"),
        ("spike:factor=1e7", "--profile spike: factor= must be 1,000,000 or less, got 1e+07"),
        ("spike:seconds=1e9", "--profile spike: seconds= must be 2,592,000 or less, got 1e+09"),
    ],
)
def test_bad_profiles_are_config_errors_naming_the_option(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_profile(text)
    assert str(err.value) == message


def test_rate_at_follows_each_shape() -> None:
    ramp = LoadProfile("ramp", ramp_from_per_s=10.0)
    assert [ramp.rate_at(t, 110.0, 10.0) for t in (0.0, 5.0, 9.999)] == pytest.approx(
        [10.0, 60.0, 110.0], abs=0.02
    )
    spike = LoadProfile("spike", spike_factor=3.0)  # default: a fifth of the duration
    assert [spike.rate_at(t, 10.0, 10.0) for t in (3.9, 4.1, 5.9, 6.1)] == [10.0, 30.0, 30.0, 10.0]
    assert LoadProfile("soak").rate_at(1e6, 7.0, 2e6) == 7.0
    assert LoadProfile().rate_at(11.0, 7.0, 10.0) == 0.0  # after the end: nothing scheduled


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate_per_s": 0}, "--rate must be a positive number of operations per second, got 0"),
        ({"rate_per_s": -5}, "--rate must be a positive number of operations per second, got -5"),
        ({"rate_per_s": float("nan")}, "--rate must be a positive number"),
        ({"rate_per_s": float("inf")}, "--rate must be a positive number"),
        ({"rate_per_s": 10, "arrivals": "bursty"}, "--arrivals must be poisson or uniform"),
        ({"latency_limit_ms": 50}, "--latency-limit needs --rate"),
        ({"rate_per_s": 10, "latency_limit_ms": 0}, "--latency-limit must be a positive"),
        ({"profile": LoadProfile("ramp")}, "--profile ramp needs --rate"),
        (
            {"rate_per_s": 10, "profile": LoadProfile("spike", spike_s=9)},
            r"--profile spike: the spike \(9 s\) must be shorter than --duration \(5 s\)",
        ),
        ({"processes": 0}, "--processes must be at least 1, got 0"),
    ],
)
def test_open_loop_options_are_validated(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LoadPlan(workers=2, duration_s=5, **kwargs)


@pytest.mark.parametrize("kind", ["ramp", "spike", "soak"])
def test_shaped_profiles_need_a_duration(kind: str) -> None:
    with pytest.raises(ConfigError, match=f"--profile {kind} needs --duration, not --transactions"):
        LoadPlan(workers=2, transactions_per_worker=5, rate_per_s=10, profile=LoadProfile(kind))


def test_a_plan_defaults_to_the_closed_loop_and_splits_its_rate_among_processes() -> None:
    closed = LoadPlan(workers=3, duration_s=1)
    assert not closed.open_loop
    assert closed.shape().rate_per_s is None
    plan = LoadPlan(
        workers=3,
        duration_s=4,
        warmup_s=1,
        rate_per_s=90,
        profile=LoadProfile("ramp", ramp_from_per_s=30),
        processes=3,
    )
    share = plan.per_process()
    assert (share.rate_per_s, share.profile.ramp_from_per_s, share.processes) == (30, 10, 1)
    assert (share.workers, share.duration_s) == (3, 4)
    assert plan.shape().to_json() == {
        "rate_per_s": 90,
        "arrivals": "poisson",
        "profile": {"kind": "ramp", "from_per_s": 30},
        "latency_limit_ms": None,
        "processes": 3,
    }
    # The warm-up runs at the rate the measurement starts with.
    assert plan.warmup_segment() == Segment(1, 30, 30)


def _arrivals(schedule: ArrivalSchedule | None) -> list[int]:
    assert schedule is not None
    out = []
    while (t := schedule.next_ns()) >= 0:
        out.append(t)
    return out


def test_the_measured_schedule_starts_afresh_whatever_the_warmup() -> None:
    plain = LoadPlan(workers=2, duration_s=3, rate_per_s=40, profile=LoadProfile("spike"))
    warmed = dataclasses.replace(plain, warmup_s=2)
    # Measured arrivals are due from the measurement's start (offset 0), and a
    # warm-up changes none of them: they are the same for a seed with or without one.
    measured = _arrivals(warmed.arrival_schedule(9))
    assert measured == _arrivals(plain.arrival_schedule(9))
    assert measured[0] >= 0
    # The warm-up has a schedule of its own, within its own seconds, at the starting rate.
    warmup = _arrivals(warmed.warmup_schedule(9))
    assert all(0 <= t <= 2_000_000_000 for t in warmup)
    assert 50 <= len(warmup) <= 110  # ~80 for 2 s at 40/s (Poisson)
    assert plain.warmup_schedule(9) is None
