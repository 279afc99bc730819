"""Comparing a run with a baseline: per-operation verdicts that noise does not fool.

A single-number gate (pytest-benchmark's ``--benchmark-compare-fail``,
github-action-benchmark's alert threshold) fails a build whenever a median
moves by more than X %, and on a shared CI machine medians move by that much
from noise alone. Here a regression is called only when the change is

1. **significant**: for p50 (and throughput), the Mann-Whitney U test of the
   two latency histograms gives p < ``alpha`` (default 0.01) with the current
   run the slower one, *and* the bootstrap 95% confidence interval of the
   median's ratio lies wholly above 1 (the metric itself moved, not just the
   distribution's shape). For p95/p99 the U test is the wrong tool — it
   compares whole distributions, and a slowdown of the slowest few percent
   barely moves it — so the significance is the bootstrap test of the
   percentile's ratio itself (p < ``alpha``);
3. **beyond the threshold**: the point ratio of the metric is at least
   ``1 + threshold`` (default 10 %); warning from 20 %, critical from 50 %.

Why the point ratio and not the interval's lower bound for (3): requiring the
whole interval beyond the threshold misses most real 15 % regressions in runs
of a few hundred transactions (the interval of a median ratio is then
±6-10 % wide), while (1) and (2) already keep the false-alarm rate of an
unchanged operation at or below ``alpha``. The cost is that a real change
*near* the threshold is a coin toss between "unchanged" and "minor"; the
interval is in every result (``confident`` says whether all of it is beyond
the threshold) so a reader can tell a borderline call from a clear one.

What statistics cannot see is the machine: on a shared CI host two runs of
the same code minutes apart differ by 10-140 % (measured here: back-to-back
identical runs of three operations gave ratios of 1.09/1.09/1.13,
2.35/2.28/2.43, 0.94/0.92/0.95 — different every time, but the same for
every operation of a run). Every U test is then "significant". So by default
each operation is judged against the *run-wide shift*, the median over the
operations of how many times worse each got (:func:`machine_factor`): a
busier machine slows every operation alike and is divided out; a code change
slows the operations it touches and stands out. A shift common to all
operations is not called a regression (it cannot be told from the machine in
one comparison) but is reported as a warning; ``normalize=False`` gates on
raw ratios, for quiet dedicated hardware. With fewer than three comparable
operations there is no run-wide shift to estimate and the verdicts are absolute.

Throughput is one number per run, with no distribution to test. Its ratio is
reported, and its significance is that of the same operation's latency
histogram: in dbprobe's closed loop each worker starts its next transaction
when the last one ends, so the throughput of a fixed mix can only fall if
latency rose (Little's law: throughput = workers / mean latency), and the U
test says whether it did. A throughput drop with no significant latency rise
is reported as unchanged. (In an open loop, ``--rate``, throughput is the
arrival rate until the target saturates: compare latency there.)
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

from dbprobe.errors import ComparisonMismatchError, ConfigError
from dbprobe.gate.stats import RatioInterval, bootstrap_quantile_ratio, mann_whitney_u
from dbprobe.gate.thresholds import Level, Levels, Metric, Thresholds
from dbprobe.metrics.distribution import Distribution
from dbprobe.result.findings import Finding, FindingKind, RegressionEvidence, Severity
from dbprobe.result.model import OperationReport, Report

__all__ = [
    "DEFAULT_ALPHA",
    "MIN_COUNT",
    "CompareResult",
    "Comparison",
    "RunRef",
    "Verdict",
    "compare_operations",
    "compare_reports",
    "comparison_findings",
    "exit_status",
    "machine_factor",
]

#: Significance level of the U test. 0.01 rather than the customary 0.05: a
#: gate compares every operation on every build, so its false alarms add up.
DEFAULT_ALPHA = 0.01
#: Fewer committed operations than this on either side: no verdict.
MIN_COUNT = 10


class Verdict(enum.StrEnum):
    IMPROVED = "improved"
    UNCHANGED = "unchanged"
    REGRESSED = "regressed"
    INSUFFICIENT = "insufficient data"


@dataclass(frozen=True)
class CompareResult:
    """One operation, one metric: baseline against current, and the verdict.

    Attributes:
        operation, metric: what was compared.
        baseline_value, current_value: the metric in ``metric.unit`` (computed
            from the histograms for latency: within 0.1 % of the report's table).
        raw_ratio: ``current_value / baseline_value``.
        machine_factor: the run-wide shift judged against (1.0: none).
        ratio: the ratio judged, ``raw_ratio`` with the run-wide shift taken out.
        worse: how many times worse the operation is, judged (``ratio`` for
            latency, ``1 / ratio`` for throughput): 1.15 means 15 % worse.
        interval: bootstrap CI of ``ratio`` (None for throughput).
        p_value: two-sided p of the test the verdict rests on (``test``).
        test: ``"mann-whitney"`` (p50, throughput), ``"bootstrap"`` (p95,
            p99) or ``"none"`` (insufficient data).
        effect: P(current latency > baseline latency) by the U statistic,
            0.5 for no shift.
        verdict: improved, unchanged, regressed or insufficient data.
        level: minor / warning / critical for a regression, else None.
        levels: the thresholds applied to this operation.
        baseline_count, current_count: committed operations on each side.
    """

    operation: str
    metric: Metric
    baseline_value: float
    current_value: float
    raw_ratio: float
    machine_factor: float
    ratio: float
    worse: float
    interval: RatioInterval | None
    p_value: float
    test: str
    effect: float
    verdict: Verdict
    level: Level | None
    levels: Levels
    baseline_count: int
    current_count: int

    @property
    def change(self) -> float:
        """Signed change judged (run-wide shift taken out): +0.15 for 15 % higher."""
        return self.ratio - 1

    @property
    def raw_change(self) -> float:
        """Signed change of the metric's value as measured."""
        return self.raw_ratio - 1

    @property
    def confident(self) -> bool:
        """Whether the whole confidence interval is beyond the minor threshold.

        Only for a verdict other than unchanged; a regression that is not
        confident is a borderline call (its true size may be below the threshold).
        """
        if self.interval is None or self.verdict not in (Verdict.REGRESSED, Verdict.IMPROVED):
            return False
        bound = 1 + self.levels.minor
        if self.verdict is Verdict.REGRESSED:
            return self.interval.low >= bound
        return self.interval.high <= 1 / bound

    def describe(self) -> str:
        """One line: values, change, interval, p-value and verdict."""
        unit = self.metric.unit
        text = (
            f"{self.operation} {self.metric.value} {self.baseline_value:.3f} -> "
            f"{self.current_value:.3f} {unit} ({self.raw_change:+.1%}"
        )
        if self.machine_factor != 1.0:
            text += f"; {self.change:+.1%} against the run-wide x{self.machine_factor:.2f}"
        if self.interval is not None:
            text += (
                f", {self.interval.confidence:.0%} CI {self.interval.low - 1:+.1%}"
                f"..{self.interval.high - 1:+.1%}"
            )
        text += f", p={self.p_value:.2g}" if self.test != "none" else ""
        text += f"): {self.verdict.value}"
        return text + (f" ({self.level.value})" if self.level is not None else "")


@dataclass(frozen=True)
class RunRef:
    """Which run a side of a comparison is: enough to name it in a report."""

    probe: str
    backend: str
    scale: str
    host: str
    started_at: str
    label: str = ""

    @classmethod
    def of(cls, report: Report, label: str = "") -> RunRef:
        return cls(
            report.run.probe,
            report.target.backend,
            report.target.scale,
            report.run.host,
            report.run.started_at.isoformat(timespec="seconds"),
            label,
        )


@dataclass(frozen=True)
class Comparison:
    """A current run against a baseline, operation by operation.

    Attributes:
        baseline, current: the two runs.
        metric, alpha: what was compared, at which significance level.
        results: one per operation present in both runs, in the current run's order.
        only_in_baseline, only_in_current: operations that cannot be compared.
        warnings: differences between the runs that make the comparison less
            trustworthy without making it meaningless (another host, other options).
        machine_factor: the run-wide shift the operations were judged against
            (1.0 when not normalised): 1.3 means everything was 30 % worse.
    """

    baseline: RunRef
    current: RunRef
    metric: Metric
    alpha: float
    results: tuple[CompareResult, ...]
    only_in_baseline: tuple[str, ...] = ()
    only_in_current: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    machine_factor: float = 1.0

    def regressions(self, at_least: Level = Level.MINOR) -> tuple[CompareResult, ...]:
        return tuple(
            r for r in self.results if r.level is not None and r.level.rank >= at_least.rank
        )

    def summary(self) -> str:
        """``2 regressions (1 critical, 1 minor), 1 improvement, 3 unchanged``."""
        regressions = self.regressions()
        parts: list[str] = []
        if regressions:
            by_level = [
                f"{sum(r.level is level for r in regressions)} {level.value}"
                for level in (Level.CRITICAL, Level.WARNING, Level.MINOR)
                if any(r.level is level for r in regressions)
            ]
            plural = "s" if len(regressions) > 1 else ""
            parts.append(f"{len(regressions)} regression{plural} ({', '.join(by_level)})")
        else:
            parts.append("no regression")
        for verdict in (Verdict.IMPROVED, Verdict.UNCHANGED, Verdict.INSUFFICIENT):
            n = sum(r.verdict is verdict for r in self.results)
            if n:
                parts.append(f"{n} {verdict.value}")
        return ", ".join(parts)

    def worst_level(self) -> Level | None:
        levels = [r.level for r in self.results if r.level is not None]
        return max(levels, key=lambda level: level.rank) if levels else None


def exit_status(comparison: Comparison, fail_on: Level = Level.MINOR) -> int:
    """1 when a regression at or above ``fail_on`` was found, else 0 (``--fail-on``)."""
    return 1 if comparison.regressions(fail_on) else 0


def comparison_findings(
    comparison: Comparison, fail_on: Level = Level.MINOR
) -> tuple[Finding, ...]:
    """Findings of kind ``regression`` (and ``improvement``), for reports.

    A regression at or above ``fail_on`` is severity ERROR, one below it
    WARNING: a report carrying these findings fails the CLI's usual rule (any
    ERROR finding exits 1) exactly when :func:`exit_status` says 1.
    """
    found: list[Finding] = []
    for r in comparison.results:
        if r.verdict not in (Verdict.REGRESSED, Verdict.IMPROVED):
            continue
        evidence = RegressionEvidence(
            metric=r.metric.value,
            baseline=round(r.baseline_value, 3),
            current=round(r.current_value, 3),
            unit=r.metric.unit,
            ratio=round(r.ratio, 4),
            ci=(round(r.interval.low, 4), round(r.interval.high, 4)) if r.interval else None,
            p_value=float(f"{r.p_value:.3g}"),
            baseline_count=r.baseline_count,
            current_count=r.current_count,
            baseline_run=comparison.baseline.label or comparison.baseline.started_at,
        )
        if r.verdict is Verdict.REGRESSED:
            assert r.level is not None
            severity = Severity.ERROR if r.level.rank >= fail_on.rank else Severity.WARNING
            found.append(
                Finding(
                    FindingKind.REGRESSION,
                    severity,
                    r.operation,
                    f"{r.level.value} regression: {r.describe()}",
                    replace(evidence, level=r.level.value),
                )
            )
        else:
            found.append(
                Finding(FindingKind.IMPROVEMENT, Severity.INFO, r.operation, r.describe(), evidence)
            )
    return tuple(sorted(found, key=lambda f: f.severity.rank))


@dataclass(frozen=True)
class _Pair:
    """One operation's two sides, decoded once."""

    name: str
    base: Distribution
    cur: Distribution
    base_throughput: float
    cur_throughput: float

    @classmethod
    def of(cls, baseline: OperationReport, current: OperationReport) -> _Pair:
        return cls(
            current.name,
            Distribution.from_encoded_histogram(baseline.histogram),
            Distribution.from_encoded_histogram(current.histogram),
            baseline.throughput_per_s,
            current.throughput_per_s,
        )

    def values(self, metric: Metric) -> tuple[float, float]:
        """The metric on each side (NaN where there is nothing to measure)."""
        q = metric.quantile
        if q is None:
            return self.base_throughput, self.cur_throughput
        return (
            self.base.quantile(q) / 1000 if self.base.count else math.nan,
            self.cur.quantile(q) / 1000 if self.cur.count else math.nan,
        )

    def raw_worse(self, metric: Metric) -> float | None:
        """How many times worse the metric is, when both sides can be compared."""
        if min(self.base.count, self.cur.count) < MIN_COUNT:
            return None
        before, after = self.values(metric)
        if not before > 0 or not after > 0:
            return None
        return before / after if metric.higher_is_better else after / before


def compare_operations(
    baseline: OperationReport,
    current: OperationReport,
    *,
    metric: Metric = Metric.P50,
    levels: Levels | None = None,
    alpha: float = DEFAULT_ALPHA,
    resamples: int = 1000,
    seed: int = 0,
    machine_factor: float = 1.0,
) -> CompareResult:
    """Compare one operation of two runs (pure; the bootstrap is seeded by ``seed``).

    ``machine_factor`` is the run-wide shift to judge the operation against
    (see :func:`compare_reports`): the current latencies are divided by it
    (throughput multiplied) before testing.
    """
    return _judge(
        _Pair.of(baseline, current),
        metric,
        levels or Levels(),
        alpha=alpha,
        resamples=resamples,
        seed=seed,
        factor=machine_factor,
    )


def _judge(
    pair: _Pair,
    metric: Metric,
    levels: Levels,
    *,
    alpha: float,
    resamples: int,
    seed: int,
    factor: float,
) -> CompareResult:
    base_value, cur_value = pair.values(metric)
    raw_worse = pair.raw_worse(metric)
    raw_ratio = cur_value / base_value if base_value and not math.isnan(base_value) else math.nan
    if raw_worse is None:
        return CompareResult(
            operation=pair.name,
            metric=metric,
            baseline_value=base_value,
            current_value=cur_value,
            raw_ratio=raw_ratio,
            machine_factor=factor,
            ratio=math.nan,
            worse=math.nan,
            interval=None,
            p_value=1.0,
            test="none",
            effect=0.5,
            verdict=Verdict.INSUFFICIENT,
            level=None,
            levels=levels,
            baseline_count=pair.base.count,
            current_count=pair.cur.count,
        )
    # Judge the current run with the run-wide shift taken out: latencies
    # divided by the factor (a strictly increasing map: ranks are kept).
    cur = pair.cur
    if factor != 1.0:
        cur = Distribution(tuple(v / factor for v in cur.values), cur.counts)
    test = mann_whitney_u(pair.base, cur)
    worse = raw_worse / factor
    interval: RatioInterval | None = None
    q = metric.quantile
    if q is not None:
        interval = bootstrap_quantile_ratio(
            pair.base, cur, q, rng=random.Random(seed), resamples=resamples
        )
    if interval is not None and q is not None and q > 0.5:
        # A tail percentile: the bootstrap test of the percentile itself.
        test_name, p_value, slower = "bootstrap", interval.p_value, worse > 1
        agrees = True
    else:
        # The median or throughput: the U test, and (for the median) its
        # interval must agree on the direction — throughput falls only when
        # latency rises.
        test_name, p_value, slower = "mann-whitney", test.p_value, test.current_is_larger
        agrees = interval is None or (interval.low > 1 if slower else interval.high < 1)
    verdict, level = Verdict.UNCHANGED, None
    if p_value < alpha and agrees and slower:
        level = levels.level_of(worse)
        if level is not None:
            verdict = Verdict.REGRESSED
    elif p_value < alpha and agrees and levels.level_of(1 / worse) is not None:
        verdict = Verdict.IMPROVED
    return CompareResult(
        operation=pair.name,
        metric=metric,
        baseline_value=base_value,
        current_value=cur_value,
        raw_ratio=raw_ratio,
        machine_factor=factor,
        ratio=1 / worse if metric.higher_is_better else worse,
        worse=worse,
        interval=interval,
        p_value=p_value,
        test=test_name,
        effect=test.effect,
        verdict=verdict,
        level=level,
        levels=levels,
        baseline_count=pair.base.count,
        current_count=pair.cur.count,
    )


#: The run-wide shift is estimated only from at least this many operations.
MIN_OPERATIONS_TO_NORMALIZE = 3


def machine_factor(worse: Sequence[float]) -> float:
    """The run-wide shift: the median of the operations' ``worse`` ratios (geometric).

    A median, so that a minority of operations that really changed does not
    move it; on the log scale, so that 2x slower and 2x faster weigh alike.
    """
    logs = sorted(math.log(w) for w in worse)
    mid = len(logs) // 2
    middle = logs[mid] if len(logs) % 2 else (logs[mid - 1] + logs[mid]) / 2
    return math.exp(middle)


def _mismatch_warnings(baseline: Report, current: Report) -> list[str]:
    warnings: list[str] = []
    if baseline.run.host != current.run.host:
        warnings.append(
            f"the runs are from different hosts ({baseline.run.host} vs {current.run.host}): "
            "differences may be the machines'"
        )
    pairs: list[tuple[str, object, object]] = [
        ("seed", baseline.target.seed, current.target.seed),
        ("isolation", baseline.target.isolation, current.target.isolation),
        ("server version", baseline.target.server_version, current.target.server_version),
        ("Python", baseline.run.python, current.run.python),
    ]
    options = baseline.config.measurement_options()
    now = current.config.measurement_options()
    pairs += [(key, options[key], now[key]) for key in options]
    for name, before, after in pairs:
        if before != after:
            warnings.append(f"{name} differs: {before!r} in the baseline, {after!r} now")
    for side, report in (("baseline", baseline), ("current", current)):
        if report.run.interrupted:
            warnings.append(f"the {side} run was interrupted: its figures are partial")
    return warnings


def compare_reports(
    baseline: Report,
    current: Report,
    *,
    metric: Metric = Metric.P50,
    thresholds: Thresholds | None = None,
    allow_mismatch: bool = False,
    alpha: float = DEFAULT_ALPHA,
    resamples: int = 1000,
    seed: int = 0,
    baseline_label: str = "",
    current_label: str = "",
    normalize: bool = True,
) -> Comparison:
    """Compare every operation the two runs share.

    With ``normalize`` (the default) and at least three comparable
    operations, each operation is judged against the run-wide shift — the
    median over operations of how many times worse the metric got
    (:func:`machine_factor`) — rather than against 1: a busier machine slows
    every operation alike, a code change slows the operations it touches.
    The factor is in :attr:`Comparison.machine_factor`, and a warning says so
    when it is beyond the minor threshold. ``normalize=False`` judges the
    raw ratios (for dedicated, quiet hardware, where a run-wide shift is news).

    Raises ComparisonMismatchError when the runs are of different probes,
    scales or backends, unless ``allow_mismatch``; other differences (host,
    options) become :attr:`Comparison.warnings`.
    """
    if not 0 < alpha < 1:
        raise ConfigError(f"the significance level must be within (0, 1), got {alpha}")
    thresholds = thresholds or Thresholds()
    mismatches = [
        f"{what} {before!r} vs {after!r}"
        for what, before, after in (
            ("probe", baseline.run.probe, current.run.probe),
            ("scale", baseline.target.scale, current.target.scale),
            ("backend", baseline.target.backend, current.target.backend),
        )
        if before != after
    ]
    warnings = _mismatch_warnings(baseline, current)
    if mismatches:
        if not allow_mismatch:
            raise ComparisonMismatchError(
                f"the baseline is not comparable with this run ({'; '.join(mismatches)}); "
                "pass --allow-mismatch to compare anyway"
            )
        warnings.insert(0, f"compared despite different {'; '.join(mismatches)}")
    base_ops = {op.name: op for op in baseline.operations}
    cur_names = [op.name for op in current.operations]
    pairs = [_Pair.of(base_ops[op.name], op) for op in current.operations if op.name in base_ops]
    factor = 1.0
    comparable = [w for p in pairs if (w := p.raw_worse(metric)) is not None]
    if normalize and len(comparable) >= MIN_OPERATIONS_TO_NORMALIZE:
        factor = machine_factor(comparable)
        if max(factor, 1 / factor) >= 1 + thresholds.default.minor:
            warnings.append(
                f"every operation is about {abs(factor - 1):.0%} "
                f"{'worse' if factor > 1 else 'better'} than in the baseline: a shift common "
                "to all operations cannot be told from a busier or quieter machine, so the "
                "verdicts are relative to it (compare with normalize off, --absolute, on "
                "dedicated hardware to gate on it)"
            )
    elif normalize and pairs:
        warnings.append(
            f"only {len(comparable)} comparable operation(s): a run-wide shift (a busier "
            "machine) cannot be separated from a real change, so the verdicts are absolute"
        )
    results = tuple(
        _judge(
            pair,
            metric,
            thresholds.for_operation(pair.name),
            alpha=alpha,
            resamples=resamples,
            seed=seed,
            factor=factor,
        )
        for pair in pairs
    )
    return Comparison(
        baseline=RunRef.of(baseline, baseline_label),
        current=RunRef.of(current, current_label),
        metric=metric,
        alpha=alpha,
        results=results,
        only_in_baseline=tuple(n for n in base_ops if n not in set(cur_names)),
        only_in_current=tuple(n for n in cur_names if n not in base_ops),
        warnings=tuple(warnings),
        machine_factor=factor,
    )
