"""The result of a probe run, as typed, immutable objects.

These are what the console, the JSON file and the SLO checks read; the JSON
shape (schema ``dbprobe.report/1``) is produced and parsed in
:mod:`dbprobe.result.jsonio` only; findings are :mod:`dbprobe.result.findings`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from dbprobe.metrics import LatencySummary
from dbprobe.metrics.sparse import SparseHistogram
from dbprobe.result.config import RunConfig
from dbprobe.result.findings import Finding
from dbprobe.result.plans import StatementPlan

__all__ = [
    "CalibrationRound",
    "OperationReport",
    "QueryCounts",
    "RawSection",
    "Report",
    "Resources",
    "RoundFigures",
    "RunInfo",
    "Section",
    "TargetInfo",
    "ToolInfo",
]


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
    #: The event loop the load ran on ("asyncio" or "uvloop"); None in a report
    #: written before it was recorded, or merged from parts that ran different ones.
    loop: str | None = None


@dataclass(frozen=True)
class TargetInfo:
    """The database measured; ``url`` never carries the password."""

    backend: str
    url: str
    server_version: str
    scale: str
    seed: int
    isolation: str
    # Why the server's share of the latency is not split out, on PostgreSQL
    # without a readable pg_stat_statements (the fix included); None otherwise.
    server_time_note: str | None = None


@dataclass(frozen=True)
class QueryCounts:
    """SQL statements: all issued (failed attempts included), and per committed operation."""

    total: int
    per_op_mean: float
    per_op_max: int


@dataclass(frozen=True)
class RoundFigures:
    """One operation in one round of a run: the latencies it committed, over how long.

    A run measures its operations in rounds (interleaved, so that a burst of
    interference on the machine spreads over all of them); the regression
    gate takes each round's figure as one sample. ``histogram`` holds the
    round's latencies as sparse ``(bucket_lower_us, count)`` pairs
    (:class:`~dbprobe.metrics.sparse.SparseHistogram`), so rounds of several
    processes merge exactly; ``duration_s`` is how long the round lasted;
    ``cpu_ms`` and ``round_trip_ms`` the machine's references measured in the
    round (a fixed CPU loop; a ``SELECT 1`` round trip, the median of a few:
    :mod:`dbprobe.load.calibration`), None where they were not; ``cpu_wait``
    the share of the round the process's threads waited for a CPU, where the
    round itself measured it (the pytest plugin's benchmarks: a probe's run
    keeps it in its calibration).
    """

    duration_s: float
    histogram: tuple[tuple[int, int], ...]
    cpu_ms: float | None = None
    round_trip_ms: float | None = None
    cpu_wait: float | None = None

    @property
    def count(self) -> int:
        return sum(n for _, n in self.histogram)

    def percentile_ms(self, percentile: float) -> float:
        """The round's latency at ``percentile`` (0..100), in ms; 0.0 when it committed none."""
        return SparseHistogram.from_pairs(self.histogram).percentile_ms(percentile)

    @property
    def throughput_per_s(self) -> float:
        return self.count / self.duration_s if self.duration_s > 0 else 0.0


@dataclass(frozen=True)
class CalibrationRound:
    """The machine's reference figures, measured once in a round beside the operations.

    ``cpu_ms``: a fixed CPU-bound loop, timed on the measuring thread (it
    slows only when the machine does); ``select_1_ms``: a ``SELECT 1`` round
    trip on a connection of its own, the median of a few (the driver's hand-offs
    and the server at rest), None where it could not be measured;
    ``cpu_wait``: the time the run's threads spent ready to run but waiting
    for a CPU (the kernel's run-queue delay), over the round's wall-clock
    time: another process competing for the CPUs raises it, None where the
    kernel does not say (not Linux).
    """

    cpu_ms: float
    select_1_ms: float | None = None
    cpu_wait: float | None = None


@dataclass(frozen=True)
class OperationReport:
    """One transaction type's outcome.

    ``count`` is operations finished (``commits + errors``); ``attempts`` counts
    every try, so ``attempts == commits + rollbacks + cancelled``. Latency
    covers committed operations only, from the first attempt to the commit.

    In an open-loop run (a rate was set), ``latency_ms`` runs from each
    operation's *intended* start (corrected for coordinated omission), and
    the rest is set: ``service_latency_ms`` from the actual start (the
    uncorrected figure), ``schedule_lag_ms`` from the intended to the actual
    start, ``late`` operations started over ``LATE_AFTER_MS`` behind
    schedule, ``skipped`` over the latency limit (not run), ``unstarted`` due
    before the end of the run but never reached by a worker. In a closed loop
    these are None and 0. The ``*_histogram`` fields carry the encoded
    HdrHistograms, so that reports of several processes or hosts merge exactly.

    ``error_classes`` counts failed attempts by class (retried ones included);
    ``errors_by_class`` the operations that gave up, by the class of their last
    failure (empty in reports written before it was kept).
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
    service_latency_ms: LatencySummary | None = None
    schedule_lag_ms: LatencySummary | None = None
    late: int = 0
    skipped: int = 0
    unstarted: int = 0
    commit_histogram: str = ""
    service_histogram: str = ""
    schedule_lag_histogram: str = ""
    # SQLite writers that waited for another writer's lock (at BEGIN IMMEDIATE,
    # inside the busy timeout): contention that no error shows.
    lock_waits: int = 0
    lock_wait_ms_total: float = 0.0
    # Per round of the run (empty in reports written before rounds were kept).
    rounds: tuple[RoundFigures, ...] = ()
    errors_by_class: Mapping[str, int] = field(default_factory=dict)
    # PostgreSQL with pg_stat_statements: the server's execution time of this
    # operation's statements, per finished operation (mean, ms); None elsewhere.
    server_ms: float | None = None

    @property
    def open_loop(self) -> bool:
        """Whether it ran at a fixed rate (latency from the intended start)."""
        return self.service_latency_ms is not None

    @property
    def error_rate(self) -> float:
        """Share of finished operations that gave up with an error (0..1)."""
        return self.errors / self.count if self.count else 0.0


@dataclass(frozen=True)
class Resources:
    """The dbprobe process itself: memory and CPU during the run.

    ``cpu_percent`` is the whole process (threads included) in % of one core;
    ``loop_cpu_percent`` the event-loop thread alone, the load generator's
    own work (None where not measured). With several processes, memory and
    ``cpu_percent`` add up over them and ``loop_cpu_percent`` is the busiest.
    """

    rss_mb_start: float
    rss_mb_peak: float
    cpu_percent: float
    loop_cpu_percent: float | None = None
    processes: int = 1


class Section(Protocol):
    """A probe's own part of the report (a pool timeline, an isolation matrix...).

    It appears in the JSON under the top-level key ``name``; the console,
    Markdown and HTML renderers show it from that JSON
    (:mod:`dbprobe.report.section_views`), so a report read back from a file
    shows it as the run did.
    """

    @property
    def name(self) -> str: ...

    def to_json(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class RawSection:
    """A section read back from a report file: its JSON as it was written."""

    name: str
    data: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return dict(self.data)


@dataclass(frozen=True)
class Report:
    tool: ToolInfo
    run: RunInfo
    target: TargetInfo
    config: RunConfig
    operations: tuple[OperationReport, ...]
    findings: tuple[Finding, ...]
    resources: Resources
    sections: tuple[Section, ...] = ()
    # The machine's reference, round by round (empty where not measured).
    calibration: tuple[CalibrationRound, ...] = ()
    # One plan per statement fingerprint, with --explain (empty otherwise).
    plans: tuple[StatementPlan, ...] = ()

    def operation(self, name: str) -> OperationReport:
        for op in self.operations:
            if op.name == name:
                return op
        raise KeyError(name)
