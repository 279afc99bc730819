"""A close that aiosqlite leaves waiting forever ends, so that a cancelled run can end too."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import aiosqlite
import pytest
from sqlalchemy import text

from dbprobe.database.engine import Isolation, PoolOptions, build_engine
from dbprobe.database.sqlite_close import bounded, joined
from dbprobe.database.url import resolve_target

# Counting to three million in SQLite: busy in the worker thread for a while.
_LONG_STATEMENT = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) "
    "SELECT count(*) FROM c"
)


async def _close_that_waits_again_after_a_cancel(connection: object) -> None:
    # aiosqlite 0.22's Connection.close(): cancelled while closing, it awaits
    # its worker again in a finally, for a future that never resolves.
    try:
        await asyncio.sleep(3600)
    finally:
        await asyncio.get_running_loop().create_future()


@pytest.mark.asyncio
async def test_a_close_that_never_ends_gives_up_within_its_limit() -> None:
    close = bounded(_close_that_waits_again_after_a_cancel, limit_s=0.05)
    with pytest.raises(TimeoutError, match=r"closing the aiosqlite connection took over 0\.05 s"):
        await close(object())
    # Nothing is left behind for the loop to wait for when it closes.
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert all(t.done() for t in others)


@pytest.mark.asyncio
async def test_a_close_cancelled_from_outside_is_cancelled_and_leaves_nothing_pending() -> None:
    close = bounded(_close_that_waits_again_after_a_cancel, limit_s=3600)
    task = asyncio.ensure_future(close(object()))
    await asyncio.sleep(0)  # the close has begun
    task.cancel()  # as asyncio.run() does to every task when the loop closes
    with pytest.raises(asyncio.CancelledError):
        await task
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert all(t.done() for t in others)


@pytest.mark.asyncio
async def test_a_close_that_completes_is_untouched() -> None:
    closed: list[object] = []

    async def close(connection: object) -> None:
        closed.append(connection)

    marker = object()
    await bounded(close, limit_s=1)(marker)
    assert closed == [marker]


def test_a_force_closed_connection_never_calls_into_a_closed_loop(tmp_path: Path) -> None:
    # aiosqlite's stop() queues the close behind the statement still running
    # in the worker thread; the thread then hands the statement's result to
    # the loop it came from. Closed by then, the thread died on "Event loop is
    # closed" and printed its traceback in the middle of whatever ran next.
    died: list[BaseException | None] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: died.append(args.exc_value)
    loop = asyncio.new_event_loop()
    try:

        async def start() -> aiosqlite.Connection:
            connection = await aiosqlite.connect(tmp_path / "close.db")
            running = asyncio.ensure_future(connection.execute(_LONG_STATEMENT))
            await asyncio.sleep(0.05)  # the statement is in the worker thread
            running.cancel()  # as a timed run's end cancels its operations
            joined(lambda adapter: adapter._connection.stop())(
                SimpleNamespace(_connection=connection)
            )
            return connection

        connection = loop.run_until_complete(start())
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        loop.close()
    thread = connection._thread
    thread.join(30)
    threading.excepthook = previous
    assert not thread.is_alive()
    assert died == []


# Another process holding the file's write lock until told to let go.
_HOLDER = (
    "import sqlite3, sys\n"
    "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "conn.execute('BEGIN EXCLUSIVE')\n"
    "print('locked', flush=True)\n"
    "sys.stdin.readline()\n"
)


# The loop closes in the middle of the connection's close, on purpose: aiosqlite
# then says, rightly, that its connection was deleted before being closed (and
# stops its thread itself). What must not happen is the thread calling into the loop.
@pytest.mark.filterwarnings("ignore:.*was deleted before being closed:ResourceWarning")
def test_a_write_cancelled_while_it_waits_for_a_lock_never_calls_into_a_closed_loop(
    tmp_path: Path,
) -> None:
    # A timed run's end cancels a worker waiting in BEGIN IMMEDIATE for a lock
    # another process holds, waits a moment for it, and the loop closes. With
    # aiosqlite 0.20 (no stop(): SQLAlchemy only closes, and the close was
    # cancelled too) the worker thread went on waiting for the lock, then died
    # on "Event loop is closed" in the middle of the next test (CI, oldest versions).
    path = tmp_path / "locked.sqlite3"
    died: list[BaseException | None] = []
    previous = threading.excepthook
    threading.excepthook = lambda args: died.append(args.exc_value)
    before = set(threading.enumerate())
    holder = None

    async def run() -> None:
        nonlocal holder
        engine = build_engine(
            resolve_target(f"sqlite+aiosqlite:///{path}", {}),
            PoolOptions(size=2),
            Isolation.SERIALIZABLE,
            sqlite_busy_timeout_ms=500,
        )
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
        holder = subprocess.Popen(  # noqa: ASYNC220 - nothing else runs until it holds the lock
            [sys.executable, "-c", _HOLDER, str(path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "locked"

        async def write() -> None:
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t VALUES (1)"))

        writing = asyncio.ensure_future(write())
        await asyncio.sleep(0.1)  # waiting for the lock, in the worker thread
        writing.cancel()
        await asyncio.wait({writing}, timeout=0.05)  # a run's grace for cancelled workers
        # The loop closes now, cancelling whatever is still closing.

    try:
        asyncio.run(run())
        for thread in set(threading.enumerate()) - before:
            thread.join(30)
    finally:
        threading.excepthook = previous
        if holder is not None:
            holder.communicate(timeout=30)  # lets go of the lock, closes the pipes
    assert died == []
