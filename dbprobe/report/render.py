"""Rendering report files: ``dbprobe report RESULT.json --html out.html`` and friends.

The I/O shell around the pure renderers: read the report, judge it against
its baseline (:func:`dbprobe.gate.decide.judge`), gather trends, render.
"""

from __future__ import annotations

import enum
from pathlib import Path

from dbprobe.gate.decide import GateSettings, judge
from dbprobe.gate.store import HistoryStore
from dbprobe.gate.trend import trends_for
from dbprobe.report.html import render_html
from dbprobe.report.markdown import format_markdown
from dbprobe.report.view import ReportView
from dbprobe.result.jsonio import read_report
from dbprobe.result.model import Report

__all__ = ["Format", "judged_view", "render_report_file"]


class Format(enum.StrEnum):
    HTML = "html"
    MARKDOWN = "markdown"


def judged_view(
    report: Report,
    *,
    baseline: str | None = None,
    store: HistoryStore | None = None,
    settings: GateSettings | None = None,
    with_history: bool = False,
) -> ReportView:
    """A report with its verdict against ``baseline`` (a file or a saved name) and its trends."""
    settings = settings or GateSettings()
    trends = trends_for(store or HistoryStore(), report, settings.metric) if with_history else ()
    if baseline is None:
        return ReportView(report, trends=tuple(trends))
    verdict = judge(report, baseline, store=store, settings=settings)
    return ReportView(report, verdict.baseline, verdict.comparison, tuple(trends))


def render_report_file(
    path: Path,
    *,
    fmt: Format = Format.HTML,
    baseline: str | None = None,
    store: HistoryStore | None = None,
    with_history: bool = False,
    settings: GateSettings | None = None,
) -> str:
    """Render the report file at ``path`` as HTML or Markdown.

    ``baseline`` (a report file or a baseline name) adds the comparison;
    ``with_history`` adds the recorded trend of each operation from ``store``.
    Bad input (unreadable report, unknown baseline, mismatched runs) raises a
    UsageError subclass with one clear line.
    """
    view = judged_view(
        read_report(path),
        baseline=baseline,
        store=store,
        settings=settings,
        with_history=with_history,
    )
    return render_html(view) if fmt is Format.HTML else format_markdown(view)
