"""Rendering report files: ``dbprobe report RESULT.json --html out.html`` and friends.

The I/O shell around the pure renderers: read the report, find its baseline
(a file or a name in the history store), compare, gather trends, render.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from pathlib import Path

from dbprobe.gate.compare import compare_reports
from dbprobe.gate.store import HistoryStore
from dbprobe.gate.thresholds import Metric, Thresholds
from dbprobe.gate.trend import Trend, history
from dbprobe.report.html import render_html
from dbprobe.report.markdown import format_markdown
from dbprobe.report.view import ReportView
from dbprobe.result.jsonio import read_report
from dbprobe.result.model import Report

__all__ = ["Format", "build_view", "load_baseline", "render_report_file", "trends_for"]


class Format(enum.StrEnum):
    HTML = "html"
    MARKDOWN = "markdown"


def load_baseline(spec: str, store: HistoryStore | None = None) -> tuple[Report, str]:
    """A baseline given as a report file path or as a name in the history store.

    A path that exists is read as a report file; anything else is a baseline
    name (UnknownBaselineError lists the saved ones). Returns (report, label).
    """
    path = Path(spec)
    if path.suffix == ".json" or path.exists():
        return read_report(path), path.name
    store = store or HistoryStore()
    return store.baseline(spec), spec


def trends_for(
    store: HistoryStore, report: Report, metric: Metric = Metric.P50
) -> tuple[Trend, ...]:
    """The recorded history of each of ``report``'s operations (same backend and scale)."""
    return tuple(
        t
        for op in report.operations
        if (
            t := history(
                store,
                report.run.probe,
                op.name,
                metric,
                backend=report.target.backend,
                scale=report.target.scale,
            )
        ).points
    )


def build_view(
    report: Report,
    *,
    baseline: Report | None = None,
    baseline_label: str = "",
    metric: Metric = Metric.P50,
    thresholds: Thresholds | None = None,
    allow_mismatch: bool = False,
    trends: Sequence[Trend] = (),
) -> ReportView:
    """A report with its comparison against ``baseline`` (if given) and trends."""
    comparison = (
        compare_reports(
            baseline,
            report,
            metric=metric,
            thresholds=thresholds,
            allow_mismatch=allow_mismatch,
            baseline_label=baseline_label,
        )
        if baseline is not None
        else None
    )
    return ReportView(report, baseline, comparison, tuple(trends))


def render_report_file(
    path: Path,
    *,
    fmt: Format = Format.HTML,
    baseline: str | None = None,
    store: HistoryStore | None = None,
    with_history: bool = False,
    metric: Metric = Metric.P50,
    thresholds: Thresholds | None = None,
    allow_mismatch: bool = False,
) -> str:
    """Render the report file at ``path`` as HTML or Markdown.

    ``baseline`` (a report file or a baseline name) adds the comparison;
    ``with_history`` adds the recorded trend of each operation from ``store``.
    Bad input (unreadable report, unknown baseline, mismatched runs) raises a
    UsageError subclass with one clear line.
    """
    report = read_report(path)
    base_report, label = load_baseline(baseline, store) if baseline else (None, "")
    trends = trends_for(store or HistoryStore(), report, metric) if with_history else ()
    view = build_view(
        report,
        baseline=base_report,
        baseline_label=label,
        metric=metric,
        thresholds=thresholds,
        allow_mismatch=allow_mismatch,
        trends=trends,
    )
    return render_html(view) if fmt is Format.HTML else format_markdown(view)
