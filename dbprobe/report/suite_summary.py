"""The one-row-per-probe summary of a suite, as the console and Markdown show it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dbprobe.report.view import ReportView
from dbprobe.result.findings import Severity

__all__ = ["SUITE_SUMMARY_HEADERS", "SuiteRow", "suite_rows"]

SUITE_SUMMARY_HEADERS = ("probe", "operations", "error findings", "against baseline")


@dataclass(frozen=True)
class SuiteRow:
    """One probe of a suite: what it measured, what failed, its verdict."""

    probe: str
    operations: int
    error_findings: int
    verdict: str

    def cells(self) -> tuple[str, str, str, str]:
        return (self.probe, str(self.operations), str(self.error_findings), self.verdict)


def suite_rows(views: Sequence[ReportView]) -> list[SuiteRow]:
    """A row per run, in the suite's order; "no baseline" where none was compared."""
    return [
        SuiteRow(
            probe=v.report.run.probe,
            operations=len(v.report.operations),
            error_findings=sum(f.severity is Severity.ERROR for f in v.report.findings),
            verdict=v.comparison.summary() if v.comparison is not None else "no baseline",
        )
        for v in views
    ]
