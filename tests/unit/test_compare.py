"""The regression gate on seeded samples: quiet on noise, strict on real slowdowns."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from dbprobe.errors import ComparisonMismatchError, ConfigError, UsageError
from dbprobe.gate.compare import (
    Verdict,
    compare_operations,
    compare_reports,
    comparison_findings,
    exit_status,
    machine_factor,
)
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
from tests import synthetic

# Sizes a default run records per operation: a few hundred to a few thousand.
SIZES = (300, 1000, 3000)
SIGMA = 0.5  # lognormal shape: p99 about 3.2 times the median


def _verdict(
    baseline: list[float], current: list[float], **kwargs: object
) -> tuple[Verdict, Level | None]:
    result = compare_operations(
        synthetic.operation("op", baseline),
        synthetic.operation("op", current),
        **kwargs,  # type: ignore[arg-type]
    )
    return result.verdict, result.level


def test_two_samples_of_one_distribution_are_unchanged_in_at_least_95_of_100_trials() -> None:
    verdicts: Counter[Verdict] = Counter()
    for trial in range(100):
        rng = random.Random(trial)
        n = SIZES[trial % 3]
        verdict, _ = _verdict(
            synthetic.lognormal_ms(rng, n, sigma=SIGMA), synthetic.lognormal_ms(rng, n, sigma=SIGMA)
        )
        verdicts[verdict] += 1
    assert verdicts[Verdict.UNCHANGED] >= 95, verdicts
    assert verdicts[Verdict.REGRESSED] <= 2, verdicts


@pytest.mark.parametrize(
    ("factor", "level"),
    [(1.15, Level.MINOR), (1.30, Level.WARNING), (1.60, Level.CRITICAL)],
    ids=["15%-minor", "30%-warning", "60%-critical"],
)
def test_a_slower_copy_is_a_regression_of_the_level_its_size_calls_for(
    factor: float, level: Level
) -> None:
    for trial in range(20):
        rng = random.Random(1000 + trial)
        baseline = synthetic.lognormal_ms(rng, SIZES[trial % 3], sigma=SIGMA)
        verdict, got = _verdict(baseline, [v * factor for v in baseline])
        assert (verdict, got) == (Verdict.REGRESSED, level), f"trial {trial}"


def test_a_5_percent_slower_copy_is_never_a_regression() -> None:
    for trial in range(100):
        rng = random.Random(2000 + trial)
        baseline = synthetic.lognormal_ms(rng, SIZES[trial % 3], sigma=SIGMA)
        verdict, level = _verdict(baseline, [v * 1.05 for v in baseline])
        assert (verdict, level) == (Verdict.UNCHANGED, None), f"trial {trial}"


def test_independent_samples_of_a_slower_distribution_get_the_right_level() -> None:
    # Not a copy: both samples drawn afresh, as two real runs are.
    for factor, level in ((1.15, Level.MINOR), (1.30, Level.WARNING), (1.60, Level.CRITICAL)):
        levels: Counter[Level | None] = Counter()
        for trial in range(30):
            rng = random.Random(3000 + trial)
            _, got = _verdict(
                synthetic.lognormal_ms(rng, 3000, sigma=0.3),
                synthetic.lognormal_ms(rng, 3000, sigma=0.3, median_ms=2.0 * factor),
            )
            levels[got] += 1
        assert levels[level] >= 28, (factor, levels)


def test_a_faster_copy_is_an_improvement_and_never_a_regression() -> None:
    rng = random.Random(7)
    baseline = synthetic.lognormal_ms(rng, 1000, sigma=SIGMA)
    assert _verdict(baseline, [v * 0.7 for v in baseline]) == (Verdict.IMPROVED, None)


def test_a_slowdown_of_the_tail_only_is_seen_by_p99_and_not_by_p50() -> None:
    rng = random.Random(9)
    baseline = synthetic.lognormal_ms(rng, 3000, sigma=SIGMA)
    cutoff = sorted(baseline)[int(0.9 * len(baseline))]
    # The slowest 10 % doubled: the median does not move, p99 does.
    current = [v * 2 if v >= cutoff else v for v in baseline]
    assert _verdict(baseline, current, metric=Metric.P50) == (Verdict.UNCHANGED, None)
    assert _verdict(baseline, current, metric=Metric.P99) == (Verdict.REGRESSED, Level.CRITICAL)


def test_throughput_regresses_only_with_a_significant_latency_rise() -> None:
    rng = random.Random(4)
    values = synthetic.lognormal_ms(rng, 1000, sigma=SIGMA)
    base = synthetic.operation("op", values, duration_s=10.0)
    # Same latencies, 30 % fewer per second (e.g. fewer workers): no latency evidence.
    fewer = synthetic.operation("op", values, duration_s=13.0)
    result = compare_operations(base, fewer, metric=Metric.THROUGHPUT)
    assert result.worse == pytest.approx(1.3)
    assert result.verdict is Verdict.UNCHANGED
    assert result.interval is None
    slower = synthetic.operation("op", [v * 1.3 for v in values], duration_s=13.0)
    result = compare_operations(base, slower, metric=Metric.THROUGHPUT)
    assert (result.verdict, result.level) == (Verdict.REGRESSED, Level.WARNING)
    assert result.ratio == pytest.approx(1 / 1.3)


def test_too_few_operations_on_a_side_give_no_verdict() -> None:
    rng = random.Random(1)
    result = compare_operations(
        synthetic.operation("op", synthetic.lognormal_ms(rng, 500)),
        synthetic.operation("op", [v * 3 for v in synthetic.lognormal_ms(rng, 5)]),
    )
    assert result.verdict is Verdict.INSUFFICIENT
    assert result.level is None
    assert result.current_count == 5


def _ops(
    rng: random.Random, factors: dict[str, float], n: int = 800
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    base = {name: synthetic.lognormal_ms(rng, n, median_ms=1 + i) for i, name in enumerate(factors)}
    return base, {name: [v * factors[name] for v in values] for name, values in base.items()}


def test_a_machine_wide_slowdown_is_divided_out_and_the_operation_that_changed_stands_out() -> None:
    rng = random.Random(12)
    # Everything 40 % slower (a busier machine); `write` 2.5x slower on top of that.
    base, cur = _ops(rng, {"a": 1.4, "b": 1.4, "c": 1.4, "d": 1.4, "write": 1.4 * 2.5})
    comparison = compare_reports(synthetic.report(base), synthetic.report(cur))
    assert comparison.machine_factor == pytest.approx(1.4, rel=0.01)
    assert [r.operation for r in comparison.regressions()] == ["write"]
    (write,) = comparison.regressions()
    assert write.level is Level.CRITICAL
    assert write.ratio == pytest.approx(2.5, rel=0.01)
    assert write.raw_ratio == pytest.approx(3.5, rel=0.01)
    assert any("every operation is about 40% worse" in w for w in comparison.warnings)
    absolute = compare_reports(synthetic.report(base), synthetic.report(cur), normalize=False)
    assert absolute.machine_factor == 1.0
    assert {r.operation for r in absolute.regressions()} == {"a", "b", "c", "d", "write"}


def test_with_fewer_than_three_operations_the_verdicts_are_absolute_and_say_so() -> None:
    rng = random.Random(13)
    base, cur = _ops(rng, {"a": 1.3, "b": 1.0})
    comparison = compare_reports(synthetic.report(base), synthetic.report(cur))
    assert comparison.machine_factor == 1.0
    assert [r.operation for r in comparison.regressions()] == ["a"]
    assert any("only 2 comparable operation(s)" in w for w in comparison.warnings)


def test_machine_factor_is_the_geometric_median() -> None:
    assert machine_factor([1.2, 1.3, 5.0]) == pytest.approx(1.3)
    assert machine_factor([0.5, 2.0]) == pytest.approx(1.0)


def test_runs_of_different_probes_scales_or_backends_are_refused_unless_allowed() -> None:
    rng = random.Random(2)
    base, cur = _ops(rng, {"a": 1.0, "b": 1.0, "c": 1.0}, n=100)
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
    base, cur = _ops(rng, {"a": 1.0, "b": 1.0, "c": 1.0}, n=100)
    comparison = compare_reports(
        synthetic.report(base, host="ci-1"),
        synthetic.report(cur, host="ci-7", config=synthetic.run_config(threads=8)),
    )
    assert comparison.warnings == (
        "the runs are from different hosts (ci-1 vs ci-7): differences may be the machines'",
        "threads differs: 4 in the baseline, 8 now",
    )
    assert not comparison.regressions()


def test_operations_in_one_run_only_are_listed_apart() -> None:
    rng = random.Random(2)
    base, cur = _ops(rng, {"a": 1.0, "b": 1.0, "c": 1.0}, n=100)
    base["gone"] = base.pop("c")
    comparison = compare_reports(synthetic.report(base), synthetic.report(cur))
    assert comparison.only_in_baseline == ("gone",)
    assert comparison.only_in_current == ("c",)
    assert [r.operation for r in comparison.results] == ["a", "b"]


def test_per_operation_thresholds_override_the_default() -> None:
    rng = random.Random(21)
    base, cur = _ops(rng, {"a": 1.0, "b": 1.0, "c": 1.0, "noisy": 1.3, "tight": 1.08}, n=3000)
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
    base, cur = _ops(rng, {"a": 1.0, "b": 1.0, "c": 1.0, "minor_op": 1.15, "warn_op": 1.3})
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
