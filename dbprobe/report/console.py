"""The console rendering of a report (rich): ``format_*`` builds, ``print_*`` writes."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from dbprobe.load.timeline import TimelinePoint
from dbprobe.report.header import resources_line, target_facts, workload_facts
from dbprobe.report.operation_details import (
    OperationColumn,
    commit_columns,
    failed_attempts,
    lock_waits,
    open_loop_columns,
)
from dbprobe.report.section_views import section_views
from dbprobe.report.sections_console import TONE_STYLES, format_blocks, format_section_views
from dbprobe.result.findings import Severity
from dbprobe.result.model import OperationReport, Report

__all__ = [
    "format_findings",
    "format_header",
    "format_live",
    "format_operations",
    "print_report",
]

_SEVERITY_STYLE = {Severity.INFO: "cyan", Severity.WARNING: "yellow", Severity.ERROR: "bold red"}
# Latency digits in the console table (Markdown and HTML show three).
_DIGITS = 2


def format_header(report: Report) -> Text:
    t, r = report.target, report.run
    text = Text()
    text.append(f"dbprobe {r.probe}", style="bold")
    facts = [*target_facts(report), *workload_facts(report)]
    text.append(f" on {t.url} ({t.server_version})" + "".join(f", {f}" for f in facts))
    text.append("\n")
    if r.interrupted:
        text.append("interrupted: partial results below\n", style="bold yellow")
    return text


def format_operations(report: Report) -> Table:
    """One row per transaction type: counts, latency percentiles, throughput, statements.

    For an open-loop run the percentiles run from each operation's intended
    start, and the service time, schedule lag, late and skipped counts follow;
    the commit latency only where a commit was timed.
    """
    open_loop = any(op.open_loop for op in report.operations)
    title = "latency in ms; statements per committed transaction"
    if open_loop:
        title = (
            "latency in ms from each operation's intended start (corrected for coordinated "
            "omission); svc p99: service time from the actual start; statements per committed "
            "transaction"
        )
    table = Table(title=title, title_justify="left")
    commit = commit_columns(report, _DIGITS)
    extra = open_loop_columns(report, _DIGITS)
    headers = ["transaction", "count", "errors", "retries", "p50", "p90", "p95", "p99",
               "p99.9", "max", *(c.header for c in commit), "tx/s", "stmts/tx",
               *(c.header for c in extra)]  # fmt: skip
    for header in headers:
        table.add_column(header, justify="left" if header == "transaction" else "right")
    for op in report.operations:
        lat = op.latency_ms
        table.add_row(
            op.name,
            str(op.count),
            Text(str(op.errors), style="red" if op.errors else ""),
            str(op.retries),
            *(
                f"{v:.{_DIGITS}f}"
                for v in (lat.p50_ms, lat.p90_ms, lat.p95_ms, lat.p99_ms, lat.p999_ms, lat.max_ms)
            ),
            *(_column_cell(c, op) for c in commit),
            f"{op.throughput_per_s:.1f}",
            f"{op.queries.per_op_mean:.1f}",
            *(_column_cell(c, op) for c in extra),
        )
    return table


def _column_cell(column: OperationColumn, op: OperationReport) -> Text:
    return Text(column.value(op), style=TONE_STYLES[column.tone(op)])


def format_live(point: TimelinePoint) -> str:
    """The live progress line of one timeline interval (the CLI shows the latest)."""
    text = (
        f"t={point.t_s:.0f}s {point.throughput_per_s:,.0f} tx/s p50 {point.p50_ms:.1f} ms "
        f"p99 {point.p99_ms:.1f} ms, {point.errors} errors, {point.in_flight_max} in flight"
    )
    if point.target_rate_per_s is not None:
        text += (
            f"; target {point.target_rate_per_s:,.0f}/s, lag max {point.lag_max_ms:.1f} ms, "
            f"{point.late} late, {point.skipped} skipped"
        )
    return text


def format_findings(report: Report) -> RenderableType | None:
    if not report.findings:
        return None
    text = Text("findings:\n")
    for f in report.findings:
        text.append(f"  {f.severity.value:<8}", style=_SEVERITY_STYLE[f.severity])
        # Where the user's code issued it, when the message does not say already.
        where = f" (at {f.location})" if f.location and f.location not in f.message else ""
        text.append(f"{f.kind}: {f.message}{where}\n")
    return text


def print_report(report: Report, console: Console) -> None:
    """The whole report: header, operations, the probe's sections, findings, the load applied.

    Sections are rendered from their JSON (see :mod:`dbprobe.report.section_views`),
    so a report read back from a file or a saved baseline prints as the run did.
    """
    views = section_views(report)
    parts: list[RenderableType] = [format_header(report)]
    if report.operations:  # the isolation probe's matrix is not a workload
        parts.append(format_operations(report))
    parts += format_blocks([lock_waits(report), failed_attempts(report)])
    parts += format_section_views(views.own)
    findings = format_findings(report)
    if findings is not None:
        parts.append(findings)
    parts += format_section_views(views.context)
    parts.append(Text(resources_line(report), style="dim"))
    console.print(Group(*parts))
