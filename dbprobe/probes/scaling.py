"""``--scales``: one probe run at several data sizes, and how each operation's cost grows.

The probe runs once per scale, smallest first, on the data of that scale
(the reference domain seeded at it, or a scenario file's own ``scale_data``
hook), with every statement explained: the plans say which tables an
operation reads, and how many rows each held after the run. Each
operation's latency (the median of its rounds' p50, per scale) is then
fitted against the rows of the largest table it reads
(:mod:`dbprobe.metrics.growth`): constant, logarithmic, linear or worse. An
operation linear or worse is a ``scales_with_data`` finding that points at
its plan, and at the index that would serve it when ``--explain`` found one.

The result is the largest scale's report, with a ``scaling`` section and
those findings added: compared, saved and rendered like any report of that
scale. An interrupted run keeps the scales it finished.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from dbprobe.errors import ConfigError
from dbprobe.gate.rounds import round_values
from dbprobe.gate.thresholds import Metric
from dbprobe.metrics.growth import Growth, GrowthFit, SizeSample, fit_growth
from dbprobe.result.findings import Finding, FindingKind, GrowthEvidence, IndexEvidence, Severity
from dbprobe.result.model import Report
from dbprobe.result.options import SCALE_NAMES
from dbprobe.result.plans import StatementPlan

__all__ = [
    "ScaleRun",
    "ScaledOperation",
    "ScalingSection",
    "growth_findings",
    "order_scales",
    "run_at_scales",
    "scaling_from_json",
    "scaling_section",
]

#: Runs the probe at the named scale, with its statements explained.
ScaleRun = Callable[[str], Awaitable[Report]]


@dataclass(frozen=True)
class ScaledOperation:
    """One operation at each scale: the rows of the largest table it reads, its p50, the fit.

    ``table`` is None when no plan of it names a table; ``fit`` is None when
    the growth could not be fitted, and ``not_fitted`` says why.
    """

    name: str
    table: str | None
    scales: tuple[str, ...]
    rows: tuple[int, ...]
    p50_ms: tuple[float, ...]
    rounds: tuple[int, ...]
    fit: GrowthFit | None
    not_fitted: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "table": self.table,
            "scales": list(self.scales),
            "rows": list(self.rows),
            "p50_ms": [round(v, 4) for v in self.p50_ms],
            "rounds": list(self.rounds),
        }
        if self.fit is not None:
            data |= {
                "exponent": round(self.fit.exponent, 4),
                "low": round(self.fit.low, 4),
                "high": round(self.fit.high, 4),
                "confidence": self.fit.confidence,
                "growth": str(self.fit.growth),
            }
            if self.fit.note:
                data["note"] = self.fit.note
        else:
            data["not_fitted"] = self.not_fitted
        return data


@dataclass(frozen=True)
class ScalingSection:
    """The ``scaling`` section: the scales run and every operation's growth."""

    scales: tuple[str, ...]
    operations: tuple[ScaledOperation, ...]
    name: str = "scaling"

    def to_json(self) -> dict[str, Any]:
        return {"scales": list(self.scales), "operations": [o.to_json() for o in self.operations]}


def scaling_from_json(data: Mapping[str, Any]) -> ScalingSection:
    """The section as a report file holds it."""

    def operation(d: Mapping[str, Any]) -> ScaledOperation:
        fit = None
        if "exponent" in d:
            fit = GrowthFit(
                float(d["exponent"]),
                float(d["low"]),
                float(d["high"]),
                Growth(d["growth"]),
                float(d.get("confidence", 0.95)),
                str(d.get("note", "")),
            )
        return ScaledOperation(
            name=str(d["name"]),
            table=d.get("table"),
            scales=tuple(d["scales"]),
            rows=tuple(int(n) for n in d["rows"]),
            p50_ms=tuple(float(v) for v in d["p50_ms"]),
            rounds=tuple(int(n) for n in d["rounds"]),
            fit=fit,
            not_fitted=d.get("not_fitted"),
        )

    return ScalingSection(tuple(data["scales"]), tuple(operation(o) for o in data["operations"]))


def order_scales(names: Sequence[str]) -> tuple[str, ...]:
    """The scales, smallest first, each once; fewer than two is a ConfigError."""
    unknown = [n for n in names if n not in SCALE_NAMES]
    if unknown:
        raise ConfigError(
            f"unknown scale {unknown[0]!r} in --scales: choose from {', '.join(SCALE_NAMES)}"
        )
    ordered = tuple(n for n in SCALE_NAMES if n in names)
    if len(ordered) < 2:
        raise ConfigError(
            "--scales needs at least two different scales, e.g. --scales tiny,small,medium"
        )
    return ordered


@dataclass(frozen=True)
class ScaleMeasurement:
    """One scale's run, and the rows of each table its plans read."""

    scale: str
    report: Report
    table_rows: Mapping[str, int]


def _tables_read(plans: Sequence[StatementPlan]) -> dict[str, set[str]]:
    """The tables each operation's statements read, by operation."""
    read: dict[str, set[str]] = {}
    for plan in plans:
        for op in plan.operations:
            read.setdefault(op, set()).update(plan.relations)
    return read


def _operation(name: str, measured: Sequence[ScaleMeasurement]) -> ScaledOperation:
    largest = measured[-1]
    tables = _tables_read(largest.report.plans).get(name, set())
    table = max(sorted(tables), key=lambda t: largest.table_rows.get(t, -1), default=None)
    scales, rows, medians, rounds, sizes = [], [], [], [], []
    for m in measured:
        ops = {op.name: op for op in m.report.operations}
        if name not in ops or table is None or table not in m.table_rows:
            continue
        size = SizeSample(m.table_rows[table], tuple(round_values(ops[name].rounds, Metric.P50)))
        scales.append(m.scale)
        rows.append(size.rows)
        rounds.append(len(size.values))
        medians.append(size.median if size.values else 0.0)
        sizes.append(size)
    if table is None:
        fit: GrowthFit | str = "no plan of it names a table it reads"
    elif len(sizes) < 2:
        fit = f"measured at {len(sizes)} scale{'s' if len(sizes) != 1 else ''}, need two or more"
    else:
        fit = fit_growth(sizes)
    return ScaledOperation(
        name=name,
        table=table,
        scales=tuple(scales),
        rows=tuple(rows),
        p50_ms=tuple(medians),
        rounds=tuple(rounds),
        fit=fit if isinstance(fit, GrowthFit) else None,
        not_fitted=fit if isinstance(fit, str) else None,
    )


def scaling_section(measured: Sequence[ScaleMeasurement]) -> ScalingSection:
    """Every operation of the largest scale's run, fitted over the scales (pure)."""
    names = [op.name for op in measured[-1].report.operations]
    return ScalingSection(
        tuple(m.scale for m in measured), tuple(_operation(n, measured) for n in names)
    )


def growth_findings(section: ScalingSection, report: Report) -> list[Finding]:
    """A ``scales_with_data`` finding per operation linear or worse, with its plan and fix."""
    findings = []
    for op in section.operations:
        fit = op.fit
        if fit is None or op.table is None or not fit.growth.scales_with_data:
            continue
        plans = [p for p in report.plans if op.name in p.operations and op.table in p.relations]
        plan = plans[0].summary() if plans else "not explained"
        fixes = [
            f.evidence.create_index
            for f in report.findings
            if isinstance(f.evidence, IndexEvidence)
            and f.evidence.table.split(".")[-1] == op.table
            and op.name in f.evidence.operations
        ]
        points = ", ".join(
            f"{ms:.2f} ms at {n:,} rows ({s})"
            for s, n, ms in zip(op.scales, op.rows, op.p50_ms, strict=True)
        )
        fix = f"; {fixes[0]} would serve it (see the index finding)" if fixes else ""
        findings.append(
            Finding(
                FindingKind.SCALES_WITH_DATA,
                Severity.WARNING,
                op.name,
                f"{op.name} grows with the rows of {op.table}: {fit.describe()}; p50 {points}; "
                f"its plan: {plan}{fix}",
                GrowthEvidence(
                    table=op.table,
                    scales=op.scales,
                    rows=op.rows,
                    p50_ms=op.p50_ms,
                    exponent=fit.exponent,
                    low=fit.low,
                    high=fit.high,
                    growth=str(fit.growth),
                    plan=plan,
                ),
            )
        )
    return findings


async def run_at_scales(scales: Sequence[str], run: ScaleRun, *, stop: asyncio.Event) -> Report:
    """Run at each scale in turn (smallest first); the largest's report, with the growth.

    A stop ends the scale running and skips the rest: the report is the last
    one run, marked interrupted, with what the finished scales tell.
    """
    measured: list[ScaleMeasurement] = []
    for scale in order_scales(scales):
        report = await run(scale)
        if report.run.interrupted or stop.is_set():
            break
        rows = {t: n for p in report.plans for t, n in p.table_rows or ()}
        measured.append(ScaleMeasurement(scale, report, rows))
    if not measured:
        return report
    section = scaling_section(measured)
    findings = growth_findings(section, measured[-1].report)
    return replace(
        report, sections=(*report.sections, section), findings=(*report.findings, *findings)
    )
