"""Rounds: a catalogue's entries interleaved, a plan's share per round, latencies per round."""

from __future__ import annotations

import pytest

from dbprobe.errors import ConfigError
from dbprobe.gate.stats import hodges_lehmann_ratio, samples_needed
from dbprobe.load.plan import LoadPlan
from dbprobe.load.rounds import RoundRecorder, interleave, split_plan
from dbprobe.result.model import CalibrationRound


def test_every_entry_runs_once_in_every_round_in_a_seeded_order() -> None:
    steps = interleave(4, LoadPlan(1, 20), rounds=5, seed=1)
    by_round: dict[int, list[int]] = {}
    for step in steps:
        by_round.setdefault(step.round_index, []).append(step.entry)
    assert sorted(by_round) == [0, 1, 2, 3, 4]
    assert all(sorted(entries) == [0, 1, 2, 3] for entries in by_round.values())
    # Shuffled per round (not the catalogue's order every time), the same for the same seed.
    assert len({tuple(entries) for entries in by_round.values()}) > 1
    assert interleave(4, LoadPlan(1, 20), rounds=5, seed=1) == steps
    assert interleave(4, LoadPlan(1, 20), rounds=5, seed=2) != steps


def test_a_plans_transactions_are_shared_out_over_the_rounds_and_warm_up_only_the_first() -> None:
    shares = split_plan(LoadPlan(2, 23, warmup_s=1.0), 10)
    assert [p.transactions_per_worker for p in shares] == [3, 3, 3, 2, 2, 2, 2, 2, 2, 2]
    assert sum(p.transactions_per_worker or 0 for p in shares) == 23
    assert [p.warmup_s for p in shares] == [1.0] + [0.0] * 9
    # Fewer transactions than rounds: the rounds with none are left out.
    assert len(split_plan(LoadPlan(1, 3), 10)) == 3
    timed = split_plan(LoadPlan(1, duration_s=5.0), 10)
    assert [p.duration_s for p in timed] == [0.5] * 10


def test_rounds_outside_one_to_a_thousand_are_refused_naming_the_option() -> None:
    for bad in (0, 1001):
        with pytest.raises(ConfigError, match="--rounds must be from 1 to 1000"):
            LoadPlan(1, 10, rounds=bad)


def test_the_recorder_keeps_each_rounds_latencies_window_and_reference() -> None:
    recorder = RoundRecorder(2, 3, round_of=lambda started, done: started // 100)
    recorder.record(0, 0, started_ns=10, ended_ns=40, latency=2_000_000)
    recorder.record(0, 0, started_ns=50, ended_ns=90, latency=4_000_000)
    recorder.record(1, 2, started_ns=210, ended_ns=260, latency=9_000_000)

    def window(r: int, first: int | None, last: int | None) -> int:
        return last - first if first is not None and last is not None else 0

    first = recorder.figures(0, window, {0: CalibrationRound(1.5, 0.25)})
    # Round 1 never ran (no window): left out. Round 2 ran without this
    # operation: kept, empty, so that rounds line up across processes.
    assert [(f.count, f.duration_s, f.cpu_ms, f.round_trip_ms) for f in first] == [
        (2, 80e-9, 1.5, 0.25),
        (0, 50e-9, None, None),
    ]
    assert first[0].percentile_ms(50) == pytest.approx(2.0, rel=0.01)
    _, second = recorder.figures(1, window, {})
    assert (second.count, second.cpu_ms) == (1, None)
    assert second.percentile_ms(99) == pytest.approx(9.0, rel=0.01)


def test_the_ratio_interval_holds_a_known_ratio_and_narrows_with_more_samples() -> None:
    base = [1.0, 1.1, 0.9, 1.05, 0.95, 1.02, 0.98, 1.01, 0.99, 1.03]
    ratio, interval = hodges_lehmann_ratio(base, [2 * v for v in base])
    assert ratio == pytest.approx(2.0, rel=0.03)
    assert interval.low < 2.0 < interval.high
    assert interval.low > 1.5
    _, tiny = hodges_lehmann_ratio(base[:2], base[:2])
    # Too few samples for any interval at 95 %: the range of all pairwise ratios.
    assert (tiny.low, tiny.high) == (pytest.approx(1 / 1.1), pytest.approx(1.1))


def test_samples_needed_grows_with_the_spread_and_shrinks_with_the_change() -> None:
    steady = [1.0, 1.01, 0.99, 1.02, 0.98] * 2
    noisy = [1.0, 1.3, 0.7, 1.5, 0.6] * 2
    assert samples_needed(steady, steady, change=0.1, alpha=0.01) < 5
    assert samples_needed(noisy, noisy, change=0.1, alpha=0.01) > 50
    assert samples_needed(noisy, noisy, change=0.5, alpha=0.01) < samples_needed(
        noisy, noisy, change=0.1, alpha=0.01
    )
