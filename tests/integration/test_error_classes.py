"""Real errors from real databases, classified by :func:`dbprobe.errors.classify_error`.

Each test provokes one failure on PostgreSQL or SQLite the way a probe would meet
it, and checks both the class and the code (SQLSTATE or ``SQLITE_<n>``) that the
classification reads. Concurrent transactions are coordinated by watching the
server's lock table, never by sleeping for a guessed time.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import pytest
import pytest_asyncio
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dbprobe.database.engine import Isolation, PoolOptions, build_engine, open_database
from dbprobe.database.url import Target
from dbprobe.errors import ErrorClass, classify_error, error_code

#: The scratch schema of these tests; dbprobe's own schema is never touched.
SCRATCH_SCHEMA = "dbprobe_errtest"
PG_TABLE = f"{SCRATCH_SCHEMA}.err_rows"

#: How long a test waits for the server to reach a state before giving up.
WAIT_LIMIT_S = 10.0
#: How often that state is looked at again while waiting.
POLL_INTERVAL_S = 0.005


# --------------------------------------------------------------------------- helpers


async def _pg_engine(
    target: Target, isolation: Isolation = Isolation.READ_COMMITTED
) -> AsyncEngine:
    db = await open_database(target, PoolOptions(size=4), isolation)
    return db.engine


async def _backend_pid(conn: AsyncConnection) -> int:
    return int((await conn.execute(text("select pg_backend_pid()"))).scalar_one())


async def _poll_until(check: Callable[[], Awaitable[bool]]) -> None:
    """Look at ``check`` until it holds; the server's state cannot signal an asyncio Event."""
    async with asyncio.timeout(WAIT_LIMIT_S):
        while True:
            if await check():
                return
            await asyncio.sleep(POLL_INTERVAL_S)


async def _wait_until_lock_waiting(monitor: AsyncConnection, pid: int) -> None:
    """Poll pg_locks (autocommit, so every query sees fresh data) until ``pid`` waits on a lock."""
    query = text("select count(*) > 0 from pg_locks where pid = :pid and not granted")

    async def waiting() -> bool:
        return bool((await monitor.execute(query, {"pid": pid})).scalar_one())

    await _poll_until(waiting)


@pytest_asyncio.fixture
async def pg_engine(pg_target: Target) -> AsyncIterator[AsyncEngine]:
    """A READ COMMITTED engine and a fresh two-row scratch table, dropped afterwards."""
    engine = await _pg_engine(pg_target)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"create schema if not exists {SCRATCH_SCHEMA}"))
            await conn.execute(text(f"drop table if exists {PG_TABLE}"))
            await conn.execute(
                text(f"create table {PG_TABLE} (id int primary key, n int not null)")
            )
            await conn.execute(text(f"insert into {PG_TABLE} (id, n) values (1, 0), (2, 0)"))
        yield engine
    finally:
        try:
            async with engine.begin() as conn:
                await conn.execute(text(f"drop table if exists {PG_TABLE}"))
        finally:
            await engine.dispose()


@pytest_asyncio.fixture
async def pg_monitor(pg_engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """An autocommit connection for looking at the server while others are blocked."""
    async with pg_engine.connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")


def _assert_class(exc: BaseException, expected: ErrorClass, code: str | None) -> None:
    assert classify_error(exc) is expected, repr(exc)
    assert error_code(exc) == code, repr(exc)


# --------------------------------------------------------------------------- PostgreSQL


@pytest.mark.postgres
@pytest.mark.asyncio
async def test_pg_deadlock_is_deadlock_40p01(
    pg_engine: AsyncEngine, pg_monitor: AsyncConnection
) -> None:
    update = text(f"update {PG_TABLE} set n = n + 1 where id = :id")
    async with pg_engine.connect() as conn_a, pg_engine.connect() as conn_b:
        pid_a = await _backend_pid(conn_a)
        await conn_a.rollback()
        for conn in (conn_a, conn_b):
            await conn.execute(text("set local deadlock_timeout = '100ms'"))
        await conn_a.execute(update, {"id": 1})
        await conn_b.execute(update, {"id": 2})

        # A waits for B's row 2; once it is really blocked, B asks for A's row 1.
        task_a = asyncio.create_task(conn_a.execute(update, {"id": 2}))
        try:
            await _wait_until_lock_waiting(pg_monitor, pid_a)

            async def b_closes_the_cycle() -> None:
                await conn_b.execute(update, {"id": 1})

            async with asyncio.timeout(WAIT_LIMIT_S):
                results = await asyncio.gather(task_a, b_closes_the_cycle(), return_exceptions=True)
        finally:
            if not task_a.done():  # only if waiting for the lock timed out
                task_a.cancel()
                await asyncio.gather(task_a, return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        assert len(failures) == 1, results
        _assert_class(failures[0], ErrorClass.DEADLOCK, "40P01")
        assert isinstance(failures[0], sa_exc.DBAPIError)
        await conn_a.rollback()
        await conn_b.rollback()


@pytest.mark.postgres
@pytest.mark.asyncio
async def test_pg_concurrent_update_in_repeatable_read_is_serialization_40001(
    pg_target: Target, pg_engine: AsyncEngine
) -> None:
    rr_engine = await _pg_engine(pg_target, Isolation.REPEATABLE_READ)
    try:
        async with rr_engine.connect() as conn_a, rr_engine.connect() as conn_b:
            # A's snapshot is taken by its first statement, before B's commit.
            await conn_a.execute(text(f"select n from {PG_TABLE} where id = 1"))
            await conn_b.execute(text(f"update {PG_TABLE} set n = n + 1 where id = 1"))
            await conn_b.commit()
            with pytest.raises(sa_exc.DBAPIError) as excinfo:
                await conn_a.execute(text(f"update {PG_TABLE} set n = n + 1 where id = 1"))
            await conn_a.rollback()
    finally:
        await rr_engine.dispose()
    _assert_class(excinfo.value, ErrorClass.SERIALIZATION, "40001")


@pytest.mark.postgres
@pytest.mark.asyncio
async def test_pg_lock_timeout_is_lock_timeout_55p03(pg_engine: AsyncEngine) -> None:
    async with pg_engine.connect() as holder, pg_engine.connect() as waiter:
        await holder.execute(text(f"update {PG_TABLE} set n = n + 1 where id = 1"))
        await waiter.execute(text("set local lock_timeout = '50ms'"))
        with pytest.raises(sa_exc.DBAPIError) as excinfo:
            await waiter.execute(text(f"update {PG_TABLE} set n = n + 1 where id = 1"))
        await waiter.rollback()
        await holder.rollback()
    _assert_class(excinfo.value, ErrorClass.LOCK_TIMEOUT, "55P03")


@pytest.mark.postgres
@pytest.mark.asyncio
async def test_pg_statement_timeout_is_statement_timeout_57014(pg_engine: AsyncEngine) -> None:
    async with pg_engine.connect() as conn:
        await conn.execute(text("set local statement_timeout = '50ms'"))
        with pytest.raises(sa_exc.DBAPIError) as excinfo:
            await conn.execute(text("select pg_sleep(5)"))
        await conn.rollback()
    _assert_class(excinfo.value, ErrorClass.STATEMENT_TIMEOUT, "57014")


@pytest.mark.postgres
@pytest.mark.asyncio
async def test_pg_terminated_idle_backend_is_connection(
    pg_engine: AsyncEngine, pg_monitor: AsyncConnection
) -> None:
    async with pg_engine.connect() as victim:
        pid = await _backend_pid(victim)
        await victim.rollback()
        driver_connection = (await victim.get_raw_connection()).driver_connection
        # The second argument makes the server wait until the backend is gone.
        terminated = await pg_monitor.execute(
            text("select pg_terminate_backend(:pid, 5000)"), {"pid": pid}
        )
        assert terminated.scalar_one() is True
        # Let asyncpg see the closed socket, so the error below is always the same one.

        async def closed() -> bool:
            return bool(driver_connection.is_closed())

        await _poll_until(closed)
        with pytest.raises(sa_exc.DBAPIError) as excinfo:
            await victim.execute(text("select 1"))
    # asyncpg's "connection is closed" carries no SQLSTATE; SQLAlchemy saw the disconnect.
    assert excinfo.value.connection_invalidated
    _assert_class(excinfo.value, ErrorClass.CONNECTION, None)


@pytest.mark.postgres
@pytest.mark.asyncio
async def test_pg_backend_terminated_mid_query_is_connection_08003(
    pg_engine: AsyncEngine, pg_monitor: AsyncConnection
) -> None:
    async with pg_engine.connect() as victim:
        pid = await _backend_pid(victim)
        query = asyncio.create_task(victim.execute(text("select pg_sleep(5)")))
        try:
            sleeping = text(
                "select count(*) > 0 from pg_stat_activity"
                " where pid = :pid and wait_event = 'PgSleep'"
            )

            async def in_pg_sleep() -> bool:
                return bool((await pg_monitor.execute(sleeping, {"pid": pid})).scalar_one())

            await _poll_until(in_pg_sleep)
            await pg_monitor.execute(text("select pg_terminate_backend(:pid, 5000)"), {"pid": pid})
            with pytest.raises(sa_exc.DBAPIError) as excinfo:
                await query
        finally:
            if not query.done():  # only if the query was never seen sleeping
                query.cancel()
                await asyncio.gather(query, return_exceptions=True)
    # asyncpg's ConnectionDoesNotExistError ("closed in the middle of operation") is 08003.
    assert excinfo.value.connection_invalidated
    _assert_class(excinfo.value, ErrorClass.CONNECTION, "08003")


@pytest.mark.postgres
@pytest.mark.asyncio
async def test_pg_connection_refused_is_connection(pg_target: Target) -> None:
    nowhere = replace(pg_target, url=pg_target.url.set(host="127.0.0.1", port=1))
    engine = build_engine(nowhere, PoolOptions(), Isolation.READ_COMMITTED)
    try:
        with pytest.raises(ConnectionRefusedError) as excinfo:
            async with engine.connect():
                pass
    finally:
        await engine.dispose()
    _assert_class(excinfo.value, ErrorClass.CONNECTION, None)


@pytest.mark.postgres
@pytest.mark.asyncio
async def test_pg_too_many_connections_is_connection_53300(
    pg_target: Target, pg_monitor: AsyncConnection
) -> None:
    # A role allowed no connection: the server refuses its login with 53300
    # (too_many_connections), the code it gives anyone past max_connections.
    # A role of the test's own rather than max_connections: the server is shared.
    role = f"dbprobe_errtest_full_{os.getpid()}"
    await pg_monitor.execute(text(f'drop role if exists "{role}"'))
    await pg_monitor.execute(text(f'create role "{role}" login connection limit 0'))
    full = replace(pg_target, url=pg_target.url.set(username=role, password=None))
    engine = build_engine(full, PoolOptions(), Isolation.READ_COMMITTED)
    try:
        with pytest.raises(Exception) as excinfo:  # noqa: PT011 - its class is what is tested
            async with engine.connect():
                pass
    finally:
        await engine.dispose()
        await pg_monitor.execute(text(f'drop role if exists "{role}"'))
    _assert_class(excinfo.value, ErrorClass.CONNECTION, "53300")


# --------------------------------------------------------------------------- SQLite


async def _sqlite_table(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("create table err_rows (id integer primary key, n integer)"))
        await conn.execute(text("insert into err_rows (id, n) values (1, 0)"))


@pytest.mark.asyncio
async def test_sqlite_busy_is_lock_timeout_sqlite_5(sqlite_target: Target) -> None:
    holder_engine = build_engine(sqlite_target, PoolOptions(), Isolation.SERIALIZABLE)
    impatient_engine = build_engine(
        sqlite_target, PoolOptions(), Isolation.SERIALIZABLE, sqlite_busy_timeout_ms=0
    )
    try:
        await _sqlite_table(holder_engine)
        async with holder_engine.connect() as holder, impatient_engine.connect() as writer:
            await holder.execution_options(dbprobe_write=True)
            await writer.execution_options(dbprobe_write=True)
            await holder.begin()  # BEGIN IMMEDIATE: the write lock is held from here
            await holder.execute(text("insert into err_rows (id, n) values (2, 0)"))
            with pytest.raises(sa_exc.DBAPIError) as excinfo:
                async with writer.begin():  # BEGIN IMMEDIATE cannot get the lock
                    await writer.execute(text("insert into err_rows (id, n) values (3, 0)"))
            await holder.rollback()
    finally:
        await impatient_engine.dispose()
        await holder_engine.dispose()
    _assert_class(excinfo.value, ErrorClass.LOCK_TIMEOUT, "SQLITE_5")


@pytest.mark.asyncio
async def test_sqlite_busy_snapshot_is_serialization_sqlite_517(sqlite_target: Target) -> None:
    engine = build_engine(sqlite_target, PoolOptions(size=2), Isolation.SERIALIZABLE)
    try:
        await _sqlite_table(engine)
        async with engine.connect() as reader, engine.connect() as writer:
            await writer.execution_options(dbprobe_write=True)
            await reader.begin()  # deferred BEGIN: the SELECT pins a read snapshot
            await reader.execute(text("select n from err_rows where id = 1"))
            async with writer.begin():
                await writer.execute(text("update err_rows set n = n + 1 where id = 1"))
            with pytest.raises(sa_exc.DBAPIError) as excinfo:
                await reader.execute(text("update err_rows set n = n + 1 where id = 1"))
            await reader.rollback()
    finally:
        await engine.dispose()
    _assert_class(excinfo.value, ErrorClass.SERIALIZATION, "SQLITE_517")


# --------------------------------------------------------------------------- pool


@pytest.mark.asyncio
async def test_pool_checkout_timeout_is_pool_timeout(sqlite_target: Target) -> None:
    db = await open_database(
        sqlite_target, PoolOptions(size=1, max_overflow=0, timeout_s=0.05), Isolation.SERIALIZABLE
    )
    try:
        async with db.engine.connect():
            with pytest.raises(sa_exc.TimeoutError) as excinfo:
                async with db.engine.connect():
                    pass
    finally:
        await db.dispose()
    _assert_class(excinfo.value, ErrorClass.POOL_TIMEOUT, None)
    # The builtin TimeoutError (asyncio.TimeoutError is the same class) is not the pool's.
    assert classify_error(TimeoutError()) is not ErrorClass.POOL_TIMEOUT


# --------------------------------------------------------------------------- retryable


@pytest.mark.parametrize(
    ("error_class", "retryable"),
    [
        (ErrorClass.DEADLOCK, True),
        (ErrorClass.SERIALIZATION, True),
        (ErrorClass.LOCK_TIMEOUT, True),
        (ErrorClass.STATEMENT_TIMEOUT, False),
        (ErrorClass.POOL_TIMEOUT, False),
        (ErrorClass.CONNECTION, False),
        (ErrorClass.OTHER, False),
    ],
)
def test_retryable_classes(error_class: ErrorClass, retryable: bool) -> None:
    assert error_class.retryable is retryable


def test_every_class_has_a_retryable_verdict() -> None:
    retryable = {c for c in ErrorClass if c.retryable}
    assert retryable == {ErrorClass.DEADLOCK, ErrorClass.SERIALIZATION, ErrorClass.LOCK_TIMEOUT}
