"""The console rendering of a report (rich): ``format_*`` builds, ``print_*`` writes."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from dbprobe.load.timeline import TimelinePoint
from dbprobe.result.findings import Severity
from dbprobe.result.model import Report

__all__ = [
    "format_findings",
    "format_header",
    "format_live",
    "format_operations",
    "print_report",
]

_SEVERITY_STYLE = {Severity.INFO: "cyan", Severity.WARNING: "yellow", Severity.ERROR: "bold red"}


def format_header(report: Report) -> Text:
    t, r = report.target, report.run
    text = Text()
    text.append(f"dbprobe {r.probe}", style="bold")
    text.append(f" on {t.url} ({t.server_version}), scale {t.scale}, seed {t.seed}")
    if report.operations:  # a workload: its isolation and workers say how it ran
        threads = report.config.threads
        text.append(f", isolation {t.isolation}" + (f", {threads} workers" if threads else ""))
    text.append("\n")
    if r.interrupted:
        text.append("interrupted: partial results below\n", style="bold yellow")
    return text


def format_operations(report: Report) -> Table:
    """One row per transaction type: counts, latency percentiles, throughput, statements.

    For an open-loop run the percentiles run from each operation's intended
    start, and the service time, schedule lag, late and skipped counts follow.
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
    headers = ["transaction", "count", "errors", "retries", "p50", "p90", "p95", "p99",
               "p99.9", "max", "commit p50", "tx/s", "stmts/tx"]  # fmt: skip
    unstarted = any(op.unstarted for op in report.operations)
    if open_loop:
        headers += ["svc p99", "lag p99", "late", "skipped"] + (["unstarted"] if unstarted else [])
    for header in headers:
        table.add_column(header, justify="left" if header == "transaction" else "right")
    for op in report.operations:
        lat = op.latency_ms
        extra: list[str | Text] = []
        if open_loop:
            extra = [
                f"{op.service_latency_ms.p99_ms:.2f}" if op.service_latency_ms else "",
                f"{op.schedule_lag_ms.p99_ms:.2f}" if op.schedule_lag_ms else "",
                Text(str(op.late), style="yellow" if op.late else ""),
                Text(str(op.skipped), style="yellow" if op.skipped else ""),
            ]
            if unstarted:
                extra.append(Text(str(op.unstarted), style="yellow" if op.unstarted else ""))
        table.add_row(
            op.name,
            str(op.count),
            Text(str(op.errors), style="red" if op.errors else ""),
            str(op.retries),
            *(
                f"{v:.2f}"
                for v in (
                    lat.p50_ms,
                    lat.p90_ms,
                    lat.p95_ms,
                    lat.p99_ms,
                    lat.p999_ms,
                    lat.max_ms,
                    op.commit_latency_ms.p50_ms,
                )
            ),
            f"{op.throughput_per_s:.1f}",
            f"{op.queries.per_op_mean:.1f}",
            *extra,
        )
    return table


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


def format_errors(report: Report) -> RenderableType | None:
    lines = [
        f"{op.name}: {cls} x{n}"
        + (f" — e.g. {op.error_samples[cls][0]}" if op.error_samples.get(cls) else "")
        for op in report.operations
        for cls, n in op.error_classes.items()
    ]
    return Text("failed attempts (rolled back):\n  " + "\n  ".join(lines)) if lines else None


def format_lock_waits(report: Report) -> RenderableType | None:
    waits = [op for op in report.operations if op.lock_waits]
    if not waits:
        return None
    return Text(
        "waited for the write lock (SQLite BEGIN IMMEDIATE, within the busy timeout):\n  "
        + "\n  ".join(
            f"{op.name}: {op.lock_waits} waits, {op.lock_wait_ms_total / 1000:.2f} s in all"
            for op in waits
        )
    )


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
    parts: list[RenderableType] = [format_header(report)]
    if report.operations:  # the isolation probe's matrix is not a workload
        parts.append(format_operations(report))
    parts.extend(section for s in report.sections if (section := s.render()) is not None)
    parts.extend(
        p
        for p in (format_errors(report), format_lock_waits(report), format_findings(report))
        if p is not None
    )
    res = report.resources
    parts.append(
        Text(
            f"dbprobe {'processes' if res.processes > 1 else 'process'}: "
            f"RSS {res.rss_mb_start:.0f} -> {res.rss_mb_peak:.0f} MB peak, "
            f"CPU {res.cpu_percent:.0f} %"
            + (
                f" (event loop {res.loop_cpu_percent:.0f} % of a core"
                + (", busiest process)" if res.processes > 1 else ")")
                if res.loop_cpu_percent is not None
                else ""
            )
            + f"; run took {report.run.duration_s:.1f} s",
            style="dim",
        )
    )
    console.print(Group(*parts))
