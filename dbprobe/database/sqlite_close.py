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
close completes, as it nearly always does. Installed once, when dbprobe first
builds an SQLite engine; a SQLAlchemy without the method is left alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["GRACEFUL_CLOSE_S", "bound_graceful_close", "bounded"]

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


def bound_graceful_close() -> None:
    """Bound SQLAlchemy's graceful close of aiosqlite connections (idempotent)."""
    try:
        from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection
    except ImportError:  # pragma: no cover - aiosqlite is a hard dependency
        return
    original = getattr(AsyncAdapt_aiosqlite_connection, "_terminate_graceful_close", None)
    if original is None or getattr(original, _MARK, False):
        return
    AsyncAdapt_aiosqlite_connection._terminate_graceful_close = bounded(original)  # type: ignore[method-assign,assignment]
