"""Server-side lock and statement timeouts: classified, retried as configured, counted."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text

from dbprobe.data.scales import load_scale
from dbprobe.data.seeding import ensure_seeded
from dbprobe.database.engine import PoolOptions, open_database
from dbprobe.database.url import Target
from dbprobe.errors import ErrorClass
from dbprobe.load.harness import TargetOptions
from dbprobe.load.operations import Operation, OperationContext
from dbprobe.load.plan import LoadPlan, RetryPolicy
from dbprobe.load.workers import run_workload
from dbprobe.probes import uow
from dbprobe.probes.uow import run_uow

pytestmark = pytest.mark.asyncio


async def _alter_database(target: Target, setting: str) -> None:
    dsn = target.url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"ALTER DATABASE {target.url.database} SET {setting}")
    finally:
        await conn.close()


async def _release_after_timed_out_waits(
    holder: asyncpg.Connection, observer: asyncpg.Connection, database: str, run_done: asyncio.Event
) -> set[int]:
    """Roll ``holder`` back once ten sessions have each timed out on its lock; return their pids.

    The first session to want the row holds its tuple lock and waits for
    ``holder``'s transaction; the others queue on the tuple lock, and when the
    first times out the next is *granted* it and starts waiting for the
    transaction. So only a wait for the transaction (``transactionid``) that
    ends while ``holder`` keeps the row can only have ended in a lock timeout
    (counting the tuple waits too, one run saw ten "ended" waits and nine
    timeouts). The release waits on what the server shows rather than on a
    timer, which a busy machine would make too short.
    """
    open_waits: set[tuple[int, object]] = set()
    timed_out: set[int] = set()
    while len(timed_out) < 10 and not run_done.is_set():
        rows = await observer.fetch(
            "SELECT l.pid, l.waitstart FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
            " WHERE NOT l.granted AND l.locktype = 'transactionid' AND a.datname = $1",
            database,
        )
        now_waiting = {(row["pid"], row["waitstart"]) for row in rows}
        timed_out |= {pid for pid, _ in open_waits - now_waiting}
        open_waits = now_waiting
        await asyncio.sleep(0.002)
    await holder.execute("ROLLBACK")
    return timed_out


async def test_server_lock_timeout_is_classified_retried_and_counted(fault_db: Target) -> None:
    db = await open_database(fault_db, PoolOptions(size=1))
    await ensure_seeded(db, load_scale("tiny"), 1)
    await db.dispose()
    # Set on the server, for every new session of this database: dbprobe does not know it.
    await _alter_database(fault_db, "lock_timeout = '20ms'")
    dsn = fault_db.url.set(drivername="postgresql").render_as_string(hide_password=False)
    holder = await asyncpg.connect(dsn)
    observer = await asyncpg.connect(dsn)
    run_done = asyncio.Event()
    try:
        # Another client holds the one row every worker needs until each of the
        # ten workers' sessions has hit the lock timeout at least once.
        await holder.execute("SET lock_timeout = 0; BEGIN")
        await holder.execute("SELECT id FROM dbprobe.sessions WHERE id = 1 FOR UPDATE")
        releaser = asyncio.create_task(
            _release_after_timed_out_waits(holder, observer, str(fault_db.url.database), run_done)
        )
        options = uow.UowOptions(
            plan=LoadPlan(workers=10, transactions_per_worker=5),
            retry=RetryPolicy(retries=200),
            mix={"reschedule_session": 1},
            hot_set=1,
        )
        try:
            report = await run_uow(
                TargetOptions(fault_db, scale="tiny", pool=PoolOptions(10)), options
            )
        finally:
            run_done.set()
        timed_out_sessions = await releaser
    finally:
        await holder.close()
        await observer.close()
    assert len(timed_out_sessions) == 10
    op = report.operation("reschedule_session")
    assert op.error_classes["lock_timeout"] >= 10  # every worker, at least once
    assert set(op.error_classes) == {"lock_timeout"}
    assert op.retries == op.error_classes["lock_timeout"] - op.errors
    assert op.commits + op.errors == 50
    assert op.attempts == op.commits + op.rollbacks
    assert all(s.startswith("[55P03]") for s in op.error_samples["lock_timeout"])


async def test_server_statement_timeout_is_classified_and_not_retried(fault_db: Target) -> None:
    await _alter_database(fault_db, "statement_timeout = '150ms'")
    db = await open_database(fault_db, PoolOptions(size=2))

    async def slow(ctx: OperationContext) -> None:
        async with ctx.unit_of_work(write=False) as work:
            await work.session.execute(text("SELECT pg_sleep(0.6)"))
            await work.commit()

    async def quick(ctx: OperationContext) -> None:
        async with ctx.unit_of_work(write=False) as work:
            await work.session.execute(text("SELECT 1"))
            await work.commit()

    try:
        result = await run_workload(
            db,
            [Operation("slow", 1, slow), Operation("quick", 1, quick)],
            LoadPlan(workers=2, transactions_per_worker=6),
            retry=RetryPolicy(retries=3),
            seed=5,
            stop=asyncio.Event(),
        )
    finally:
        await db.dispose()
    slow_stats, quick_stats = result.operations
    # statement_timeout is not retryable: running it again cannot succeed.
    assert dict(slow_stats.error_classes) == {ErrorClass.STATEMENT_TIMEOUT: slow_stats.errors}
    assert all(
        s.startswith("[57014]") for s in slow_stats.error_samples[ErrorClass.STATEMENT_TIMEOUT]
    )
    assert slow_stats.retries == 0
    assert slow_stats.commits == 0
    assert slow_stats.errors == slow_stats.attempts > 0
    assert quick_stats.errors == 0, quick_stats.error_samples
    assert quick_stats.commits + slow_stats.errors == 12
