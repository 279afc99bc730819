"""The Markdown report: sized for a pull-request comment (GitHub-flavoured pipe tables).

``format_*`` functions return text; writing it is the caller's business.
"""

from __future__ import annotations

from collections.abc import Sequence

from dbprobe.gate.compare import Comparison, Verdict
from dbprobe.gate.trend import Trend
from dbprobe.report.header import resources_line
from dbprobe.report.operation_details import (
    OPEN_LOOP_NOTE,
    cancelled_columns,
    commit_columns,
    failed_attempts,
    lock_waits,
    open_loop_columns,
    server_time,
)
from dbprobe.report.plans import PLANS_NOTE, plan_rows
from dbprobe.report.section_views import section_views
from dbprobe.report.sections_markdown import (
    format_blocks_markdown,
    format_section_views_markdown,
    markdown_table,
)
from dbprobe.report.suite_summary import SUITE_SUMMARY_HEADERS, suite_rows
from dbprobe.report.text import (
    format_change,
    format_judged,
    format_result_p,
    format_value,
    headline,
    rounds_cell,
    run_line,
    thresholds_line,
    verdict_label,
)
from dbprobe.report.view import ReportView
from dbprobe.result.findings import Severity
from dbprobe.result.model import Report

__all__ = ["format_markdown", "format_suite_markdown", "markdown_table"]

_SEVERITY_MARK = {Severity.ERROR: "❌", Severity.WARNING: "⚠️", Severity.INFO: "💬"}
# Latency digits in the operations table.
_DIGITS = 3
_VERDICT_MARK = {
    Verdict.REGRESSED: "🔴",
    Verdict.IMPROVED: "🟢",
    Verdict.UNCHANGED: "⚪",
    Verdict.INSUFFICIENT: "❔",
}


def _operations(report: Report) -> str:
    commit = commit_columns(report, _DIGITS)
    extra = [*open_loop_columns(report, _DIGITS), *cancelled_columns(report)]
    rows = [
        (
            f"`{op.name}`",
            op.count,
            op.errors,
            op.retries,
            *(
                f"{v:.{_DIGITS}f}"
                for v in (op.latency_ms.p50_ms, op.latency_ms.p95_ms, op.latency_ms.p99_ms)
            ),
            f"{op.latency_ms.max_ms:.{_DIGITS}f}",
            *(c.value(op) for c in commit),
            f"{op.throughput_per_s:.1f}",
            f"{op.queries.per_op_mean:.1f}",
            *(c.value(op) for c in extra),
        )
        for op in report.operations
    ]
    headers = (
        "operation",
        "count",
        "errors",
        "retries",
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "max ms",
        *(f"{c.header} {c.unit}".strip() for c in commit),
        "tx/s",
        "stmts/tx",
        *(f"{c.header} {c.unit}".strip() for c in extra),
    )
    table = markdown_table(headers, rows, right=range(1, len(headers)))
    return table + (f"\n\n<sub>{OPEN_LOOP_NOTE}</sub>" if extra else "")


def _findings(report: Report, comparison: Comparison | None) -> str:
    # With a comparison shown, its verdicts are in its table: list the probe's own here.
    shown_elsewhere = ("regression", "improvement") if comparison is not None else ()
    findings = [f for f in report.findings if f.kind not in shown_elsewhere]
    if not findings:
        return "No findings."
    lines = []
    for f in findings:
        where = f" `{f.operation}`" if f.operation else ""
        # Where the user's code issued it (N+1, a leak), unless the message says already.
        at = f" (at `{f.location}`)" if f.location and f.location not in f.message else ""
        lines.append(
            f"- {_SEVERITY_MARK[f.severity]} **{f.severity.value}** `{f.kind}`{where}: "
            f"{f.message}{at}"
        )
    return "\n".join(lines)


def _plans(report: Report) -> str:
    rows = [
        (f"`{row.statement}`", row.operations, "<br>".join(_plan_line(x) for x in row.lines))
        for row in plan_rows(report)
    ]
    return markdown_table(("statement", "operations", "plan"), rows)


def _plan_line(line: str) -> str:
    # Leading spaces vanish in a table cell: the depth is shown with arrows.
    depth = (len(line) - len(line.lstrip(" "))) // 2
    return "→ " * depth + f"`{line.strip()}`"


def _comparison(comparison: Comparison) -> str:
    base = comparison.baseline
    name = f"`{base.label}`" if base.label else f"of {base.started_at}"
    parts = [
        f"**Compared with baseline {name}** ({base.backend}, scale {base.scale}, host "
        f"{base.host}, run {base.started_at}): {comparison.summary()}.",
        f"<sub>{thresholds_line(comparison)}; a regression must be significant and beyond "
        "its threshold; *borderline* means the 95% interval reaches below the threshold."
        "</sub>",
    ]
    parts += [f"> ⚠️ {w}" for w in comparison.warnings]
    unit = comparison.metric.unit
    rows = [
        (
            f"`{r.operation}`",
            format_value(r.baseline_value, unit),
            format_value(r.current_value, unit),
            format_change(r.raw_change),
            format_judged(r),
            format_result_p(r),
            rounds_cell(r),
            f"{_VERDICT_MARK[r.verdict]} {verdict_label(r)}",
        )
        for r in comparison.results
    ]
    parts.append(
        markdown_table(
            (
                "operation",
                f"baseline {comparison.metric.value}",
                "current",
                "change",
                "judged change (95% CI)",
                "p",
                "rounds (base / now)",
                "verdict",
            ),
            rows,
            right=(1, 2, 3, 5, 6),
        )
    )
    if comparison.only_in_baseline:
        parts.append(
            "Only in the baseline: " + ", ".join(f"`{n}`" for n in comparison.only_in_baseline)
        )
    if comparison.only_in_current:
        parts.append(
            "New (not in the baseline): " + ", ".join(f"`{n}`" for n in comparison.only_in_current)
        )
    return "\n\n".join(parts)


def _trends(trends: Sequence[Trend]) -> str:
    rows = []
    for t in trends:
        if not t.points:
            continue
        last = t.points[-1]
        steps = "; ".join(
            f"{'worse' if s.is_regression else 'better'} by {abs(s.worse - 1):.0%} at run "
            f"{t.points[s.index].label or t.points[s.index].started_at}"
            for s in t.steps
        )
        rows.append(
            (
                f"`{t.operation}`",
                t.metric.value,
                len(t.points),
                format_value(last.value, t.metric.unit),
                steps or "none",
            )
        )
    if not rows:
        return ""
    return "**History** (recorded runs)\n\n" + markdown_table(
        ("operation", "metric", "runs", "latest", "step changes"), rows, right=(2, 3)
    )


def _body(view: ReportView, level: int) -> str:
    report = view.report
    hashes = "#" * level
    parts = [
        f"{hashes} {headline(report)}",
        f"<sub>{run_line(report)}</sub>",
    ]
    if view.comparison is not None:
        parts.append(_comparison(view.comparison))
    if report.operations:  # the isolation probe's matrix is not a workload
        parts += ["**Operations** (latency in ms, committed operations)", _operations(report)]
    parts += format_blocks_markdown(
        [lock_waits(report), server_time(report), failed_attempts(report)]
    )
    sections = section_views(report)
    parts += format_section_views_markdown(sections.own)
    parts += ["**Findings**", _findings(report, view.comparison)]
    if report.plans:
        parts += [f"**Query plans** <sub>({PLANS_NOTE})</sub>", _plans(report)]
    parts += format_section_views_markdown(sections.context)
    trends = _trends(view.trends)
    if trends:
        parts.append(trends)
    parts.append(f"<sub>{resources_line(report)}</sub>")
    return "\n\n".join(parts)


def format_markdown(view: ReportView | Report) -> str:
    """One run as Markdown (header, comparison, operations, findings, history)."""
    if isinstance(view, Report):
        view = ReportView(view)
    return _body(view, 3) + "\n"


def format_suite_markdown(views: Sequence[ReportView]) -> str:
    """Several runs (a suite) as one Markdown document, with a summary first."""
    rows = [row.cells() for row in suite_rows(views)]
    summary = markdown_table(SUITE_SUMMARY_HEADERS, rows, right=(1, 2))
    parts = ["## dbprobe suite", summary, *(_body(v, 3) for v in views)]
    return "\n\n".join(parts) + "\n"
