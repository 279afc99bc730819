"""The isolation probe against real databases: Hermitage's matrix, observed.

The probe itself coordinates the transactions: each step runs as a task, and a
step is known to be blocked when PostgreSQL's pg_stat_activity shows its backend
waiting on a lock (SQLite: when it fails with SQLITE_BUSY after the busy
timeout). Nothing here sleeps for a guessed time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from dbprobe.database.engine import Isolation, PoolOptions, build_engine
from dbprobe.database.url import Backend, Target
from dbprobe.load.harness import ProbeHooks, TargetOptions
from dbprobe.probes.isolation.hermitage import Anomaly, HermitageTest, Step
from dbprobe.probes.isolation.matrix import IsolationSection
from dbprobe.probes.isolation.probe import IsolationOptions, ensure_table, run_isolation, run_test
from dbprobe.probes.isolation.verdicts import Outcome, PreventedBy, Verdict
from dbprobe.result.config import IsolationConfig
from dbprobe.result.jsonio import report_from_dict, report_to_dict
from dbprobe.result.model import Report

pytestmark = pytest.mark.asyncio

#: Hermitage's published results for PostgreSQL (its README's summary table).
_RC_PREVENTS = {"G0", "G1a", "G1b", "G1c", "OTV"}
_RR_PREVENTS = _RC_PREVENTS | {"PMP", "P4", "G-single"}
_ALL_TESTS = ("G0", "G1a", "G1b", "G1c", "OTV", "PMP", "P4", "G-single", "G2-item", "G2")
HERMITAGE_POSTGRES = {
    level: {t: "prevented" if t in prevents else "allowed" for t in _ALL_TESTS}
    for level, prevents in (
        ("read_committed", _RC_PREVENTS),
        ("repeatable_read", _RR_PREVENTS),
        ("serializable", set(_ALL_TESTS)),
    )
}

#: Short, so that every write SQLite refuses costs little; still far above a step's run time.
SQLITE_BUSY_MS = 50


def _section(report: Report) -> IsolationSection:
    (section,) = report.sections
    assert isinstance(section, IsolationSection)
    return section


def _verdict(report: Report, level: str, test: str) -> Verdict:
    return _section(report).verdicts[level][test]


# --------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
async def test_postgres_matrix_is_hermitages_published_one(pg_target: Target) -> None:
    report = await run_isolation(TargetOptions(pg_target, scale="tiny"), IsolationOptions())
    section = _section(report)
    assert section.matrix() == HERMITAGE_POSTGRES

    # How each level prevents what it prevents, as Hermitage's write-up describes it.
    assert _verdict(report, "read_committed", "G0").prevented_by is PreventedBy.LOCK_WAIT
    assert _verdict(report, "read_committed", "G0").step == 2  # T2's update waited for T1
    assert _verdict(report, "read_committed", "OTV").prevented_by is PreventedBy.LOCK_WAIT
    assert _verdict(report, "read_committed", "G1a").prevented_by is PreventedBy.VISIBILITY
    p4_rr = _verdict(report, "repeatable_read", "P4")
    assert p4_rr.prevented_by is PreventedBy.ABORT
    assert p4_rr.step == 4  # T2's update, blocked, then 40001 when T1 committed
    assert "40001" in p4_rr.note
    assert _verdict(report, "repeatable_read", "PMP").prevented_by is PreventedBy.VISIBILITY
    g2_ser = _verdict(report, "serializable", "G2-item")
    assert g2_ser.prevented_by is PreventedBy.ABORT
    assert g2_ser.step == 6  # T2's commit
    # What read committed lets through, seen for real: the lost increment.
    assert _verdict(report, "read_committed", "P4").observations["final"] == "1 => 11"

    allowed = {
        (level, test)
        for level, by_test in HERMITAGE_POSTGRES.items()
        for test, cell in by_test.items()
        if cell == "allowed"
    }
    anomalies = [f for f in report.findings if f.kind == "anomaly"]
    assert {(f.evidence.level, f.evidence.test) for f in anomalies} == allowed
    assert len(anomalies) == 7
    assert report.operations == ()
    assert isinstance(report.config.probe, IsolationConfig)
    assert report.config.probe.levels == ("read_committed", "repeatable_read", "serializable")

    written = report_to_dict(report)
    assert written["isolation"]["matrix"] == HERMITAGE_POSTGRES
    assert report_to_dict(report_from_dict(written))["isolation"] == written["isolation"]


@pytest_asyncio.fixture
async def pg_public_twin(pg_target: Target) -> AsyncIterator[AsyncEngine]:
    """A user's table named like the probe's, in public: the probe must never touch it."""
    engine = build_engine(pg_target, PoolOptions(size=2), Isolation.READ_COMMITTED)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("drop table if exists public.isolation_test"))
            await conn.execute(text("create table public.isolation_test (id int, value int)"))
            await conn.execute(text("insert into public.isolation_test values (1, 999)"))
        yield engine
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("drop table if exists public.isolation_test"))
        await engine.dispose()


@pytest.mark.postgres
async def test_postgres_probe_works_in_its_own_schema_only(
    pg_target: Target, pg_public_twin: AsyncEngine
) -> None:
    report = await run_isolation(
        TargetOptions(pg_target, scale="tiny"),
        IsolationOptions(levels=("read_committed",), tests=("G1b", "P4")),
    )
    assert _section(report).matrix() == {"read_committed": {"G1b": "prevented", "P4": "allowed"}}
    async with pg_public_twin.connect() as conn:
        public = (await conn.execute(text("select id, value from public.isolation_test"))).all()
        own = (await conn.execute(text("select count(*) from dbprobe.isolation_test"))).scalar()
    assert [tuple(r) for r in public] == [(1, 999)]
    assert own == 2  # P4 ran last: its two rows, in dbprobe's schema


@pytest.mark.postgres
async def test_postgres_step_blocked_until_the_limit_is_an_error_not_a_verdict(
    pg_target: Target,
) -> None:
    # T2 waits for T1's row lock, but the script asks T2 to commit before T1 ends:
    # lock_timeout (the probe's limit) ends the wait with 55P03.
    never_released = HermitageTest(
        name="stuck",
        title="a script that waits on itself",
        description="T2 is blocked by T1, which only commits after T2",
        steps=(
            Step("T1", "update isolation_test set value = 11 where id = 1"),
            Step("T2", "update isolation_test set value = 12 where id = 1"),
            Step("T2", "commit"),
            Step("T1", "commit"),
            Step(
                "after",
                "select * from isolation_test where id = 1",
                "final",
                ("1 => 11", "1 => 12"),
            ),
        ),
        anomalies=(Anomaly({"final": "1 => 12"}, "never"),),
    )
    engine = build_engine(pg_target, PoolOptions(size=5), Isolation.READ_COMMITTED)
    try:
        await ensure_table(engine)
        async with engine.connect() as monitor:
            await monitor.execution_options(isolation_level="AUTOCOMMIT")
            verdict = await run_test(
                never_released, engine, Backend.POSTGRESQL, monitor=monitor, limit_s=0.3
            )
    finally:
        await engine.dispose()
    assert verdict.outcome is Outcome.ERROR
    assert verdict.step == 2
    assert verdict.cell.startswith("error: T2 failed at step 2 `update isolation_test")
    assert verdict.note.endswith("(55P03)")


@pytest.mark.postgres
async def test_postgres_step_that_never_answers_is_cut_off_at_the_limit(pg_target: Target) -> None:
    # Not waiting on a lock, just slow: the probe gives up on it (and discards its connection).
    slow = HermitageTest(
        name="slow",
        title="a statement that takes too long",
        description="T1 sleeps past the limit",
        steps=(
            Step("T1", "select 1, 1 from pg_sleep(30)"),
            Step("T1", "commit"),
            Step("after", "select * from isolation_test where id = 1", "final", ("1 => 10",)),
        ),
        anomalies=(Anomaly({"final": "1 => 10"}, "never judged"),),
    )
    engine = build_engine(pg_target, PoolOptions(size=5), Isolation.READ_COMMITTED)
    try:
        await ensure_table(engine)
        async with engine.connect() as monitor:
            await monitor.execution_options(isolation_level="AUTOCOMMIT")
            verdict = await run_test(slow, engine, Backend.POSTGRESQL, monitor=monitor, limit_s=0.3)
    finally:
        await engine.dispose()
    assert verdict.outcome is Outcome.ERROR
    assert verdict.step == 1
    assert verdict.note == "T1 got no answer within 0.3 s at step 1 `select 1, 1 from pg_sleep(30)`"


# --------------------------------------------------------------------------- SQLite


async def test_sqlite_is_serializable_in_both_begin_modes(sqlite_target: Target) -> None:
    report = await run_isolation(
        TargetOptions(sqlite_target, scale="tiny"),
        IsolationOptions(sqlite_busy_timeout_ms=SQLITE_BUSY_MS),
    )
    section = _section(report)
    assert [lv.name for lv in section.levels] == ["deferred", "immediate"]
    matrix = section.matrix()
    assert set(matrix) == {"deferred", "immediate"}
    for mode in ("deferred", "immediate"):
        # SQLite's transactions are serializable whichever way they begin: no anomaly.
        assert matrix[mode] == dict.fromkeys(_ALL_TESTS, "prevented")
        # A WAL reader reads its snapshot and never waits: no dirty read, no read skew,
        # no phantom, prevented without blocking anyone.
        for test in ("G1a", "G1b", "PMP", "G-single"):
            assert _verdict(report, mode, test).prevented_by is PreventedBy.VISIBILITY, test
        # One writer at a time: a second writer is refused the write lock (SQLITE_BUSY).
        for test in ("G0", "P4", "G2-item", "G2"):
            verdict = _verdict(report, mode, test)
            assert verdict.prevented_by is PreventedBy.BUSY, test
            assert "SQLITE_BUSY" in verdict.note
    assert not [f for f in report.findings if f.kind == "anomaly"]
    # Deferred: T2 reads, and is refused only at its update; immediate: T2 writes, so
    # its BEGIN IMMEDIATE at its first read already finds T1 holding the write lock.
    assert _verdict(report, "deferred", "P4").step == 4
    assert _verdict(report, "deferred", "P4").observations["t2_reads"] == "1 => 10"
    assert _verdict(report, "immediate", "P4").step == 2
    assert "t2_reads" not in _verdict(report, "immediate", "P4").observations


async def test_sqlite_deferred_write_on_a_stale_snapshot_is_a_serialization_failure(
    sqlite_target: Target,
) -> None:
    # Not one of Hermitage's ten: T1's snapshot predates T2's committed write, so
    # T1 may not write at all (SQLITE_BUSY_SNAPSHOT), whatever the busy timeout.
    stale = HermitageTest(
        name="stale",
        title="write on a stale snapshot",
        description="T1 reads, T2 writes and commits, T1 writes",
        steps=(
            Step("T1", "select * from isolation_test where id = 1", "t1_reads", ("1 => 10",)),
            Step("T2", "update isolation_test set value = 12 where id = 1"),
            Step("T2", "commit"),
            Step("T1", "update isolation_test set value = 11 where id = 1"),
            Step("T1", "commit"),
            Step(
                "after",
                "select * from isolation_test where id = 1",
                "final",
                ("1 => 12", "1 => 11"),
            ),
        ),
        anomalies=(Anomaly({"final": "1 => 11"}, "T1 overwrote T2 from a stale read"),),
    )
    engine = build_engine(
        sqlite_target, PoolOptions(size=5), Isolation.SERIALIZABLE, sqlite_busy_timeout_ms=50
    )
    try:
        await ensure_table(engine)
        verdict = await run_test(stale, engine, Backend.SQLITE)
    finally:
        await engine.dispose()
    assert verdict.outcome is Outcome.PREVENTED
    assert verdict.prevented_by is PreventedBy.ABORT
    assert verdict.step == 4
    assert verdict.note.endswith("serialization failure (SQLITE_517)")
    assert verdict.observations["final"] == "1 => 12"


async def test_stop_set_after_the_first_test_ends_the_run_with_a_partial_matrix(
    sqlite_target: Target,
) -> None:
    stop = asyncio.Event()
    progress: list[int] = []

    def on_progress(_fraction: float, done: int) -> None:
        progress.append(done)
        stop.set()

    report = await run_isolation(
        TargetOptions(sqlite_target, scale="tiny"),
        IsolationOptions(sqlite_busy_timeout_ms=SQLITE_BUSY_MS),
        stop=stop,
        hooks=ProbeHooks(on_progress=on_progress),
    )
    assert report.run.interrupted
    assert progress == [1]
    assert _section(report).matrix() == {"deferred": {"G0": "prevented"}}
