"""The regression gate on seeded samples: quiet on noise, strict on real slowdowns."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from pathlib import Path

import pytest

from dbprobe.errors import ComparisonMismatchError, ConfigError, UsageError
from dbprobe.gate.compare import CompareResult, Verdict, compare_operations, compare_reports
from dbprobe.gate.decide import comparison_findings, exit_status
from dbprobe.gate.rounds import Reference
from dbprobe.gate.stats import holm_levels
from dbprobe.gate.thresholds import (
    Level,
    Levels,
    Metric,
    Thresholds,
    levels_from_options,
    parse_fraction,
    parse_operation_threshold,
)
from dbprobe.result.findings import Severity
from dbprobe.result.jsonio import read_report
from dbprobe.result.model import Report
from tests import synthetic

GATE = Path(__file__).resolve().parents[2] / "fixtures" / "gate"

# Latencies per round a run records per operation: from a few to hundreds.
PER_ROUND = (5, 30, 300)
SIGMA = 0.5  # lognormal shape: p99 about 3.2 times the median


def _sample(rng: random.Random, per_round: int, *, rounds: int = 10, **kw: float) -> list[float]:
    return synthetic.lognormal_ms(rng, per_round * rounds, sigma=kw.pop("sigma", SIGMA), **kw)


def _result(
    baseline: list[float], current: list[float], *, rounds: int = 10, **kwargs: object
) -> CompareResult:
    return compare_operations(
        synthetic.operation("op", baseline, rounds=rounds),
        synthetic.operation("op", current, rounds=rounds),
        **kwargs,  # type: ignore[arg-type]
    )


def test_two_runs_of_one_distribution_never_regress_and_mostly_say_unchanged() -> None:
    verdicts: Counter[Verdict] = Counter()
    for trial in range(150):
        rng = random.Random(trial)
        per_round = PER_ROUND[trial % 3]
        result = _result(_sample(rng, per_round), _sample(rng, per_round))
        verdicts[result.verdict] += 1
    # At alpha 0.01, about one operation in a hundred is a false call, either way.
    assert verdicts[Verdict.REGRESSED] <= 3, verdicts
    assert verdicts[Verdict.IMPROVED] <= 3, verdicts
    # Five or thirty latencies a round leave the rounds too noisy to promise
    # "unchanged": those say insufficient data rather than a guess.
    assert verdicts[Verdict.INSUFFICIENT] >= 80, verdicts
    assert verdicts[Verdict.UNCHANGED] >= 40, verdicts


@pytest.mark.parametrize(
    ("factor", "level"),
    [(1.15, Level.MINOR), (1.30, Level.WARNING), (1.60, Level.CRITICAL)],
    ids=["15%-minor", "30%-warning", "60%-critical"],
)
def test_a_slower_run_is_a_regression_of_the_level_its_size_calls_for(
    factor: float, level: Level
) -> None:
    levels: Counter[Level | None] = Counter()
    for trial in range(30):
        rng = random.Random(1000 + trial)
        # Both runs drawn afresh, as two real runs are; 300 latencies a round.
        result = _result(
            _sample(rng, 300, sigma=0.3), _sample(rng, 300, sigma=0.3, median_ms=2.0 * factor)
        )
        levels[result.level] += 1
    assert levels[level] >= 27, levels


def test_a_5_percent_slower_run_is_never_a_regression() -> None:
    for trial in range(100):
        rng = random.Random(2000 + trial)
        result = _result(_sample(rng, 300), _sample(rng, 300, median_ms=2.1))
        assert result.verdict is not Verdict.REGRESSED, f"trial {trial}"


def test_a_faster_run_is_an_improvement_and_never_a_regression() -> None:
    rng = random.Random(7)
    result = _result(_sample(rng, 300), _sample(rng, 300, median_ms=1.4))
    assert (result.verdict, result.level) == (Verdict.IMPROVED, None)


def test_a_slowdown_of_the_tail_only_is_seen_by_p99_and_not_by_p50() -> None:
    rng = random.Random(9)
    baseline = _sample(rng, 1000)
    current = _sample(rng, 1000)
    cutoff = sorted(current)[int(0.9 * len(current))]
    # The slowest 10 % doubled: the median does not move, p99 does.
    current = [v * 2 if v >= cutoff else v for v in current]
    assert _result(baseline, current, metric=Metric.P50).verdict is not Verdict.REGRESSED
    p99 = _result(baseline, current, metric=Metric.P99)
    assert (p99.verdict, p99.level) == (Verdict.REGRESSED, Level.CRITICAL)


def test_throughput_is_judged_on_each_rounds_commits_per_second() -> None:
    rng = random.Random(4)
    values = _sample(rng, 100)
    base = synthetic.operation("op", values, duration_s=10.0)
    slower = synthetic.operation("op", values, duration_s=13.0)  # 30 % fewer per second
    result = compare_operations(base, slower, metric=Metric.THROUGHPUT)
    assert (result.verdict, result.level) == (Verdict.REGRESSED, Level.WARNING)
    assert result.ratio == pytest.approx(1 / 1.3)
    assert result.worse == pytest.approx(1.3)


def test_too_few_rounds_on_a_side_give_no_verdict_and_say_what_would_be_enough() -> None:
    rng = random.Random(1)
    result = _result(
        _sample(rng, 50, rounds=4), [3 * v for v in _sample(rng, 50, rounds=4)], rounds=4
    )
    assert (result.verdict, result.level) == (Verdict.INSUFFICIENT, None)
    assert (result.baseline_rounds, result.current_rounds) == (4, 4)
    assert "insufficient data (4 rounds, need at least 5)" in result.describe()


def test_unchanged_is_said_only_when_the_rounds_could_have_seen_the_threshold() -> None:
    rng = random.Random(3)
    # Two latencies a round of a wide distribution: round figures spread by
    # tens of percent, so ten rounds cannot tell a 10 % change.
    noisy = _result(_sample(rng, 2, sigma=1.0), _sample(rng, 2, sigma=1.0))
    assert noisy.verdict is Verdict.INSUFFICIENT
    assert noisy.rounds_needed is not None
    assert noisy.rounds_needed > 10
    assert f"need {noisy.rounds_needed} for a 10% change at this spread" in noisy.describe()
    steady = _result(_sample(rng, 1000, sigma=0.2), _sample(rng, 1000, sigma=0.2))
    assert steady.verdict is Verdict.UNCHANGED
    assert steady.rounds_needed is None


def test_every_verdict_line_shows_the_change_interval_test_and_rounds() -> None:
    rng = random.Random(5)
    line = _result(_sample(rng, 300), _sample(rng, 300, median_ms=4.0)).describe()
    assert line.startswith("op p50 ")
    assert "per round +" in line
    assert "95% CI +" in line
    assert "Mann-Whitney p=" in line
    assert "10 vs 10 rounds" in line
    assert line.endswith("regressed (critical)")


def _ops(
    rng: random.Random, factors: dict[str, float], per_round: int = 80
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    base = {
        name: synthetic.lognormal_ms(rng, per_round * 10, median_ms=1 + i)
        for i, name in enumerate(factors)
    }
    cur = {
        name: [
            v * factors[name] for v in synthetic.lognormal_ms(rng, per_round * 10, median_ms=1 + i)
        ]
        for i, name in enumerate(factors)
    }
    return base, cur


def test_every_operation_slower_is_every_operation_regressed_when_the_machine_did_not_change() -> (
    None
):
    rng = random.Random(12)
    base, cur = _ops(rng, dict.fromkeys(("a", "b", "c", "d", "e"), 3.0))
    steady = [1.0 + 0.01 * (i % 3) for i in range(10)]
    comparison = compare_reports(
        synthetic.report(base, cpu_ms=steady), synthetic.report(cur, cpu_ms=steady)
    )
    assert comparison.machine_factor == 1.0
    assert comparison.reference is not None
    assert not comparison.reference.moved
    assert [r.operation for r in comparison.regressions()] == ["a", "b", "c", "d", "e"]
    assert {r.level for r in comparison.regressions()} == {Level.CRITICAL}


def test_a_slower_machine_is_told_by_its_reference_and_the_operation_that_changed_stands_out() -> (
    None
):
    rng = random.Random(13)
    # The machine 40 % slower in every round (its CPU loop too); `write` 2.5x on top.
    base, cur = _ops(rng, {"a": 1.4, "b": 1.4, "c": 1.4, "write": 1.4 * 2.5})
    before = [1.0 + 0.01 * (i % 3) for i in range(10)]
    after = [1.4 * v for v in before]
    comparison = compare_reports(
        synthetic.report(base, cpu_ms=before), synthetic.report(cur, cpu_ms=after)
    )
    assert comparison.reference is not None
    assert comparison.reference.moved
    assert comparison.machine_factor == pytest.approx(1.4, rel=0.02)
    assert [r.operation for r in comparison.regressions()] == ["write"]
    (write,) = comparison.regressions()
    assert write.ratio == pytest.approx(2.5, rel=0.1)
    assert "judged beyond the machine's own +40.0%" in write.describe()
    assert any("the machine itself changed: machine reference" in w for w in comparison.warnings)
    others = [r for r in comparison.results if r.operation != "write"]
    assert all(r.verdict in (Verdict.UNCHANGED, Verdict.INSUFFICIENT) for r in others)
    absolute = compare_reports(
        synthetic.report(base, cpu_ms=before), synthetic.report(cur, cpu_ms=after), normalize=False
    )
    assert {r.operation for r in absolute.regressions()} == {"a", "b", "c", "write"}


@pytest.mark.parametrize("machine", [0.6, 1.4], ids=["machine-faster", "machine-slower"])
@pytest.mark.parametrize("ops", [1.0, 1.2], ids=["waiting", "partly-computing"])
def test_a_change_the_machine_can_explain_is_never_a_verdict_either_way(
    machine: float, ops: float
) -> None:
    # Operations that wait (sleeps, the database) do not change with the
    # machine's CPU; those that compute change as much as it. Dividing every
    # figure by the CPU loop called an unchanged pytest session of 2-4 ms
    # sleeps "70 % slower" when the loop ran faster than in the baseline's.
    factor = ops if machine > 1 else 1 / ops
    rng = random.Random(16)
    base, cur = _ops(rng, dict.fromkeys(("a", "b", "c"), factor))
    before = [1.0 + 0.01 * (i % 3) for i in range(10)]
    comparison = compare_reports(
        synthetic.report(base, cpu_ms=before),
        synthetic.report(cur, cpu_ms=[machine * v for v in before]),
    )
    assert comparison.judged_by is not None
    assert comparison.machine_factor == pytest.approx(machine, rel=0.02)
    assert comparison.regressions() == ()
    assert all(r.verdict is not Verdict.IMPROVED for r in comparison.results)
    assert exit_status(comparison) == 0


def test_other_processes_busy_on_the_cpus_are_told_by_the_time_waited_for_one() -> None:
    # Seen in CI: a repo run beside a CPU-bound process, compared with its
    # identical baseline, had every operation 25-40 % slower in every round
    # while the CPU loop did not move (a process back from sleep is run first,
    # and a 5 ms loop rarely loses its slice); two operations were called
    # regressed. Its threads' wait for a CPU is what moved: 1 % to 38 %.
    rng = random.Random(17)
    base, cur = _ops(rng, {"a": 1.35, "b": 1.3, "c": 1.4, "write": 1.35 * 2.5})
    cpu = [1.0 + 0.01 * (i % 3) for i in range(10)]
    idle = [0.01 + 0.002 * (i % 4) for i in range(10)]
    busy = [0.38 + 0.01 * (i % 4) for i in range(10)]
    comparison = compare_reports(
        synthetic.report(base, cpu_ms=cpu, cpu_wait=idle),
        synthetic.report(cur, cpu_ms=cpu, cpu_wait=busy),
    )
    assert comparison.judged_by is not None
    assert comparison.judged_by.reference is Reference.CPU_WAIT
    assert comparison.machine_factor == pytest.approx((1 - 0.013) / (1 - 0.395), rel=0.03)
    # What the wait explains is set aside; what lies beyond it still stands out.
    assert [r.operation for r in comparison.regressions()] == ["write"]
    assert any(
        w.startswith("the machine itself changed: time waiting for a CPU") and "set aside" in w
        for w in comparison.warnings
    )
    # The same figures with the wait unchanged: the machine is not the reason.
    steady = compare_reports(
        synthetic.report(base, cpu_ms=cpu, cpu_wait=idle),
        synthetic.report(cur, cpu_ms=cpu, cpu_wait=idle),
    )
    assert steady.judged_by is None
    assert [r.operation for r in steady.regressions()] == ["a", "b", "c", "write"]


def test_a_machine_busier_at_p_under_5_percent_is_credited_not_blamed_on_the_code() -> None:
    # Measured here, and seen on CI's oldest-versions run: two identical
    # `uow --threads 2 --transactions 15` runs, the second while the machine
    # was busier. read_program was +80 % per round (p=0.003, 8 vs 8 rounds,
    # under alpha 0.01) and was called a critical regression; its own rounds'
    # wait for a CPU went from 28 % to 56 % (a stretch of +62 %, p=0.015) but
    # was not credited, being held to alpha / 3. Crediting the machine
    # wrongly only widens the band by its own measured change; not crediting
    # it is a false alarm of the whole of it.
    baseline = read_report(GATE / "uow_busier_machine_baseline.json")
    current = read_report(GATE / "uow_busier_machine_current.json")
    comparison = compare_reports(baseline, current)
    assert comparison.regressions() == ()
    (read,) = [r for r in comparison.results if r.operation == "read_program"]
    assert read.machine_band[1] == pytest.approx(1.62, abs=0.01)
    assert read.verdict is Verdict.INSUFFICIENT
    assert "+10.9% judged beyond the machine's own +62.1%" in read.describe()
    # The change is there in the raw figures: the band is what explains it.
    absolute = compare_reports(baseline, current, normalize=False)
    assert [r.operation for r in absolute.regressions()] == ["read_program"]


@pytest.mark.parametrize("ops", [1.15, 0.8], ids=["slower", "faster"])
def test_references_that_moved_in_opposite_directions_set_a_band_across_both(ops: float) -> None:
    # Measured beside a CPU-bound process: the CPU loop ran 32 % faster (a
    # process back from sleep is run first, at a higher clock) while the wait
    # for a CPU stretched operations by up to 18 %. Taking only the one that
    # moved most would leave a slowdown the wait explains to be judged.
    rng = random.Random(18)
    base, cur = _ops(rng, {"a": ops, "b": ops, "c": ops})
    cpu = [1.0 + 0.01 * (i % 3) for i in range(10)]
    idle = [0.01 + 0.002 * (i % 4) for i in range(10)]
    busy = [0.16 + 0.01 * (i % 4) for i in range(10)]
    comparison = compare_reports(
        synthetic.report(base, cpu_ms=cpu, cpu_wait=idle),
        synthetic.report(cur, cpu_ms=[0.68 * v for v in cpu], cpu_wait=busy),
    )
    low, high = comparison.machine_band
    assert low == pytest.approx(0.68, rel=0.02)
    assert high == pytest.approx((1 - 0.013) / (1 - 0.175), rel=0.03)
    assert comparison.regressions() == ()
    assert all(r.verdict is not Verdict.IMPROVED for r in comparison.results)
    assert all(r.within_machine for r in comparison.results)
    assert "the machine's own -32" in comparison.results[0].describe()


def test_an_operation_whose_own_rounds_waited_for_a_cpu_is_judged_beyond_its_own_wait() -> None:
    # A catalogue runs each operation alone in its round: a neighbour's bursts
    # can land on one operation's rounds, while the run's wait, averaged over
    # every operation of a round, hardly moves.
    rng = random.Random(19)
    base, cur = _ops(rng, {"hit": 1.4, "slower": 1.4, "same": 1.0})
    cpu = [1.0 + 0.01 * (i % 3) for i in range(10)]
    idle = [0.01 + 0.002 * (i % 4) for i in range(10)]

    def with_waits(report: Report, name: str, waits: list[float]) -> Report:
        ops = tuple(
            dataclasses.replace(
                op,
                rounds=tuple(
                    dataclasses.replace(r, cpu_wait=w)
                    for r, w in zip(op.rounds, waits if op.name == name else idle, strict=True)
                ),
            )
            for op in report.operations
        )
        return dataclasses.replace(report, operations=ops)

    before = with_waits(synthetic.report(base, cpu_ms=cpu, cpu_wait=idle), "hit", idle)
    after = with_waits(
        synthetic.report(cur, cpu_ms=cpu, cpu_wait=idle),
        "hit",
        [0.35 + 0.01 * (i % 3) for i in range(10)],
    )
    comparison = compare_reports(before, after)
    assert comparison.machine_band == (1.0, 1.0)  # the run's own wait did not move
    by_name = {r.operation: r for r in comparison.results}
    assert by_name["hit"].within_machine
    assert by_name["hit"].verdict is not Verdict.REGRESSED
    assert by_name["slower"].verdict is Verdict.REGRESSED
    assert [r.operation for r in comparison.regressions()] == ["slower"]


def test_a_slower_round_trip_is_warned_of_and_never_divided_out() -> None:
    # Measured: two runs of the same code on SQLite, every operation and
    # SELECT 1 40 % slower, the CPU loop unchanged; but a run whose operations
    # do more work on the event loop slows SELECT 1 just as much. Dividing by
    # it would hide that regression: the verdicts stay absolute, with a warning.
    rng = random.Random(15)
    base, cur = _ops(rng, dict.fromkeys(("a", "b", "c"), 1.4))
    cpu = [1.0 + 0.01 * (i % 3) for i in range(10)]
    before = [0.5 + 0.01 * (i % 4) for i in range(10)]
    after = [1.4 * v for v in before]
    comparison = compare_reports(
        synthetic.report(base, cpu_ms=cpu, round_trip_ms=before),
        synthetic.report(cur, cpu_ms=cpu, round_trip_ms=after),
    )
    assert comparison.judged_by is None
    assert comparison.machine_factor == 1.0
    trip = next(r for r in comparison.references if r.reference is Reference.ROUND_TRIP)
    assert trip.moved
    assert trip.ratio == pytest.approx(1.4, rel=0.02)
    assert [r.operation for r in comparison.regressions()] == ["a", "b", "c"]
    assert "judged" in comparison.regressions()[0].describe()
    assert any(
        w.startswith("driver round trip (SELECT 1) +40") and "not divided out" in w
        for w in comparison.warnings
    )


def test_a_borderline_change_asks_for_more_rounds_than_it_has() -> None:
    # Significant, but the interval reaches inside the threshold: the rounds
    # asked for narrow the interval until it clears the threshold.
    rng = random.Random(21)
    seen = 0
    for _ in range(60):
        result = _result(_sample(rng, 30), _sample(rng, 30, median_ms=2.0 * 1.16))
        if result.borderline:
            seen += 1
            assert result.verdict is Verdict.INSUFFICIENT
            assert result.rounds_needed is not None
            assert result.rounds_needed > result.current_rounds
            assert f"need {result.rounds_needed} to tell" in result.describe()
    assert seen > 0


def test_without_a_machine_reference_the_verdicts_are_absolute_and_say_so() -> None:
    rng = random.Random(14)
    base, cur = _ops(rng, {"a": 1.4, "b": 1.0})
    comparison = compare_reports(synthetic.report(base), synthetic.report(cur))
    assert comparison.reference is None
    assert [r.operation for r in comparison.regressions()] == ["a"]
    assert any("no machine reference" in w for w in comparison.warnings)


def test_many_operations_of_identical_runs_rarely_raise_any_false_alarm() -> None:
    # Holm's correction: the chance of any false call stays near alpha however
    # many operations a run has.
    alarms = 0
    for trial in range(40):
        rng = random.Random(5000 + trial)
        base, cur = _ops(rng, {f"op{i}": 1.0 for i in range(25)}, per_round=20)
        alarms += bool(compare_reports(synthetic.report(base), synthetic.report(cur)).regressions())
    assert alarms <= 1


def test_holm_levels_hold_the_smallest_p_to_alpha_over_m_and_stop_at_the_first_failure() -> None:
    assert holm_levels([0.001, 0.02, None, 0.004], 0.01) == [
        pytest.approx(0.01 / 3),
        0.0,
        0.0,
        pytest.approx(0.01 / 2),
    ]
    assert holm_levels([0.5, 0.001], 0.01) == [0.0, pytest.approx(0.005)]


def test_runs_of_different_probes_scales_or_backends_are_refused_unless_allowed() -> None:
    rng = random.Random(2)
    base, cur = _ops(rng, {"a": 1.0, "b": 1.0, "c": 1.0}, per_round=10)
    baseline = synthetic.report(base)
    for other in (
        synthetic.report(cur, probe="repo"),
        synthetic.report(cur, scale="small"),
        synthetic.report(cur, backend="postgresql"),
    ):
        with pytest.raises(ComparisonMismatchError) as info:
            compare_reports(baseline, other)
        assert isinstance(info.value, UsageError)
        assert "\n" not in str(info.value)
        assert "--allow-mismatch" in str(info.value)
    allowed = compare_reports(baseline, synthetic.report(cur, scale="small"), allow_mismatch=True)
    assert allowed.warnings[0] == "compared despite different scale 'tiny' vs 'small'"


def test_another_host_or_other_options_are_warnings() -> None:
    rng = random.Random(2)
    base, cur = _ops(rng, {"a": 1.0, "b": 1.0, "c": 1.0}, per_round=10)
    comparison = compare_reports(
        synthetic.report(base, host="ci-1"),
        synthetic.report(cur, host="ci-7", config=synthetic.run_config(threads=8)),
    )
    assert comparison.warnings[:2] == (
        "the runs are from different hosts (ci-1 vs ci-7): differences may be the machines'",
        "threads differs: 4 in the baseline, 8 now",
    )
    assert not comparison.regressions()


def test_operations_in_one_run_only_are_listed_apart() -> None:
    rng = random.Random(2)
    base, cur = _ops(rng, {"a": 1.0, "b": 1.0, "c": 1.0}, per_round=10)
    base["gone"] = base.pop("c")
    comparison = compare_reports(synthetic.report(base), synthetic.report(cur))
    assert comparison.only_in_baseline == ("gone",)
    assert comparison.only_in_current == ("c",)
    assert [r.operation for r in comparison.results] == ["a", "b"]


def test_per_operation_thresholds_override_the_default() -> None:
    rng = random.Random(21)
    base, cur = _ops(
        rng, {"a": 1.0, "b": 1.0, "c": 1.0, "noisy": 1.3, "tight": 1.08}, per_round=3000
    )
    thresholds = Thresholds(
        Levels(), {"noisy": Levels(0.40, 0.40, 0.80), "tight": Levels(0.05, 0.10, 0.20)}
    )
    comparison = compare_reports(
        synthetic.report(base), synthetic.report(cur), thresholds=thresholds
    )
    by_name = {r.operation: r for r in comparison.results}
    assert by_name["noisy"].verdict is Verdict.UNCHANGED
    assert (by_name["tight"].verdict, by_name["tight"].level) == (Verdict.REGRESSED, Level.MINOR)


def test_exit_status_and_findings_follow_fail_on() -> None:
    rng = random.Random(22)
    base, cur = _ops(
        rng, {"a": 1.0, "b": 1.0, "c": 1.0, "minor_op": 1.15, "warn_op": 1.3}, per_round=1000
    )
    comparison = compare_reports(
        synthetic.report(base), synthetic.report(cur), baseline_label="main"
    )
    assert [(r.operation, r.level) for r in comparison.regressions()] == [
        ("minor_op", Level.MINOR),
        ("warn_op", Level.WARNING),
    ]
    assert comparison.worst_level() is Level.WARNING
    assert exit_status(comparison) == 1
    assert exit_status(comparison, Level.WARNING) == 1
    assert exit_status(comparison, Level.CRITICAL) == 0
    findings = comparison_findings(comparison, Level.WARNING)
    assert [(f.kind, f.operation, f.severity) for f in findings] == [
        ("regression", "warn_op", Severity.ERROR),
        ("regression", "minor_op", Severity.WARNING),
    ]
    assert findings[0].message.startswith("warning regression: warn_op p50 ")
    assert findings[0].evidence.baseline_run == "main"
    assert findings[0].evidence.level == "warning"


def test_threshold_text_parses_or_fails_with_one_clear_line() -> None:
    assert parse_fraction("10%") == pytest.approx(0.10)
    assert parse_fraction("15") == pytest.approx(0.15)
    assert parse_fraction("0.2") == pytest.approx(0.20)
    for bad in ("ten", "-5%", "0", "nan%"):
        with pytest.raises(ConfigError, match="percentage"):
            parse_fraction(bad)
    name, levels = parse_operation_threshold("read_program=25%", Levels())
    assert (name, levels) == ("read_program", Levels(0.25, 0.25, 0.50))
    assert parse_operation_threshold("x=5%/10%/30%", Levels())[1] == Levels(0.05, 0.10, 0.30)
    with pytest.raises(ConfigError, match="NAME=PERCENT"):
        parse_operation_threshold("read_program", Levels())
    with pytest.raises(ConfigError, match="minor <= warning <= critical"):
        Levels(0.3, 0.2, 0.5)
    thresholds = levels_from_options(0.15, None, None, ["w=30%"])
    assert thresholds.default == Levels(0.15, 0.20, 0.50)
    assert thresholds.for_operation("w") == Levels(0.30, 0.30, 0.50)
    assert thresholds.for_operation("other") == thresholds.default


def test_a_baseline_on_another_event_loop_is_a_warning_when_both_recorded_theirs() -> None:
    rng = random.Random(2)
    base, cur = _ops(rng, {"a": 1.0, "b": 1.0, "c": 1.0}, per_round=10)

    def on(loop: str | None, ops: dict[str, list[float]]) -> Report:
        report = synthetic.report(ops)
        return dataclasses.replace(report, run=dataclasses.replace(report.run, loop=loop))

    warned = compare_reports(on("asyncio", base), on("uvloop", cur))
    assert "event loop differs: 'asyncio' in the baseline, 'uvloop' now" in warned.warnings
    assert not warned.regressions()
    # A report written before the loop was recorded says nothing of it: no warning.
    for before, now in (("asyncio", "asyncio"), (None, "uvloop"), ("uvloop", None)):
        comparison = compare_reports(on(before, base), on(now, cur))
        assert not [w for w in comparison.warnings if "event loop" in w]
