"""The isolation probe's results: a matrix of Hermitage verdicts per level, and its findings.

Pure: built from :class:`~dbprobe.probes.isolation.verdicts.Verdict` objects, shown as a
rich table, written as the ``isolation`` key of the JSON report.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from dbprobe.probes.isolation.hermitage import HermitageTest
from dbprobe.probes.isolation.verdicts import Outcome, Verdict
from dbprobe.result.findings import AnomalyEvidence, Finding, FindingKind, Severity

__all__ = ["IsolationSection", "LevelInfo", "matrix_findings"]

_STYLE = {Outcome.PREVENTED: "green", Outcome.ALLOWED: "bold red", Outcome.ERROR: "yellow"}


@dataclass(frozen=True)
class LevelInfo:
    """An isolation level (PostgreSQL) or transaction mode (SQLite) the tests ran at."""

    name: str
    description: str


@dataclass(frozen=True)
class IsolationSection:
    """Verdicts by level then test; levels and tests in the order they ran.

    An interrupted run holds the verdicts reached so far: a level may lack tests.
    """

    backend: str
    levels: tuple[LevelInfo, ...]
    tests: tuple[HermitageTest, ...]
    verdicts: Mapping[str, Mapping[str, Verdict]]

    @property
    def name(self) -> str:
        return "isolation"

    def matrix(self) -> dict[str, dict[str, str]]:
        """``{level: {test: "prevented" | "allowed" | "error: ..."}}``."""
        return {
            level: {test: verdict.cell for test, verdict in by_test.items()}
            for level, by_test in self.verdicts.items()
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "levels": [{"name": lv.name, "description": lv.description} for lv in self.levels],
            "tests": [
                {"name": t.name, "title": t.title, "description": t.description} for t in self.tests
            ],
            "matrix": self.matrix(),
            "notes": {
                level: {test: v.note for test, v in by_test.items()}
                for level, by_test in self.verdicts.items()
            },
            "prevented_by": {
                level: {
                    test: v.prevented_by.value
                    for test, v in by_test.items()
                    if v.prevented_by is not None
                }
                for level, by_test in self.verdicts.items()
            },
            "observations": {
                level: {test: dict(v.observations) for test, v in by_test.items()}
                for level, by_test in self.verdicts.items()
            },
        }

    def render(self) -> RenderableType | None:
        table = Table(
            title="isolation anomalies (Hermitage): prevented or allowed at each level",
            title_justify="left",
        )
        table.add_column("test")
        table.add_column("anomaly")
        for level in self.levels:
            table.add_column(level.name)
        for test in self.tests:
            cells: list[Text] = []
            for level in self.levels:
                verdict = self.verdicts.get(level.name, {}).get(test.name)
                if verdict is None:
                    cells.append(Text("not run", style="dim"))
                    continue
                cell = Text("error" if verdict.outcome is Outcome.ERROR else verdict.outcome.value)
                cell.stylize(_STYLE[verdict.outcome])
                if verdict.prevented_by is not None:
                    cell.append(f" ({verdict.prevented_by.value})", style="dim")
                cells.append(cell)
            table.add_row(test.name, test.title, *cells)
        legend = Text(
            "prevented by: abort = a transaction was aborted (deadlock, serialization failure); "
            "busy = SQLite's write lock stayed taken for the whole busy timeout; "
            "lock_wait = a step waited until the other transaction ended; "
            "visibility = no read saw what it must not see\n",
            style="dim",
        )
        levels = Text("".join(f"{lv.name}: {lv.description}\n" for lv in self.levels), style="dim")
        errors = [
            f"{level} {test}: {v.note}"
            for level, by_test in self.verdicts.items()
            for test, v in by_test.items()
            if v.outcome is Outcome.ERROR
        ]
        parts: list[RenderableType] = [table, legend, levels]
        if errors:
            parts.append(Text("errors:\n  " + "\n  ".join(errors) + "\n", style="yellow"))
        return Group(*parts)


def matrix_findings(section: IsolationSection) -> list[Finding]:
    """An ``anomaly`` finding (info) per allowed anomaly; a warning per test that errored."""
    titles = {t.name: t.title for t in section.tests}
    findings: list[Finding] = []
    for level, by_test in section.verdicts.items():
        for test, verdict in by_test.items():
            evidence = AnomalyEvidence(
                level=level,
                test=test,
                title=titles.get(test, test),
                observations=dict(verdict.observations),
            )
            if verdict.outcome is Outcome.ALLOWED:
                findings.append(
                    Finding(
                        FindingKind.ANOMALY,
                        Severity.INFO,
                        test,
                        f"{level} allows {test} ({titles.get(test, test)}): {verdict.note}",
                        evidence,
                    )
                )
            elif verdict.outcome is Outcome.ERROR:
                findings.append(
                    Finding(
                        FindingKind.ISOLATION_TEST_ERROR,
                        Severity.WARNING,
                        test,
                        f"{test} at {level} could not be judged: {verdict.note}",
                        evidence,
                    )
                )
    return findings
