"""The isolation probe's results: a matrix of Hermitage verdicts per level, and its findings.

Pure: built from :class:`~dbprobe.probes.isolation.verdicts.Verdict` objects, written as
the ``isolation`` key of the JSON report (which the report's renderers read).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dbprobe.probes.isolation.hermitage import HermitageTest
from dbprobe.probes.isolation.verdicts import Outcome, Verdict
from dbprobe.result.findings import AnomalyEvidence, Finding, FindingKind, Severity

__all__ = ["IsolationSection", "LevelInfo", "matrix_findings"]


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
