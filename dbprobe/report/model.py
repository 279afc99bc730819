"""The result of a probe run, as typed, immutable objects.

These are what the console, the JSON file and the SLO checks read; the JSON
shape (schema ``dbprobe.report/1``) is produced and parsed in
:mod:`dbprobe.report.jsonio` only.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.console import RenderableType

from dbprobe.metrics import LatencySummary

__all__ = [
    "Finding",
    "OperationReport",
    "QueryCounts",
    "RawSection",
    "Report",
    "Resources",
    "RunInfo",
    "Section",
    "Severity",
    "TargetInfo",
    "ToolInfo",
]


class Severity(enum.StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True)
class ToolInfo:
    name: str
    version: str


@dataclass(frozen=True)
class RunInfo:
    """Which probe ran, when, for how long, and whether it was interrupted."""

    probe: str
    started_at: dt.datetime  # UTC
    duration_s: float
    argv: tuple[str, ...]
    host: str
    python: str
    interrupted: bool = False


@dataclass(frozen=True)
class TargetInfo:
    """The database measured; ``url`` never carries the password."""

    backend: str
    url: str
    server_version: str
    scale: str
    seed: int
    isolation: str


@dataclass(frozen=True)
class QueryCounts:
    """SQL statements: all issued (failed attempts included), and per committed operation."""

    total: int
    per_op_mean: float
    per_op_max: int


@dataclass(frozen=True)
class OperationReport:
    """One transaction type's outcome.

    ``count`` is operations finished (``commits + errors``); ``attempts`` counts
    every try, so ``attempts == commits + rollbacks + cancelled``. Latency
    covers committed operations only, from the first attempt to the commit.
    """

    name: str
    count: int
    attempts: int
    commits: int
    rollbacks: int
    errors: int
    retries: int
    cancelled: int
    error_classes: Mapping[str, int]
    error_samples: Mapping[str, tuple[str, ...]]
    latency_ms: LatencySummary
    commit_latency_ms: LatencySummary
    throughput_per_s: float
    queries: QueryCounts
    histogram: str  # HdrHistogram, compressed and base64-encoded

    @property
    def error_rate(self) -> float:
        """Share of finished operations that gave up with an error (0..1)."""
        return self.errors / self.count if self.count else 0.0


@dataclass(frozen=True)
class Finding:
    """Something the user should act on, with the numbers behind it."""

    kind: str
    severity: Severity
    operation: str | None
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Resources:
    """The dbprobe process itself: memory and CPU during the run."""

    rss_mb_start: float
    rss_mb_peak: float
    cpu_percent: float


class Section(Protocol):
    """A probe's own part of the report (a pool timeline, an isolation matrix...).

    It appears in the JSON under the top-level key ``name`` and, if
    :meth:`render` returns something, in the console after the table.
    """

    @property
    def name(self) -> str: ...

    def to_json(self) -> dict[str, Any]: ...

    def render(self) -> RenderableType | None: ...


@dataclass(frozen=True)
class RawSection:
    """A section read back from a report file: its JSON as it was written."""

    name: str
    data: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return dict(self.data)

    def render(self) -> RenderableType | None:
        return None


@dataclass(frozen=True)
class Report:
    tool: ToolInfo
    run: RunInfo
    target: TargetInfo
    config: Mapping[str, Any]
    operations: tuple[OperationReport, ...]
    findings: tuple[Finding, ...]
    resources: Resources
    sections: tuple[Section, ...] = ()

    def operation(self, name: str) -> OperationReport:
        for op in self.operations:
            if op.name == name:
                return op
        raise KeyError(name)
