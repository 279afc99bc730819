"""The pool, deadlock and isolation sections as the renderers read them (from their JSON).

See :mod:`dbprobe.report.section_views`: these are the views of the probes'
own sections, whose JSON :mod:`dbprobe.probes.pool.section`,
:mod:`dbprobe.probes.deadlock.section` and :mod:`dbprobe.probes.isolation.matrix`
write. Each ``read_*`` raises KeyError, TypeError or ValueError on JSON it
cannot read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dbprobe.instrument.pool_trace import Holder, LeakedConnection
from dbprobe.probes.isolation.matrix import LevelInfo
from dbprobe.probes.isolation.verdicts import Outcome, PreventedBy
from dbprobe.probes.pool.model import TimelineRow

__all__ = [
    "DeadlockView",
    "IsolationCell",
    "IsolationView",
    "LedgerView",
    "Mismatch",
    "Percentiles",
    "PoolView",
    "TestInfo",
    "opt_float",
    "opt_int",
    "read_deadlock",
    "read_isolation",
    "read_pool",
]


def opt_float(value: Any) -> float | None:
    """A JSON number as a float, null as None."""
    return None if value is None else float(value)


def opt_int(value: Any) -> int | None:
    """A JSON number as an int, null as None."""
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
            mean_ms=opt_float(d.get("mean")),
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


def read_pool(d: Mapping[str, Any]) -> PoolView:
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
        capacity_per_s=opt_float(d.get("capacity_per_s")),
        measured_per_s=float(d["measured_per_s"]),
        waits_began_at_demand=opt_int(d.get("waits_began_at_demand")),
        timeouts_began_at_demand=opt_int(d.get("timeouts_began_at_demand")),
        recovery_s=opt_float(d.get("recovery_s")),
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
                opt_float(leak.get("held_ms")),
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
    # Of the retries and give-ups, those that followed a deadlock (absent from
    # reports written before they were told apart from other failures).
    deadlock_retries: int | None = None
    deadlock_give_ups: int | None = None


def _ledger(d: Mapping[str, Any]) -> LedgerView:
    return LedgerView(
        holds=bool(d["holds"]),
        sum_before=int(d["sum_before"]),
        sum_after=int(d["sum_after"]),
        accounts_checked=int(d["accounts_checked"]),
        accounts_mismatched=int(d["accounts_mismatched"]),
        amount_lost_cents=int(d["amount_lost_cents"]),
        transfers_checked=int(d["transfers_checked"]),
        transfers_committed=opt_int(d.get("transfers_committed")),
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


def read_deadlock(d: Mapping[str, Any]) -> DeadlockView:
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
        busy=opt_int(d.get("busy")),
        retries=int(d["retries"]),
        give_ups=int(d["give_ups"]),
        deadlock_rate=float(d["deadlock_rate"]),
        success_rate=float(d["success_rate"]),
        commits_by_attempt=tuple(
            sorted((int(k), int(n)) for k, n in d.get("commits_by_attempt", {}).items())
        ),
        latency_ms=Percentiles.from_json(d["latency_ms"]),
        write_lock_wait_ms=Percentiles.from_json(wait) if wait is not None else None,
        write_lock_wait_total_ms=opt_float(d.get("write_lock_wait_total_ms")),
        invariant=_ledger(invariant) if invariant is not None else None,
        deadlock_details=tuple(str(t) for t in d.get("deadlock_details", ())),
        deadlock_retries=opt_int(d.get("deadlock_retries")),
        deadlock_give_ups=opt_int(d.get("deadlock_give_ups")),
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


def read_isolation(d: Mapping[str, Any]) -> IsolationView:
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
