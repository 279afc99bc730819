"""Counting the SQL statements each operation issues.

A ``before_cursor_execute`` listener on the engine adds one to the tally that
the current asyncio task has made current. The tally travels in a ContextVar:
each task has its own context, and SQLAlchemy's greenlet bridge runs the sync
engine code inside the calling task's context, so concurrent workers never mix
their counts.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["StatementTally", "count_statements", "install_statement_counter"]


class StatementTally:
    """The statements counted while this tally was current.

    ``executemany`` counts as one statement: it is one round of the protocol
    and one entry in the server's statement statistics.
    """

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0


_current: ContextVar[StatementTally | None] = ContextVar("dbprobe_statement_tally", default=None)


def _before_cursor_execute(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    tally = _current.get()
    # Transaction control that dbprobe itself emits for SQLite (BEGIN IMMEDIATE)
    # is not a statement of the operation: asyncpg begins without one.
    if tally is not None and not statement.startswith("BEGIN"):
        tally.count += 1


def install_statement_counter(engine: AsyncEngine) -> None:
    """Attach the counter to ``engine`` (idempotent)."""
    sync_engine = engine.sync_engine
    if not event.contains(sync_engine, "before_cursor_execute", _before_cursor_execute):
        event.listen(sync_engine, "before_cursor_execute", _before_cursor_execute)


@contextmanager
def count_statements() -> Iterator[StatementTally]:
    """Make a fresh tally current for the enclosed code (in this task only)."""
    tally = StatementTally()
    token = _current.set(tally)
    try:
        yield tally
    finally:
        _current.reset(token)
