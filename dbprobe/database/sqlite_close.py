"""A bound on closing an aiosqlite connection that a cancelled operation left behind.

When a task is cancelled in the middle of an aiosqlite call (Ctrl-C, the end
of a timed run, a pool timeout), SQLAlchemy invalidates the connection and
closes it "gracefully" inside ``asyncio.shield()``. With aiosqlite 0.22 that
close can wait forever: ``Connection.close()`` awaits its worker thread again
in a ``finally`` after the first cancellation, for a future that never
resolves; ``asyncio.run()`` (and pytest-asyncio's runner) then never return,
because closing the loop waits for that task (omnilib/aiosqlite#369,
sqlalchemy/sqlalchemy#13039; wapiti-scanner/wapiti#802 tells the same hang).

:func:`bound_graceful_close` wraps SQLAlchemy's graceful close of an
aiosqlite connection: it waits :data:`GRACEFUL_CLOSE_S` at most, then cancels
the close until it gives up and raises ``TimeoutError``, which SQLAlchemy
already handles by closing the connection by force. Nothing changes when the
close completes, as it nearly always does.

:func:`joined` wraps the force close that follows (and the one SQLAlchemy
does when it collects a connection): aiosqlite's ``stop()`` queues the close
behind whatever the worker thread still has to do, and the thread hands each
result to the event loop it came from. If that loop closes first (the end of
``asyncio.run()``, of a test), the thread dies on "Event loop is closed" and
its traceback is printed, long after the run, in the middle of something
else. So the force close waits for the thread to finish, at most
:data:`GRACEFUL_CLOSE_S`.

Both are installed once, when dbprobe first builds an SQLite engine; a
SQLAlchemy or aiosqlite without these methods is left alone.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["GRACEFUL_CLOSE_S", "bound_graceful_close", "bounded", "joined"]

#: Longer than SQLite's busy timeout (5 s): a close behind a statement that
#: waits for a lock gets to finish.
GRACEFUL_CLOSE_S = 6.0
_CANCEL_TRIES = 5
_CANCEL_WAIT_S = 0.1
_MARK = "_dbprobe_bounded"


def bounded(
    close: Callable[[Any], Awaitable[None]], limit_s: float = GRACEFUL_CLOSE_S
) -> Callable[[Any], Awaitable[None]]:
    """``close`` that ends within about ``limit_s``: TimeoutError when it did not finish."""

    async def close_within_limit(connection: Any) -> None:
        closing = asyncio.ensure_future(close(connection))
        try:
            await asyncio.wait({closing}, timeout=limit_s)
        finally:
            # Also when this task itself is cancelled (the loop is closing):
            # the close must not be left waiting, or the loop waits for it.
            for _ in range(_CANCEL_TRIES):
                if closing.done():
                    break
                closing.cancel()  # again: each catch in it consumes one
                await asyncio.wait({closing}, timeout=_CANCEL_WAIT_S)
        if not closing.done() or closing.cancelled():
            raise TimeoutError(f"closing the aiosqlite connection took over {limit_s:g} s")
        closing.result()

    setattr(close_within_limit, _MARK, True)
    return close_within_limit


def joined(
    force_close: Callable[[Any], None], limit_s: float = GRACEFUL_CLOSE_S
) -> Callable[[Any], None]:
    """``force_close`` that returns once the connection's worker thread has finished.

    The thread is aiosqlite's ``Connection._thread``; a connection without
    one (another aiosqlite) is closed as before, without waiting.
    """

    def force_close_and_join(connection: Any) -> None:
        force_close(connection)
        thread = getattr(getattr(connection, "_connection", None), "_thread", None)
        if (
            isinstance(thread, threading.Thread)
            and thread.is_alive()
            and thread is not threading.current_thread()
        ):
            # The close is queued behind the thread's last statement, which
            # waits at most SQLite's busy timeout for a lock: bounded.
            thread.join(limit_s)

    setattr(force_close_and_join, _MARK, True)
    return force_close_and_join


def bound_graceful_close() -> None:
    """Bound SQLAlchemy's graceful close of aiosqlite connections, and join the
    force close with the worker thread (idempotent)."""
    try:
        from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection
    except ImportError:  # pragma: no cover - aiosqlite is a hard dependency
        return
    cls = AsyncAdapt_aiosqlite_connection
    graceful = getattr(cls, "_terminate_graceful_close", None)
    if graceful is not None and not getattr(graceful, _MARK, False):
        cls._terminate_graceful_close = bounded(graceful)  # type: ignore[method-assign,assignment]
    force = getattr(cls, "_terminate_force_close", None)
    if force is not None and not getattr(force, _MARK, False):
        cls._terminate_force_close = joined(force)  # type: ignore[method-assign,assignment]
