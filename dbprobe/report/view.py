"""What a rendered report shows: a run, and optionally its baseline, comparison and trends.

The Markdown and HTML renderers take these; building them (reading files,
the history store, comparing) is done by the caller, so the renderers stay
pure functions of their input.
"""

from __future__ import annotations

from dataclasses import dataclass

from dbprobe.gate.compare import Comparison
from dbprobe.gate.trend import Trend
from dbprobe.result.model import Report

__all__ = ["ReportView"]


@dataclass(frozen=True)
class ReportView:
    """One run to render.

    Attributes:
        report: the run.
        baseline: the baseline run it was compared with, if any (its
            distributions are drawn beside the run's in the HTML plots).
        comparison: the verdicts against ``baseline``.
        trends: recorded history of some of its operations.
    """

    report: Report
    baseline: Report | None = None
    comparison: Comparison | None = None
    trends: tuple[Trend, ...] = ()
