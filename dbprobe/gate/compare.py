"""Comparing a run with a baseline: per-operation verdicts, right in both directions.

A single-number gate (pytest-benchmark's ``--benchmark-compare-fail``,
github-action-benchmark's alert threshold) fails a build whenever a median
moves by more than X %, and on a shared CI machine medians move by that much
from noise alone. Worse, a test that takes every latency of a run as an
independent sample calls any such move significant: the latencies measured
in the same few hundred milliseconds share that window's interference.

So the samples here are **rounds** (:mod:`dbprobe.load.rounds`): every run
measures its operations interleaved in rounds, and each round gives one
figure per operation (its p50, p95 or p99, or its throughput). An
operation's verdict rests on its rounds in the baseline against its rounds
now:

1. **significant**: the Mann-Whitney U test of the two sets of round figures
   gives p < ``alpha`` (default 0.01, Holm-corrected over the operations
   compared; exact for small samples), and the 95 % interval of the ratio
   (Hodges-Lehmann, with the interval that goes with the U test) lies wholly
   on one side of 1;
2. **beyond the threshold, surely**: the whole interval is at least
   ``1 + threshold`` worse (default 10 %); the level (warning from 20 %,
   critical from 50 %) is that of the ratio itself. A significant change
   whose interval reaches inside the threshold is insufficient data, with
   the rounds that would settle it: identical runs on a shared machine differ
   by 10-15 % for some operations, so a point estimate near the threshold
   would be a coin toss between a false alarm and a miss;
3. otherwise **unchanged** only when the rounds were enough to see a change of
   the threshold at the spread observed (:func:`~dbprobe.gate.stats.samples_needed`,
   80 % power); when they were not, the verdict is **insufficient data**, with
   the number of rounds that would be enough. Fewer than :data:`MIN_ROUNDS`
   rounds a side is insufficient data too: below that no U test reaches 0.01.

A slower machine is told from slower code by **references** measured in the
same rounds (:mod:`dbprobe.load.calibration`: a fixed CPU-bound loop, a
``SELECT 1`` round trip, and the time the run's threads waited for a CPU).
A shift common to every operation is exactly what a missing index, a slower
driver or an N+1 everywhere looks like, so it is never divided out on its
own. The verdicts are absolute unless the CPU loop or the CPU wait itself
moved significantly, by a factor ``m`` (the band spans every moved one, and
an operation's own rounds' wait); then a
change of anything from 1 to ``m`` is what the machine alone could have
done (an operation that waits does not slow with the CPU, one that computes
slows as much), so only what lies beyond that band is judged
(:func:`~dbprobe.gate.rounds.judged_samples`), and the comparison says so
with the reference's own change. ``normalize=False`` (``--absolute``) never sets
the band. The round trip never sets it (it slows with the operations' own
load: :attr:`~dbprobe.gate.rounds.Reference.judges`); when it moved, a
warning says so, because a whole run of the same code can be slower in
every operation with it.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass

from dbprobe.errors import ComparisonMismatchError, ConfigError
from dbprobe.gate.plan_changes import plan_changes
from dbprobe.gate.references import ReferenceChange, operation_wait_change, reference_changes
from dbprobe.gate.rounds import MIN_ROUNDS, judged_samples, overall_value, p_value
from dbprobe.gate.stats import (
    hodges_lehmann_ratio,
    holm_levels,
    mann_whitney_u,
    samples_needed,
)
from dbprobe.gate.thresholds import Level, Levels, Metric, Thresholds
from dbprobe.gate.verdict import CompareResult, Verdict
from dbprobe.metrics.distribution import Distribution
from dbprobe.result.model import OperationReport, Report
from dbprobe.result.options import MAX_ROUNDS
from dbprobe.result.plan_evidence import PlanChangeEvidence

__all__ = [
    "DEFAULT_ALPHA",
    "MIN_ROUNDS",
    "CompareResult",
    "Comparison",
    "ReferenceChange",
    "RunRef",
    "Verdict",
    "compare_operations",
    "compare_reports",
]

#: Significance level of the U test. 0.01 rather than the customary 0.05: a
#: gate compares every operation on every build, so its false alarms add up.
DEFAULT_ALPHA = 0.01
#: The chance of seeing a change of the minor threshold, for "unchanged" to be a verdict.
POWER = 0.8


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
        plan_changes: statements explained in both runs (``--explain``) whose
            plan has another shape now, whatever their timings say.
        references: each machine reference's change (empty when a run lacks them).
        machine_factor: the change of the reference that moved most, when
            the verdicts set the machine's change aside (1.0: they did not):
            1.3 means the machine was 30 % slower now; :attr:`judged_by` is
            that reference's change.
        machine_band: the changes set aside as the machine's, from the
            lowest to the highest of 1 and every moved reference's change
            that may set it ((1.0, 1.0): none).
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
    references: tuple[ReferenceChange, ...] = ()
    judged_by: ReferenceChange | None = None
    machine_band: tuple[float, float] = (1.0, 1.0)
    plan_changes: tuple[PlanChangeEvidence, ...] = ()

    @property
    def reference(self) -> ReferenceChange | None:
        """The reference that set the machine band, else the CPU loop's change, or None."""
        return self.judged_by or next(iter(self.references), None)

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


def compare_operations(
    baseline: OperationReport,
    current: OperationReport,
    *,
    metric: Metric = Metric.P50,
    levels: Levels | None = None,
    alpha: float = DEFAULT_ALPHA,
    family: int = 1,
    machine_band: tuple[float, float] = (1.0, 1.0),
    rounds_hint: Callable[[int], str] | None = None,
) -> CompareResult:
    """Compare one operation of two runs on its round figures (pure).

    ``alpha`` is this operation's significance level (after the correction
    for the ``family`` of operations compared together, see
    :func:`compare_reports`); "unchanged" needs the power to see a change of
    the threshold at the family's level, ``DEFAULT_ALPHA / family``.
    ``machine_band`` is the range of changes the machine's moved references
    explain ((1.0, 1.0): none moved): that much is set aside
    (:func:`~dbprobe.gate.rounds.judged_samples`). ``rounds_hint(n)`` says
    how to run ``n`` rounds (the options), for an insufficient-data verdict.
    """
    levels = levels or Levels()
    judged = judged_samples(baseline, current, metric, machine_band)
    base, cur = judged.baseline, judged.current
    base_value, cur_value = overall_value(baseline, metric), overall_value(current, metric)
    make = functools.partial(
        CompareResult,
        operation=current.name,
        metric=metric,
        baseline_value=base_value,
        current_value=cur_value,
        raw_ratio=cur_value / base_value if base_value and not math.isnan(base_value) else math.nan,
        machine_band=machine_band,
        shift=judged.shift,
        within_machine=judged.within_machine,
        levels=levels,
        baseline_count=baseline.latency_ms.count,
        current_count=current.latency_ms.count,
        baseline_rounds=len(base),
        current_rounds=len(cur),
    )
    hint = rounds_hint or (lambda n: "")
    if not judged.enough:
        return make(
            ratio=math.nan,
            worse=math.nan,
            interval=None,
            p_value=1.0,
            test="none",
            effect=0.5,
            verdict=Verdict.INSUFFICIENT,
            level=None,
            rounds_needed=MIN_ROUNDS,
            rounds_hint=hint(MIN_ROUNDS),
        )
    test = mann_whitney_u(Distribution.from_values(base), Distribution.from_values(cur))
    ratio, interval = hodges_lehmann_ratio(base, cur)
    worse = 1 / ratio if metric.higher_is_better else ratio
    low, high = (interval.low, interval.high)
    worse_low, worse_high = (1 / high, 1 / low) if metric.higher_is_better else (low, high)
    measured = functools.partial(
        make,
        ratio=ratio,
        worse=worse,
        interval=interval,
        test="mann-whitney",
        effect=test.effect if not metric.higher_is_better else 1 - test.effect,
    )
    if judged.within_machine:
        # All of the change is what the machine alone could have done: no
        # regression, and "unchanged" only if the interval stays within the
        # band widened by the threshold on both sides.
        band_low, band_high = min(1.0, *machine_band), max(1.0, *machine_band)
        floor, ceiling = band_low / (1 + levels.minor), band_high * (1 + levels.minor)
        if floor <= worse_low and worse_high <= ceiling:
            return measured(p_value=1.0, verdict=Verdict.UNCHANGED, level=None)
        to_settle = max(
            _rounds_to_clear(worse, worse_high, ceiling, len(base), len(cur))
            if worse_high > ceiling
            else 0,
            _rounds_to_clear(worse, worse_low, floor, len(base), len(cur))
            if worse_low < floor
            else 0,
        )
        return measured(
            p_value=1.0,
            verdict=Verdict.INSUFFICIENT,
            level=None,
            rounds_needed=to_settle,
            rounds_hint=hint(to_settle),
        )
    # The interval is of the ratio: it must exclude 1, on the side the test found.
    excludes_one = interval.low > 1 or interval.high < 1
    significant = test.p_value < alpha and excludes_one
    slower = worse > 1
    verdict, level, borderline = Verdict.UNCHANGED, None, False
    needed: int | None = None
    beyond = levels.level_of(worse) if slower else levels.level_of(1 / worse)
    if significant and beyond is not None:
        sure = worse_low >= 1 + levels.minor if slower else worse_high <= 1 / (1 + levels.minor)
        if sure:
            verdict, level = (Verdict.REGRESSED, beyond) if slower else (Verdict.IMPROVED, None)
        else:
            # A change was seen, but its interval reaches inside the threshold:
            # two runs of the same code on a shared machine differ by that much
            # (measured here: 10-15 % for some operations). Calling it a
            # regression would be a coin toss; say how many rounds would settle it.
            verdict, borderline = Verdict.INSUFFICIENT, True
            needed = _rounds_to_clear(
                worse,
                worse_low if slower else worse_high,
                1 + levels.minor if slower else 1 / (1 + levels.minor),
                len(base),
                len(cur),
            )
    else:
        needed = max(
            MIN_ROUNDS,
            samples_needed(base, cur, change=levels.minor, alpha=DEFAULT_ALPHA / family),
        )
        if not significant and needed > min(len(base), len(cur)):
            # Nothing was seen, but these rounds could not have seen a change of
            # the threshold either: "unchanged" would be a guess.
            verdict = Verdict.INSUFFICIENT
    return measured(
        p_value=test.p_value,
        verdict=verdict,
        level=level,
        rounds_needed=needed if verdict is Verdict.INSUFFICIENT else None,
        rounds_hint=hint(needed) if verdict is Verdict.INSUFFICIENT and needed else "",
        borderline=borderline,
    )


def _rounds_to_clear(estimate: float, bound: float, threshold: float, n: int, m: int) -> int:
    """Rounds a side needs for an interval's ``bound`` to clear ``threshold`` (on the far side).

    An interval narrows as one over the square root of the rounds: the
    distance from the estimate to the bound, in logs, must shrink to the
    distance from the estimate to the threshold. Always more than there are,
    since the bound has not cleared it yet; an estimate at the threshold
    itself can never clear it, and asks for the most rounds dbprobe runs.
    """
    have = min(n, m)
    reach = abs(math.log(estimate) - math.log(bound))
    room = abs(math.log(estimate) - math.log(threshold))
    if room <= 0:
        return MAX_ROUNDS
    return min(MAX_ROUNDS, max(have + 1, math.ceil(have * (reach / room) ** 2)))


def _rounds_hint(report: Report) -> Callable[[int], str]:
    """How to run ``n`` rounds with this run's round length: the options to give."""
    config = report.config
    rounds = config.rounds or 0

    def hint(n: int) -> str:
        if rounds <= 0:
            return f"--rounds {n}"
        if config.duration_s:
            return f"--rounds {n} --duration {config.duration_s * n / rounds:.3g}"
        if config.transactions:
            return f"--rounds {n} --transactions {math.ceil(config.transactions * n / rounds)}"
        return f"--rounds {n}"

    return hint


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
    if baseline.run.loop is not None and current.run.loop is not None:
        # The loop's own time per call is in every latency: another loop moves them.
        pairs.append(("event loop", baseline.run.loop, current.run.loop))
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
    baseline_label: str = "",
    current_label: str = "",
    normalize: bool = True,
) -> Comparison:
    """Compare every operation the two runs share, on their rounds (see the module docstring).

    With ``normalize`` (the default) the change the machine's CPU reference
    can explain is set aside when, and only when, the reference moved; a
    warning says so with its change. ``normalize=False`` judges the absolute
    figures always.

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
    references = reference_changes(baseline, current, alpha)
    moved = sorted(
        (r for r in references if r.moved), key=lambda r: abs(math.log(r.ratio)), reverse=True
    )
    judging = [r for r in moved if r.reference.judges] if normalize else []
    judged_by = judging[0] if judging else None
    ratios = [r.ratio for r in judging]
    machine_band = (min([1.0, *ratios]), max([1.0, *ratios]))
    if not references:
        warnings.append(
            "no machine reference in both runs (a report written before dbprobe measured one): "
            "the verdicts are absolute, a slower machine cannot be told from slower code"
        )
    for change in moved:
        if change in judging:
            warnings.append(
                f"the machine itself changed: {change.describe()}; a change up to as much is "
                "set aside as the machine's (--absolute to judge the raw figures)"
            )
        elif change.reference.judges:
            warnings.append(f"the machine itself changed: {change.describe()}; judged absolute")
        else:
            warnings.append(
                f"{change.describe()}: the driver, the server or the machine's thread "
                "hand-offs changed, or this run's own load slowed it; it is not divided out, "
                "so a change of every operation by about as much may not be the code's"
            )
    if not any(op.rounds for op in (*baseline.operations, *current.operations)):
        warnings.append(
            "neither run has rounds (reports written before dbprobe measured in rounds): "
            "no verdict can be given; run both again with this dbprobe"
        )
    base_ops = {op.name: op for op in baseline.operations}
    cur_names = [op.name for op in current.operations]
    pairs = [(base_ops[op.name], op) for op in current.operations if op.name in base_ops]
    machine_factor = judged_by.ratio if judged_by else 1.0

    def band_of(b: OperationReport, c: OperationReport) -> tuple[float, float]:
        # The run's band, widened by the operation's own rounds' CPU wait when it moved.
        own = operation_wait_change(b, c, alpha) if normalize else None
        if own is None or not own.moved:
            return machine_band
        return min(machine_band[0], own.ratio), max(machine_band[1], own.ratio)

    bands = [band_of(b, c) for b, c in pairs]
    judged = [judged_samples(b, c, metric, band) for (b, c), band in zip(pairs, bands, strict=True)]
    p_values = [p_value(j) for j in judged]
    family = max(1, sum(p is not None for p in p_values))
    hint = _rounds_hint(current)
    results = tuple(
        compare_operations(
            b,
            c,
            metric=metric,
            levels=thresholds.for_operation(c.name),
            alpha=level,
            family=family,
            machine_band=band,
            rounds_hint=hint,
        )
        for (b, c), band, level in zip(pairs, bands, holm_levels(p_values, alpha), strict=True)
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
        machine_factor=machine_factor,
        references=references,
        judged_by=judged_by,
        machine_band=machine_band,
        plan_changes=plan_changes(baseline.plans, current.plans),
    )
