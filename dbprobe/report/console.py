"""The console rendering of a report (rich): ``format_*`` builds, ``print_*`` writes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from dbprobe.load.timeline import TimelinePoint
from dbprobe.metrics.histogram import LatencyHistogram
from dbprobe.metrics.summary import LatencySummary
from dbprobe.report.header import resources_line, runtime, target_facts, workload_facts
from dbprobe.report.operation_details import (
    OperationColumn,
    cancelled_columns,
    commit_columns,
    failed_attempts,
    lock_waits,
    open_loop_columns,
    server_time,
)
from dbprobe.report.section_views import section_views
from dbprobe.report.sections_console import TONE_STYLES, format_blocks, format_section_views
from dbprobe.report.suite_summary import SUITE_SUMMARY_HEADERS, suite_rows
from dbprobe.report.view import ReportView
from dbprobe.result.findings import Severity
from dbprobe.result.model import OperationReport, Report

__all__ = [
    "format_findings",
    "format_header",
    "format_live",
    "format_operations",
    "format_suite_summary",
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


@dataclass(frozen=True)
class _Column:
    """One column of the operations table: its cells (one per operation, then the total),
    and its rank: the lower, the sooner it is shown when the width runs out."""

    header: str
    cells: tuple[Text, ...]
    rank: int
    left: bool = False

    @property
    def width(self) -> int:
        return max(len(self.header), *(cell.cell_len for cell in self.cells))


#: The columns a reader looks at first (pgbench's summary and Locust's table show
#: these); the others move to a further table when the width runs out.
_FIRST = ("transaction", "count", "errors", "p50", "p99", "tx/s", "stmts/tx")


def _ms_text(value: float | None) -> Text:
    return Text("—" if value is None else f"{value:.{_DIGITS}f}")


def _total_latency(report: Report) -> LatencySummary | None:
    """The latency of every operation together, from their merged histograms (exact);
    None when a report lacks one (a report file written without them)."""
    if not all(op.histogram for op in report.operations):
        return None
    merged = LatencyHistogram()
    for op in report.operations:
        merged.merge(LatencyHistogram.decode(op.histogram))
    return merged.summary()


def _total_throughput(report: Report) -> float:
    """Committed operations per second of the whole run: over the measured time when the
    report has it (the repo probe runs its queries one after another, so their rates do
    not add up), else the sum of the operations' rates."""
    load = next((s for s in report.sections if s.name == "load"), None)
    measured_s = load.to_json().get("measured_s") if load is not None else None
    if isinstance(measured_s, int | float) and measured_s > 0:
        return sum(op.commits for op in report.operations) / measured_s
    return sum(op.throughput_per_s for op in report.operations)


def _operation_columns(report: Report) -> list[_Column]:
    """Every column of the operations table in its order, each operation's row then the
    total row (when there is more than one operation)."""
    ops = report.operations
    total = len(ops) > 1
    latency = _total_latency(report) if total else None
    commits = sum(op.commits for op in ops)
    statements = sum(op.queries.per_op_mean * op.commits for op in ops)

    def column(header: str, rank: int, cells: list[Text], total_cell: Text) -> _Column:
        return _Column(header, tuple([*cells, total_cell] if total else cells), rank)

    def summed(
        header: str, rank: int, value: Callable[[OperationReport], int], style: str = ""
    ) -> _Column:
        cells = [Text(str(value(op)), style=style if value(op) else "") for op in ops]
        return column(header, rank, cells, Text(str(sum(value(op) for op in ops))))

    percentiles = (
        ("p50", "p50_ms"), ("p90", "p90_ms"), ("p95", "p95_ms"), ("p99", "p99_ms"),
        ("p99.9", "p999_ms"), ("max", "max_ms"),
    )  # fmt: skip
    columns = [
        _Column(
            "transaction",
            # a str cell would be read as markup: names are the user's
            tuple([Text(op.name) for op in ops] + ([Text("total", style="bold")] if total else [])),
            0,
            left=True,
        ),
        column(
            "count", 1, [Text(str(op.count)) for op in ops], Text(str(sum(o.count for o in ops)))
        ),
        column(
            "errors",
            2,
            [Text(str(op.errors), style="red" if op.errors else "") for op in ops],
            Text(str(sum(o.errors for o in ops))),
        ),
        column(
            "retries",
            8,
            [Text(str(op.retries)) for op in ops],
            Text(str(sum(o.retries for o in ops))),
        ),
    ]
    for header, key in percentiles:
        rank = _FIRST.index(header) if header in _FIRST else 9
        columns.append(
            column(
                header,
                rank,
                [_ms_text(getattr(op.latency_ms, key)) for op in ops],
                _ms_text(getattr(latency, key) if latency is not None else None),
            )
        )
    for extra in commit_columns(report, _DIGITS):
        columns.append(column(extra.header, 10, [_column_cell(extra, op) for op in ops], Text("")))
    columns.append(
        column(
            "tx/s",
            _FIRST.index("tx/s"),
            [Text(f"{op.throughput_per_s:.1f}") for op in ops],
            Text(f"{_total_throughput(report):.1f}"),
        )
    )
    columns.append(
        column(
            "stmts/tx",
            _FIRST.index("stmts/tx"),
            [Text(f"{op.queries.per_op_mean:.1f}") for op in ops],
            Text(f"{statements / commits:.1f}" if commits else "—"),
        )
    )
    for extra in [*open_loop_columns(report, _DIGITS), *cancelled_columns(report)]:
        columns.append(column(extra.header, 11, [_column_cell(extra, op) for op in ops], Text("")))
    return columns


def _table_width(columns: Sequence[_Column]) -> int:
    # rich's default box: a rule left of each column and one at the end; a space of
    # padding each side of a cell.
    return sum(c.width + 3 for c in columns) + 1


def _split(columns: list[_Column], width: int | None) -> list[list[_Column]]:
    """The columns in tables that fit ``width``, each led by the operation's name: the
    first takes the columns in order of rank while they fit, the next the rest, and so
    on. A cell is never cut short: rich would end a number that does not fit with "…"."""
    name, rest = columns[0], sorted(columns[1:], key=lambda c: c.rank)
    tables: list[list[_Column]] = []
    while rest:
        table = [name]
        for c in list(rest):
            if width is None or _table_width([*table, c]) <= width or len(table) == 1:
                table.append(c)
                rest.remove(c)
        tables.append(table)
    order = {c.header: i for i, c in enumerate(columns)}
    return [sorted(t, key=lambda c: order[c.header]) for t in tables]


def format_operations(report: Report, width: int | None = None) -> Group:
    """One row per transaction type, and a total row: counts, latency percentiles,
    throughput, statements.

    For an open-loop run the percentiles run from each operation's intended
    start, and the service time, schedule lag, late and skipped counts follow;
    the commit latency only where a commit was timed. Columns that do not fit
    ``width`` move to a second table (see :func:`_split`).
    """
    open_loop = any(op.open_loop for op in report.operations)
    title = "latency in ms; statements per committed transaction"
    if open_loop:
        title = (
            "latency in ms from each operation's intended start (corrected for coordinated "
            "omission); svc p99: service time from the actual start; statements per committed "
            "transaction"
        )
    tables: list[RenderableType] = []
    for number, columns in enumerate(_split(_operation_columns(report), width)):
        table = Table(
            title=title if number == 0 else "the same operations, more figures (latency in ms)",
            title_justify="left",
        )
        for c in columns:
            # Never wrapped nor cut: the table was made to fit. A name too long for
            # any width wraps whole characters rather than end in "…" (ambiguous).
            table.add_column(
                c.header,
                justify="left" if c.left else "right",
                no_wrap=not c.left,
                overflow="fold",
                min_width=c.width if not c.left else None,
            )
        rows = len(columns[0].cells)
        for i in range(rows):
            table.add_row(
                *(c.cells[i] for c in columns),
                end_section=len(report.operations) > 1 and i == rows - 2,
            )
        tables.append(table)
    return Group(*tables)


def _column_cell(column: OperationColumn, op: OperationReport) -> Text:
    return Text(column.value(op), style=TONE_STYLES[column.tone(op)])


def format_live(point: TimelinePoint) -> str:
    """The figures of one timeline interval, as the live progress shows the latest:
    ``42 tx/s, p50 1.2 ms, p99 5.0 ms, 0 errors, 4 in flight``, and at a fixed rate
    ``; target 50/s, lag max 3.1 ms, 2 late, 0 skipped``."""
    text = (
        f"{point.throughput_per_s:,.0f} tx/s, p50 {point.p50_ms:.1f} ms, "
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
        parts.append(format_operations(report, console.width))
    parts += format_blocks([lock_waits(report), server_time(report), failed_attempts(report)])
    parts += format_section_views(views.own)
    findings = format_findings(report)
    if findings is not None:
        parts.append(findings)
    if report.plans:
        # A plan is shown here with the finding it proves; the full list is long.
        explained = sum(not p.error for p in report.plans)
        parts.append(
            Text(
                f"{explained} of {len(report.plans)} statements explained; every plan is in "
                "the --json, --markdown and --html reports",
                style="dim",
            )
        )
    parts += format_section_views(views.context)
    # The console's header is the target; what ran the load goes with dbprobe's own figures.
    parts.append(Text(f"{resources_line(report)}; {runtime(report)}", style="dim"))
    console.print(Group(*parts))


def format_suite_summary(views: Sequence[ReportView]) -> Table:
    """A suite's runs, one row per probe: operations, error findings, the verdict.

    Cells wrap rather than cut (a verdict names its counts): nothing is elided.
    """
    table = Table(title="dbprobe suite", title_justify="left")
    for i, header in enumerate(SUITE_SUMMARY_HEADERS):
        table.add_column(
            header, justify="right" if i in (1, 2) else "left", overflow="fold", no_wrap=False
        )
    for row in suite_rows(views):
        style = "bold red" if row.error_findings else None
        table.add_row(*row.cells(), style=style)
    return table
