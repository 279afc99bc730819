"""The pool probe and the pool tracer on real databases (a fresh SQLite file and PostgreSQL)."""

from __future__ import annotations

import asyncio
import gc
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from rich.console import Console
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import QueuePool

from dbprobe.database.engine import Database, PoolOptions, open_database
from dbprobe.database.url import Backend, Target
from dbprobe.gate.slo import parse_slo
from dbprobe.instrument.pool_trace import Holder, PoolTracer
from dbprobe.load.harness import ProbeHooks, TargetOptions
from dbprobe.probes.pool.probe import PoolProbeOptions, run_pool
from dbprobe.report.console import print_report
from dbprobe.result.jsonio import read_report, report_to_dict, write_report

pytestmark = pytest.mark.asyncio

# A checkout gives up when asyncio's timer for pool_timeout fires; the worker
# then sees it once the event loop runs it again and SQLAlchemy's greenlet
# unwinds. Six workers share one loop with the pool's own callbacks, and on a
# loaded CI machine a loop iteration can be late by tens of milliseconds (GC,
# other processes): 0.25 s is several times that. It bounds one wait; it is no
# claim about speed.
_SCHEDULING_SLACK_MS = 250.0


def _exhausting(max_overflow: int, **change: Any) -> PoolProbeOptions:
    """Six workers each holding a connection 1 s, on a pool of two (+ ``max_overflow``)."""
    options: dict[str, Any] = {
        "pool_size": 2,
        "max_overflow": max_overflow,
        "pool_timeout_s": 0.3,
        "threads": 6,
        "hold_ms": 1000,
        "duration_s": 2,
    }
    return PoolProbeOptions(**(options | change))


def _console_text(report: Any) -> str:
    console = Console(record=True, width=160)
    print_report(report, console)
    return console.export_text()


def _timeline_cells(text_: str) -> list[list[str]]:
    """Rows of the console's timeline table: second, demand, checked out, waiting, timeouts."""
    after = text_.split("pool timeline, per second", 1)[1]
    table = after.split("peaks within each second", 1)[0]
    return [
        [cell.strip() for cell in line.split("│")[1:6]]
        for line in table.splitlines()
        if line.startswith("│")
    ]


async def test_exhausted_pool_counts_timeouts_bounds_waits_and_never_exceeds_its_size(
    target: Target, tmp_path: Path
) -> None:
    report = await run_pool(
        TargetOptions(target, scale="tiny"), _exhausting(max_overflow=0, trace_holders=True)
    )
    data = report_to_dict(report)
    pool = data["pool"]
    write_report(report, tmp_path / "pool.json")
    assert report_to_dict(read_report(tmp_path / "pool.json")) == data

    assert pool["timeouts"] > 0
    assert pool["checkout_wait_ms"]["max"] < 300 + _SCHEDULING_SLACK_MS
    assert pool["peak_checked_out"] == 2
    assert pool["overflow_used"] == 0
    # Checkout wait and statement time are separate fields: every checkout
    # attempt (served or timed out) has a wait; only served ones a statement.
    assert pool["checkout_wait_ms"]["count"] == pool["checkouts"] + pool["timeouts"]
    assert pool["statement_ms"]["count"] == pool["hold_ms"]["count"] == pool["checkouts"]
    assert pool["waits_began_at_demand"] == pool["timeouts_began_at_demand"] == 6
    # Six workers at once, two connections: two out, four queued, in the first second.
    assert pool["timeline"][0] == {
        "second": 0,
        "demand": 6,
        "checked_out": 2,
        "waiting": 4,
        "timeouts": pool["timeline"][0]["timeouts"],
    }
    assert pool["timeline"][0]["timeouts"] >= 4
    assert sum(row["timeouts"] for row in pool["timeline"]) == pool["timeouts"]
    assert [row["demand"] for row in pool["timeline"][:2]] == [6, 6]
    assert pool["holders"] == [
        {
            "location": "dbprobe.probes.pool (hold worker)",
            "checkouts": pool["checkouts"],
            "held_ms_total": pool["holders"][0]["held_ms_total"],
            "held_ms_max": pool["holders"][0]["held_ms_max"],
        }
    ]
    assert pool["leaks"] == []

    (op,) = data["operations"]
    assert op["name"] == "hold"
    assert op["error_classes"] == {"pool_timeout": pool["timeouts"]}
    assert op["errors"] == pool["timeouts"]
    assert op["commits"] == pool["checkouts"]
    assert op["count"] == op["commits"] + op["errors"]
    assert op["attempts"] == op["commits"] + op["rollbacks"] + op["cancelled"]
    assert op["error_samples"]["pool_timeout"][0].startswith(
        "TimeoutError: QueuePool limit of size 2 overflow 0 reached"
    )
    assert data["config"]["pool_size"] == 2
    assert data["config"]["max_overflow"] == 0

    (finding,) = [f for f in data["findings"] if f["kind"] == "pool_exhaustion"]
    assert finding["severity"] == "warning"
    assert finding["evidence"]["timeouts"] == pool["timeouts"]
    assert finding["evidence"]["peak_checked_out"] == 2
    timed_out = f"{pool['timeouts']} of {op['count']} checkouts timed out after 0.3 s"
    assert timed_out in finding["message"]
    if target.backend is Backend.POSTGRESQL:
        # Taken at the first timeout: both of the probe's connections were in pg_sleep.
        activity = finding["evidence"]["pg_stat_activity"]
        assert len(activity) == 2
        assert {(a["state"], a["wait_event_type"], a["wait_event"]) for a in activity} == {
            ("active", "Timeout", "PgSleep")
        }
        assert {a["query"] for a in activity} == {"SELECT pg_sleep($1)"}
    else:
        assert "pg_stat_activity" not in finding["evidence"]

    shown = _console_text(report)
    assert _timeline_cells(shown)[0] == ["0", "6", "2", "4", str(pool["timeline"][0]["timeouts"])]
    assert len(_timeline_cells(shown)) == len(pool["timeline"])
    assert "checkout wait" in shown


async def test_with_overflow_for_every_worker_the_same_demand_never_times_out(
    target: Target,
) -> None:
    report = await run_pool(TargetOptions(target, scale="tiny"), _exhausting(max_overflow=4))
    data = report_to_dict(report)
    pool = data["pool"]

    assert pool["timeouts"] == 0
    assert pool["peak_checked_out"] == 6
    assert pool["overflow_used"] == 4
    assert pool["waits_began_at_demand"] is None
    assert pool["timeouts_began_at_demand"] is None
    assert [row["waiting"] for row in pool["timeline"]] == [0] * len(pool["timeline"])
    assert pool["timeline"][0]["checked_out"] == 6
    assert pool["holders"] == []  # not traced
    (op,) = data["operations"]
    assert op["error_classes"] == {}
    assert op["commits"] == pool["checkouts"] > 0
    assert [f["kind"] for f in data["findings"]] == []


async def test_ramp_shows_at_which_demand_waits_began_and_the_recovery(target: Target) -> None:
    probe = PoolProbeOptions(
        pool_size=2,
        max_overflow=0,
        pool_timeout_s=5,
        threads=4,
        hold_ms=300,
        duration_s=3,
        ramp=True,
    )
    report = await run_pool(TargetOptions(target, scale="tiny"), probe)
    pool = report_to_dict(report)["pool"]

    assert [row["demand"] for row in pool["timeline"][:3]] == [1, 4, 1]
    # One worker alone never waits; four on two connections do, from second 1.
    assert pool["timeline"][0]["waiting"] == 0
    assert pool["timeline"][1]["waiting"] == 2
    assert pool["waits_began_at_demand"] == 4
    assert pool["timeouts"] == 0
    assert pool["timeouts_began_at_demand"] is None
    assert pool["peak_checked_out"] == 2
    # Demand fell to one worker at second 2; the queue drained before the end.
    assert pool["recovered"] is True
    assert pool["recovery_s"] is not None


async def test_a_stopped_run_is_a_partial_report_whose_counts_add_up(target: Target) -> None:
    stop = asyncio.Event()

    def stop_after_two_finished(_fraction: float, done: int) -> None:
        if done >= 2:  # two checkouts timed out (or holds ended): the run is under way
            stop.set()

    report = await run_pool(
        TargetOptions(target, scale="tiny"),
        _exhausting(max_overflow=0, duration_s=30),
        stop=stop,
        hooks=ProbeHooks(on_progress=stop_after_two_finished),
    )
    data = report_to_dict(report)
    assert data["run"]["interrupted"] is True
    (op,) = data["operations"]
    assert op["count"] >= 2
    assert op["attempts"] == op["commits"] + op["rollbacks"] + op["cancelled"]
    assert op["cancelled"] > 0  # the holders and waiters in flight
    assert data["pool"]["leaks"] == []


async def test_an_objective_on_the_hold_operation_is_checked(sqlite_target: Target) -> None:
    probe = PoolProbeOptions(pool_size=1, max_overflow=0, threads=1, hold_ms=0, duration_s=0.2)
    report = await run_pool(
        TargetOptions(sqlite_target, scale="tiny"), probe, slos=[parse_slo("hold:p50<1us")]
    )
    (finding,) = report.findings
    assert (finding.kind, finding.operation) == ("slo_violation", "hold")


# -- the tracer on an engine of the test's own -------------------------------


@pytest_asyncio.fixture
async def small_db(target: Target) -> AsyncIterator[Database]:
    db = await open_database(target, PoolOptions(size=2))
    try:
        yield db
    finally:
        await db.dispose()


async def test_a_session_never_closed_is_a_leaked_connection_naming_this_line(
    small_db: Database,
) -> None:
    with PoolTracer(small_db.engine) as tracer:
        session = AsyncSession(small_db.engine)
        leak_line = sys._getframe().f_lineno + 1
        await session.execute(text("SELECT 1"))
    trace = tracer.result
    try:
        assert trace is not None
        (finding,) = trace.findings()
        here = f"{__file__}:{leak_line}"
        assert finding.kind == "leaked_connection"
        assert finding.evidence.location == here
        assert finding.evidence.still_checked_out is True
        assert finding.message.startswith(
            f"connection checked out at {here} was still checked out when the trace ended"
        )
        assert trace.peak_checked_out == 1
    finally:
        await session.close()


async def test_a_session_reclaimed_by_the_garbage_collector_is_a_leak_naming_this_line(
    small_db: Database,
) -> None:
    pool = small_db.engine.sync_engine.pool
    assert isinstance(pool, QueuePool)
    with PoolTracer(small_db.engine) as tracer:
        session = AsyncSession(small_db.engine)
        leak_line = sys._getframe().f_lineno + 1
        await session.execute(text("SELECT 1"))
        assert tracer.checked_out == 1
        driver = await _driver_connection(session)
        del session
        # SQLAlchemy warns from the connection's finalizer; the tracer takes
        # the warning (under this suite's filterwarnings=error it would
        # otherwise be an unraisable exception in a weakref callback).
        gc.collect()
        assert tracer.checked_out == 0
    # SQLAlchemy terminates the reclaimed connection; aiosqlite closes it on
    # the connection's own thread and then calls back into this event loop,
    # so the loop must outlive that thread (asyncpg terminates in place).
    thread = getattr(driver, "_thread", None)
    if thread is not None:
        await asyncio.to_thread(thread.join)
    trace = tracer.result
    assert trace is not None
    (leak,) = trace.leaks
    assert leak.reclaimed_by_gc is True
    assert leak.location == f"{__file__}:{leak_line}"
    (finding,) = trace.findings()
    assert finding.kind == "leaked_connection"
    assert "the garbage collector reclaimed it" in finding.message
    assert pool.checkedout() == 0  # SQLAlchemy took it off the pool's books


async def _driver_connection(session: AsyncSession) -> Any:
    """The driver's connection under the session's (no reference to the pooled one is kept)."""
    pooled = await (await session.connection()).get_raw_connection()
    return pooled.driver_connection


class _FakeClock:
    def __init__(self) -> None:
        self.now_ns = 0

    def __call__(self) -> int:
        return self.now_ns

    def advance_ms(self, ms: int) -> None:
        self.now_ns += ms * 1_000_000


async def test_holders_are_the_locations_that_held_connections_longest_first(
    small_db: Database,
) -> None:
    clock = _FakeClock()
    engine = small_db.engine
    with PoolTracer(engine, clock_ns=clock) as tracer:
        for _ in range(3):
            short_line = sys._getframe().f_lineno + 1
            async with engine.connect():
                clock.advance_ms(5)
        long_line = sys._getframe().f_lineno + 1
        async with engine.connect():
            clock.advance_ms(40)
    trace = tracer.result
    assert trace is not None
    assert trace.holders == (
        Holder(f"{__file__}:{long_line}", 1, 40.0, 40.0),
        Holder(f"{__file__}:{short_line}", 3, 15.0, 5.0),
    )
    assert trace.checkouts == 4
    assert trace.peak_checked_out == 1
    assert trace.leaks == ()
    assert trace.findings() == []
