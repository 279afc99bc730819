"""The console rendering of a report (rich): ``format_*`` builds, ``print_*`` writes."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from dbprobe.report.model import Report, Severity

__all__ = ["format_findings", "format_header", "format_operations", "print_report"]

_SEVERITY_STYLE = {Severity.INFO: "cyan", Severity.WARNING: "yellow", Severity.ERROR: "bold red"}


def format_header(report: Report) -> Text:
    t, r = report.target, report.run
    text = Text()
    text.append(f"dbprobe {r.probe}", style="bold")
    text.append(f" on {t.url} ({t.server_version}), scale {t.scale}, seed {t.seed}, ")
    text.append(f"isolation {t.isolation}, {report.config.get('threads', '?')} workers\n")
    if r.interrupted:
        text.append("interrupted: partial results below\n", style="bold yellow")
    return text


def format_operations(report: Report) -> Table:
    """One row per transaction type: counts, latency percentiles, throughput, statements."""
    table = Table(title="latency in ms; statements per committed transaction", title_justify="left")
    for header in ("transaction", "count", "errors", "retries", "p50", "p90", "p95", "p99",
                   "p99.9", "max", "commit p50", "tx/s", "stmts/tx"):  # fmt: skip
        table.add_column(header, justify="left" if header == "transaction" else "right")
    for op in report.operations:
        lat = op.latency_ms
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
        )
    return table


def format_errors(report: Report) -> RenderableType | None:
    lines = [
        f"{op.name}: {cls} x{n}"
        + (f" — e.g. {op.error_samples[cls][0]}" if op.error_samples.get(cls) else "")
        for op in report.operations
        for cls, n in op.error_classes.items()
    ]
    return Text("failed attempts (rolled back):\n  " + "\n  ".join(lines)) if lines else None


def format_findings(report: Report) -> RenderableType | None:
    if not report.findings:
        return None
    text = Text("findings:\n")
    for f in report.findings:
        text.append(f"  {f.severity.value:<8}", style=_SEVERITY_STYLE[f.severity])
        text.append(f"{f.kind}: {f.message}\n")
    return text


def print_report(report: Report, console: Console) -> None:
    parts: list[RenderableType] = [format_header(report), format_operations(report)]
    parts.extend(section for s in report.sections if (section := s.render()) is not None)
    parts.extend(p for p in (format_errors(report), format_findings(report)) if p is not None)
    res = report.resources
    parts.append(
        Text(
            f"dbprobe process: RSS {res.rss_mb_start:.0f} -> {res.rss_mb_peak:.0f} MB peak, "
            f"CPU {res.cpu_percent:.0f} %; run took {report.run.duration_s:.1f} s",
            style="dim",
        )
    )
    console.print(Group(*parts))
