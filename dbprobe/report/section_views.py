"""The probes' report sections as the renderers read them: from their JSON, by name.

A report just run carries each section as the probe's own object; a report
read back from a file carries it as a :class:`~dbprobe.result.model.RawSection`
(JSON only). The renderers read both the same way: from ``section.to_json()``,
parsed here into typed views. So a saved report, a baseline and the run that
wrote them render alike, and every figure a section shows is one its JSON keeps.

The JSON of each section is written by its probe (``timeline`` and ``load`` in
:mod:`dbprobe.load.sections`, ``pool`` in :mod:`dbprobe.probes.pool.section`,
``deadlock`` in :mod:`dbprobe.probes.deadlock.section`, ``isolation`` in
:mod:`dbprobe.probes.isolation.matrix`, ``select`` in
:mod:`dbprobe.probes.select.probe`, ``merge`` in :mod:`dbprobe.report.merge`).
A section of another name, or one this dbprobe cannot read (written by a
newer or older version), becomes an :class:`OtherSection`, shown as its keys
and values rather than dropped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dbprobe.instrument.pool_trace import Holder, LeakedConnection
from dbprobe.load.sections import timeline_from_json
from dbprobe.load.timeline import Timeline
from dbprobe.probes.isolation.matrix import LevelInfo
from dbprobe.probes.isolation.verdicts import Outcome, PreventedBy
from dbprobe.probes.pool.model import TimelineRow
from dbprobe.probes.select.probe import LayerFigures
from dbprobe.result.config import LoadShape
from dbprobe.result.model import Report

__all__ = [
    "DeadlockView",
    "GeneratorFigures",
    "IsolationCell",
    "IsolationView",
    "LedgerView",
    "LoadView",
    "MergePart",
    "MergeView",
    "Mismatch",
    "OtherSection",
    "Percentiles",
    "PoolView",
    "ProcessFigures",
    "SectionView",
    "SectionViews",
    "SelectView",
    "TestInfo",
    "TimelineView",
    "read_section",
    "section_views",
]


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class Percentiles:
    """A latency summary as sections write it (ms); ``mean_ms`` where the section keeps it."""

    count: int
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    p999_ms: float
    max_ms: float
    mean_ms: float | None = None

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Percentiles:
        return cls(
            count=int(d["count"]),
            p50_ms=float(d["p50"]),
            p90_ms=float(d["p90"]),
            p95_ms=float(d["p95"]),
            p99_ms=float(d["p99"]),
            p999_ms=float(d["p999"]),
            max_ms=float(d["max"]),
            mean_ms=_opt_float(d.get("mean")),
        )


# --------------------------------------------------------------------------- load, timeline


@dataclass(frozen=True)
class TimelineView:
    """The ``timeline`` section: the run interval by interval."""

    timeline: Timeline

    @property
    def open_loop(self) -> bool:
        return any(p.target_rate_per_s is not None for p in self.timeline.points)


@dataclass(frozen=True)
class GeneratorFigures:
    """The load generator's own effort, as the ``load`` section states it."""

    loop_cpu_percent: float
    wakeups: int
    wakeup_lag_p50_ms: float
    wakeup_lag_p99_ms: float
    wakeup_lag_max_ms: float
    saturated: bool


@dataclass(frozen=True)
class ProcessFigures:
    """One process of a multi-process run: what it ran and its event loop's CPU."""

    index: int
    pid: int
    measured_s: float
    loop_cpu_percent: float
    operations: Mapping[str, Mapping[str, int]]

    @property
    def count(self) -> int:
        return sum(c.get("count", 0) for c in self.operations.values())


@dataclass(frozen=True)
class LoadView:
    """The ``load`` section: closed or open loop, over which window, in how many processes."""

    shape: LoadShape
    open_loop: bool
    measured_from: dt.datetime | None
    measured_s: float
    late_after_ms: float | None
    generator: GeneratorFigures | None
    parts: tuple[ProcessFigures, ...]


def _load(d: Mapping[str, Any]) -> LoadView:
    g = d.get("generator")
    generator = (
        GeneratorFigures(
            loop_cpu_percent=float(g["loop_cpu_percent"]),
            wakeups=int(g.get("wakeups", 0)),
            wakeup_lag_p50_ms=float(g.get("wakeup_lag_p50_ms", 0.0)),
            wakeup_lag_p99_ms=float(g.get("wakeup_lag_p99_ms", 0.0)),
            wakeup_lag_max_ms=float(g.get("wakeup_lag_max_ms", 0.0)),
            saturated=bool(g.get("saturated", False)),
        )
        if isinstance(g, Mapping)
        else None
    )
    measured_from = d.get("measured_from")
    return LoadView(
        shape=LoadShape.from_json(d),
        open_loop=d["mode"] == "open",
        measured_from=dt.datetime.fromisoformat(measured_from) if measured_from else None,
        measured_s=float(d["measured_s"]),
        late_after_ms=_opt_float(d.get("late_after_ms")),
        generator=generator,
        parts=tuple(
            ProcessFigures(
                index=int(p["index"]),
                pid=int(p["pid"]),
                measured_s=float(p["measured_s"]),
                loop_cpu_percent=float(p["loop_cpu_percent"]),
                operations={
                    name: {k: int(v) for k, v in counts.items()}
                    for name, counts in p["operations"].items()
                },
            )
            for p in d.get("parts", ())
        ),
    )


# --------------------------------------------------------------------------- pool


@dataclass(frozen=True)
class PoolView:
    """The ``pool`` section (see :class:`dbprobe.probes.pool.section.PoolSection`)."""

    pool_size: int
    max_overflow: int
    pool_timeout_s: float
    threads: int
    hold_ms_target: float
    hold_method: str
    checkout_wait_ms: Percentiles
    hold_ms: Percentiles
    statement_ms: Percentiles
    checkouts: int
    timeouts: int
    peak_checked_out: int
    overflow_used: int
    capacity_per_s: float | None
    measured_per_s: float
    waits_began_at_demand: int | None
    timeouts_began_at_demand: int | None
    recovery_s: float | None
    recovered: bool | None
    timeline: tuple[TimelineRow, ...]
    holders: tuple[Holder, ...]
    leaks: tuple[LeakedConnection, ...]

    @property
    def connections(self) -> int:
        return self.pool_size + self.max_overflow


def _pool(d: Mapping[str, Any]) -> PoolView:
    return PoolView(
        pool_size=int(d["pool_size"]),
        max_overflow=int(d["max_overflow"]),
        pool_timeout_s=float(d["pool_timeout_s"]),
        threads=int(d["threads"]),
        hold_ms_target=float(d["hold_ms_target"]),
        hold_method=str(d["hold_method"]),
        checkout_wait_ms=Percentiles.from_json(d["checkout_wait_ms"]),
        hold_ms=Percentiles.from_json(d["hold_ms"]),
        statement_ms=Percentiles.from_json(d["statement_ms"]),
        checkouts=int(d["checkouts"]),
        timeouts=int(d["timeouts"]),
        peak_checked_out=int(d["peak_checked_out"]),
        overflow_used=int(d["overflow_used"]),
        capacity_per_s=_opt_float(d.get("capacity_per_s")),
        measured_per_s=float(d["measured_per_s"]),
        waits_began_at_demand=_opt_int(d.get("waits_began_at_demand")),
        timeouts_began_at_demand=_opt_int(d.get("timeouts_began_at_demand")),
        recovery_s=_opt_float(d.get("recovery_s")),
        recovered=d.get("recovered"),
        timeline=tuple(
            TimelineRow(
                int(r["second"]),
                int(r["demand"]),
                int(r["checked_out"]),
                int(r["waiting"]),
                int(r["timeouts"]),
            )
            for r in d.get("timeline", ())
        ),
        holders=tuple(
            Holder(
                h.get("location"),
                int(h["checkouts"]),
                float(h["held_ms_total"]),
                float(h["held_ms_max"]),
            )
            for h in d.get("holders", ())
        ),
        leaks=tuple(
            LeakedConnection(
                leak.get("location"),
                _opt_float(leak.get("held_ms")),
                reclaimed_by_gc=bool(leak.get("reclaimed_by_gc", False)),
            )
            for leak in d.get("leaks", ())
        ),
    )


# --------------------------------------------------------------------------- deadlock


@dataclass(frozen=True)
class Mismatch:
    """An account whose balance is not what the committed transfers make it."""

    account_id: int
    before_cents: int
    expected_cents: int
    actual_cents: int
    difference_cents: int


@dataclass(frozen=True)
class LedgerView:
    """The ledger invariant: the balances against the transfers the run committed."""

    holds: bool
    sum_before: int
    sum_after: int
    accounts_checked: int
    accounts_mismatched: int
    amount_lost_cents: int
    transfers_checked: int
    transfers_committed: int | None
    mismatches: tuple[Mismatch, ...]


@dataclass(frozen=True)
class DeadlockView:
    """The ``deadlock`` section (see :class:`dbprobe.probes.deadlock.section.DeadlockSection`)."""

    backend: str
    pattern: str
    lock_order: str
    isolation: str
    accounts: int
    transfers: int
    attempts: int
    deadlocks: int
    serialization_failures: int
    lock_timeouts: int
    busy: int | None
    retries: int
    give_ups: int
    deadlock_rate: float
    success_rate: float
    commits_by_attempt: tuple[tuple[int, int], ...]
    latency_ms: Percentiles
    write_lock_wait_ms: Percentiles | None
    write_lock_wait_total_ms: float | None
    invariant: LedgerView | None
    deadlock_details: tuple[str, ...]


def _ledger(d: Mapping[str, Any]) -> LedgerView:
    return LedgerView(
        holds=bool(d["holds"]),
        sum_before=int(d["sum_before"]),
        sum_after=int(d["sum_after"]),
        accounts_checked=int(d["accounts_checked"]),
        accounts_mismatched=int(d["accounts_mismatched"]),
        amount_lost_cents=int(d["amount_lost_cents"]),
        transfers_checked=int(d["transfers_checked"]),
        transfers_committed=_opt_int(d.get("transfers_committed")),
        mismatches=tuple(
            Mismatch(
                int(m["account_id"]),
                int(m["before_cents"]),
                int(m["expected_cents"]),
                int(m["actual_cents"]),
                int(m["difference_cents"]),
            )
            for m in d.get("mismatches", ())
        ),
    )


def _deadlock(d: Mapping[str, Any]) -> DeadlockView:
    wait = d.get("write_lock_wait_ms")
    invariant = d.get("invariant")
    return DeadlockView(
        backend=str(d["backend"]),
        pattern=str(d["pattern"]),
        lock_order=str(d["lock_order"]),
        isolation=str(d["isolation"]),
        accounts=int(d["accounts"]),
        transfers=int(d["transfers"]),
        attempts=int(d["attempts"]),
        deadlocks=int(d["deadlocks"]),
        serialization_failures=int(d["serialization_failures"]),
        lock_timeouts=int(d["lock_timeouts"]),
        busy=_opt_int(d.get("busy")),
        retries=int(d["retries"]),
        give_ups=int(d["give_ups"]),
        deadlock_rate=float(d["deadlock_rate"]),
        success_rate=float(d["success_rate"]),
        commits_by_attempt=tuple(
            sorted((int(k), int(n)) for k, n in d.get("commits_by_attempt", {}).items())
        ),
        latency_ms=Percentiles.from_json(d["latency_ms"]),
        write_lock_wait_ms=Percentiles.from_json(wait) if wait is not None else None,
        write_lock_wait_total_ms=_opt_float(d.get("write_lock_wait_total_ms")),
        invariant=_ledger(invariant) if invariant is not None else None,
        deadlock_details=tuple(str(t) for t in d.get("deadlock_details", ())),
    )


# --------------------------------------------------------------------------- isolation


@dataclass(frozen=True)
class TestInfo:
    """A Hermitage test as the ``isolation`` section names it."""

    name: str
    title: str
    description: str


@dataclass(frozen=True)
class IsolationCell:
    """One test at one level: prevented (and how), allowed, or could not be judged."""

    outcome: Outcome
    prevented_by: PreventedBy | None
    note: str


@dataclass(frozen=True)
class IsolationView:
    """The ``isolation`` section: verdicts by level then test, in the order they ran."""

    backend: str
    levels: tuple[LevelInfo, ...]
    tests: tuple[TestInfo, ...]
    cells: Mapping[str, Mapping[str, IsolationCell]]


def _isolation(d: Mapping[str, Any]) -> IsolationView:
    notes = d.get("notes", {})
    prevented_by = d.get("prevented_by", {})
    cells = {
        level: {
            test: IsolationCell(
                # An error cell carries its note: "error: T2 failed at step 2".
                outcome=Outcome(value.split(":", 1)[0]),
                prevented_by=(
                    PreventedBy(prevented_by[level][test])
                    if test in prevented_by.get(level, {})
                    else None
                ),
                note=str(notes.get(level, {}).get(test, "")),
            )
            for test, value in by_test.items()
        }
        for level, by_test in d["matrix"].items()
    }
    return IsolationView(
        backend=str(d["backend"]),
        levels=tuple(LevelInfo(lv["name"], lv["description"]) for lv in d["levels"]),
        tests=tuple(TestInfo(t["name"], t["title"], t.get("description", "")) for t in d["tests"]),
        cells=cells,
    )


# --------------------------------------------------------------------------- select, merge


@dataclass(frozen=True)
class SelectView:
    """The ``select`` section: each layer's figures against the bare driver's."""

    accounts: int
    layers: tuple[LayerFigures, ...]


def _select(d: Mapping[str, Any]) -> SelectView:
    return SelectView(
        accounts=int(d["accounts"]),
        layers=tuple(
            LayerFigures(
                layer=str(f["layer"]),
                throughput_per_s=float(f["throughput_per_s"]),
                p50_ms=float(f["p50_ms"]),
                mean_ms=float(f["mean_ms"]),
                statements_per_op=float(f["statements_per_op"]),
                relative_throughput=_opt_float(f.get("relative_throughput")),
                added_us_per_select=_opt_float(f.get("added_us_per_select")),
            )
            for f in d["layers"]
        ),
    )


@dataclass(frozen=True)
class MergePart:
    """One of the reports ``dbprobe merge`` combined."""

    host: str
    started_at: dt.datetime
    measured_s: float
    operations: Mapping[str, int]


@dataclass(frozen=True)
class MergeView:
    """The ``merge`` section: the parts, and how long they ran together."""

    parts: tuple[MergePart, ...]
    common_window_s: float
    sections_from_first_report: tuple[str, ...]


def _merge(d: Mapping[str, Any]) -> MergeView:
    return MergeView(
        parts=tuple(
            MergePart(
                host=str(r["host"]),
                started_at=dt.datetime.fromisoformat(r["started_at"]),
                measured_s=float(r["measured_s"]),
                operations={name: int(n) for name, n in r["operations"].items()},
            )
            for r in d["reports"]
        ),
        common_window_s=float(d["common_window_s"]),
        sections_from_first_report=tuple(d.get("sections_from_first_report", ())),
    )


@dataclass(frozen=True)
class OtherSection:
    """A section this dbprobe has no view of: its name and JSON, shown as they are."""

    name: str
    data: Mapping[str, Any]


SectionView = (
    TimelineView
    | LoadView
    | PoolView
    | DeadlockView
    | IsolationView
    | SelectView
    | MergeView
    | OtherSection
)

_READERS: dict[str, Callable[[Mapping[str, Any]], SectionView]] = {
    "timeline": lambda d: TimelineView(timeline_from_json(d)),
    "load": _load,
    "pool": _pool,
    "deadlock": _deadlock,
    "isolation": _isolation,
    "select": _select,
    "merge": _merge,
}

# How the load was applied, in this order, after the probe's own results.
_CONTEXT = {"load": 0, "timeline": 1, "merge": 2}


def read_section(name: str, data: Mapping[str, Any]) -> SectionView:
    """The view of the section ``name`` holding ``data`` (its JSON)."""
    reader = _READERS.get(name)
    if reader is None:
        return OtherSection(name, data)
    try:
        return reader(data)
    except (KeyError, TypeError, ValueError, AttributeError):
        # Written by another dbprobe version: shown as it is rather than lost.
        return OtherSection(name, data)


@dataclass(frozen=True)
class SectionViews:
    """A report's sections, read from their JSON.

    ``own``: the probe's results (a pool, a matrix...), shown with the
    operations; ``context``: how the load was applied and when (load,
    timeline, merge), shown after the findings.
    """

    own: tuple[SectionView, ...]
    context: tuple[SectionView, ...]


def section_views(report: Report) -> SectionViews:
    """Every section of ``report``, read from its JSON (see :class:`SectionViews`)."""
    own = [s for s in report.sections if s.name not in _CONTEXT]
    context = sorted(
        (s for s in report.sections if s.name in _CONTEXT), key=lambda s: _CONTEXT[s.name]
    )
    return SectionViews(
        tuple(read_section(s.name, s.to_json()) for s in own),
        tuple(read_section(s.name, s.to_json()) for s in context),
    )
