"""A close that aiosqlite leaves waiting forever ends, so that a cancelled run can end too."""

from __future__ import annotations

import asyncio

import pytest

from dbprobe.database.sqlite_close import bounded

pytestmark = pytest.mark.asyncio


async def _close_that_waits_again_after_a_cancel(connection: object) -> None:
    # aiosqlite 0.22's Connection.close(): cancelled while closing, it awaits
    # its worker again in a finally, for a future that never resolves.
    try:
        await asyncio.sleep(3600)
    finally:
        await asyncio.get_running_loop().create_future()


async def test_a_close_that_never_ends_gives_up_within_its_limit() -> None:
    close = bounded(_close_that_waits_again_after_a_cancel, limit_s=0.05)
    with pytest.raises(TimeoutError, match=r"closing the aiosqlite connection took over 0\.05 s"):
        await close(object())
    # Nothing is left behind for the loop to wait for when it closes.
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert all(t.done() for t in others)


async def test_a_close_cancelled_from_outside_is_cancelled_and_leaves_nothing_pending() -> None:
    close = bounded(_close_that_waits_again_after_a_cancel, limit_s=3600)
    task = asyncio.ensure_future(close(object()))
    await asyncio.sleep(0)  # the close has begun
    task.cancel()  # as asyncio.run() does to every task when the loop closes
    with pytest.raises(asyncio.CancelledError):
        await task
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert all(t.done() for t in others)


async def test_a_close_that_completes_is_untouched() -> None:
    closed: list[object] = []

    async def close(connection: object) -> None:
        closed.append(connection)

    marker = object()
    await bounded(close, limit_s=1)(marker)
    assert closed == [marker]
