"""The regression gate's one decision: load a baseline, compare, summarise, decide the exit status.

The command line (a probe's ``--compare``, ``dbprobe compare``, ``dbprobe
report``), ``dbprobe suite`` and the pytest plugin (``--dbprobe-compare``)
all call :func:`judge`, so a run gates the same way wherever it is judged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from dbprobe.gate.compare import Comparison, Verdict, compare_reports
from dbprobe.gate.store import HistoryStore
from dbprobe.gate.thresholds import Level, Metric, Thresholds
from dbprobe.result.findings import (
    Finding,
    FindingKind,
    RegressionEvidence,
    Severity,
)
from dbprobe.result.jsonio import read_report
from dbprobe.result.model import Report

__all__ = [
    "GateSettings",
    "GateVerdict",
    "comparison_findings",
    "exit_status",
    "judge",
    "load_baseline",
    "worst_exit_status",
]


def load_baseline(spec: str, store: HistoryStore | None = None) -> tuple[Report, str]:
    """A baseline given as a report file path or as a name in the history store.

    A path that exists (or ends in ``.json``) is read as a report file;
    anything else is a baseline name (UnknownBaselineError lists the saved
    ones). Returns (report, label).
    """
    path = Path(spec)
    if path.suffix == ".json" or path.exists():
        return read_report(path), path.name
    store = store or HistoryStore()
    return store.baseline(spec), spec


@dataclass(frozen=True)
class GateSettings:
    """How a run is judged: the metric, thresholds, the level that fails it.

    Attributes:
        metric: what is compared (``--metric``).
        thresholds: from how much worse a change is minor, warning, critical.
        fail_on: the lowest regression level that fails the run (``--fail-on``).
        allow_mismatch: compare runs of different probes, scales or backends.
        normalize: set aside, as the machine's, a change up to the CPU
            reference's own when, and only when, it moved between the runs
            (``--absolute`` turns it off).
    """

    metric: Metric = Metric.P50
    thresholds: Thresholds = field(default_factory=Thresholds)
    fail_on: Level = Level.MINOR
    allow_mismatch: bool = False
    normalize: bool = True


@dataclass(frozen=True)
class GateVerdict:
    """A run judged against its baseline.

    Attributes:
        baseline: the baseline run, and ``baseline_label`` how it was named.
        comparison: operation by operation, with the warnings of the comparison.
        findings: ``regression`` (ERROR at or above ``fail_on``, else WARNING)
            and ``improvement`` findings, most severe first.
        exit_status: 1 when a regression at or above ``fail_on`` was found, else 0.
    """

    baseline: Report
    baseline_label: str
    comparison: Comparison
    findings: tuple[Finding, ...]
    exit_status: int

    @property
    def failed(self) -> bool:
        return self.exit_status != 0

    def summary(self) -> str:
        """``2 regressions (1 critical, 1 minor), 3 unchanged``."""
        return self.comparison.summary()

    def result_lines(self) -> tuple[str, ...]:
        """One line per operation compared (values, change, interval, test, verdict),
        then one per statement whose plan changed."""
        return tuple(r.describe() for r in self.comparison.results) + tuple(
            c.describe() for c in self.comparison.plan_changes
        )


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
            baseline_rounds=r.baseline_rounds,
            current_rounds=r.current_rounds,
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
    for change in comparison.plan_changes:
        # A warning, never an error by itself: a plan may change for the
        # better, or with the data; --fail-on plan_changed makes it fail.
        found.append(
            Finding(
                FindingKind.PLAN_CHANGED,
                Severity.WARNING if change.worse else Severity.INFO,
                change.operations[0] if len(change.operations) == 1 else None,
                change.describe(),
                change,
            )
        )
    return tuple(sorted(found, key=lambda f: f.severity.rank))


def judge(
    current: Report,
    baseline: str,
    *,
    store: HistoryStore | None = None,
    settings: GateSettings | None = None,
    current_label: str = "",
) -> GateVerdict:
    """Judge ``current`` against ``baseline`` (a report file or a saved baseline's name).

    Bad input (an unreadable file, an unknown name, runs that cannot be
    compared) raises a UsageError subclass with one clear line.
    """
    settings = settings or GateSettings()
    base, label = load_baseline(baseline, store)
    comparison = compare_reports(
        base,
        current,
        metric=settings.metric,
        thresholds=settings.thresholds,
        allow_mismatch=settings.allow_mismatch,
        baseline_label=label,
        current_label=current_label,
        normalize=settings.normalize,
    )
    return GateVerdict(
        baseline=base,
        baseline_label=label,
        comparison=comparison,
        findings=comparison_findings(comparison, settings.fail_on),
        exit_status=exit_status(comparison, settings.fail_on),
    )


def worst_exit_status(verdicts: Sequence[GateVerdict]) -> int:
    """1 if any of several runs' verdicts (a suite's probes) fails, else 0."""
    return max((v.exit_status for v in verdicts), default=0)
