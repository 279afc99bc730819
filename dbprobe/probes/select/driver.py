"""Connections of the bare driver (asyncpg, aiosqlite), opened beside SQLAlchemy's pool.

The ``select`` probe's ``driver`` layer and the benchmarks' reference loops
talk to the database with no SQLAlchemy in between: one connection per
worker, the point select prepared once per connection (as ``pgbench -M
prepared`` does), each call one round trip. The connections are opened with
the same URL interpretation and session settings as dbprobe's engine
(``search_path=dbprobe`` on PostgreSQL), so the layers read the same table.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from dbprobe.database.engine import PG_SCHEMA, Database
from dbprobe.database.url import Backend

__all__ = ["ACCOUNT_BY_ID_PG", "ACCOUNT_BY_ID_SQLITE", "DriverConnections", "PointSelect"]

#: The point select of every layer, as the driver sees it (the ORM and Core
#: layers render the same statement from the mapped table).
ACCOUNT_BY_ID_PG = "SELECT id, owner_id, balance FROM accounts WHERE id = $1"
ACCOUNT_BY_ID_SQLITE = "SELECT id, owner_id, balance FROM accounts WHERE id = ?"

# Closing is polite (a Terminate message, a thread joined); after an interrupt
# a connection may be mid-query, and the report must not wait on it.
_CLOSE_GRACE_S = 1.0
# SQLAlchemy-only keys of the asyncpg dialect's connect arguments.
_SQLALCHEMY_ONLY = ("prepared_statement_cache_size", "prepared_statement_name_func")


class PointSelect(Protocol):
    """``await fetch(account_id)``: the account's row as a tuple, or None."""

    async def __call__(self, account_id: int) -> tuple[Any, ...] | None: ...


@dataclass(frozen=True)
class DriverConnections:
    """One bare driver connection per worker, each with its point select ready."""

    backend: Backend
    selects: tuple[PointSelect, ...]
    connections: tuple[Any, ...]  # asyncpg.Connection or aiosqlite.Connection

    @classmethod
    async def open(cls, db: Database, count: int, *, timeout_s: float) -> DriverConnections:
        """Open ``count`` connections to ``db``'s target (all or none: a failure closes them)."""
        opened: list[Any] = []
        selects: list[PointSelect] = []
        try:
            for _ in range(count):
                if db.backend is Backend.POSTGRESQL:
                    conn, select = await _open_asyncpg(db, timeout_s)
                else:
                    conn, select = await _open_aiosqlite(db, timeout_s)
                opened.append(conn)
                selects.append(select)
        except BaseException:
            await _close_all(opened, db.backend)
            raise
        return cls(db.backend, tuple(selects), tuple(opened))

    async def aclose(self) -> None:
        await _close_all(self.connections, self.backend)


async def _open_asyncpg(db: Database, timeout_s: float) -> tuple[Any, PointSelect]:
    import asyncpg

    # The engine's own reading of the URL (host, port, user, password, query),
    # so that --db means the same connection for every layer.
    _args, kwargs = db.engine.dialect.create_connect_args(db.engine.url)
    for key in _SQLALCHEMY_ONLY:
        kwargs.pop(key, None)
    conn = await asyncpg.connect(
        **kwargs,
        timeout=timeout_s,
        server_settings={"search_path": PG_SCHEMA, "application_name": "dbprobe"},
    )
    try:
        statement = await conn.prepare(ACCOUNT_BY_ID_PG)
    except BaseException:
        conn.terminate()
        raise

    async def fetch(account_id: int) -> tuple[Any, ...] | None:
        row = await statement.fetchrow(account_id)
        return tuple(row) if row is not None else None

    return conn, fetch


async def _open_aiosqlite(db: Database, timeout_s: float) -> tuple[Any, PointSelect]:
    import aiosqlite

    path = db.target.sqlite_path
    assert path is not None  # a SQLite target always names its file
    # isolation_level=None: autocommit, each SELECT on its own as pgbench -S
    # runs it; sqlite3 keeps the statement prepared in its per-connection cache.
    conn = await aiosqlite.connect(path, timeout=timeout_s, isolation_level=None)

    async def fetch(account_id: int) -> tuple[Any, ...] | None:
        # One hop to the connection's thread and back (execute + fetch together).
        rows = list(await conn.execute_fetchall(ACCOUNT_BY_ID_SQLITE, (account_id,)))
        return tuple(rows[0]) if rows else None

    return conn, fetch


async def _close_all(connections: Sequence[Any], backend: Backend) -> None:
    for conn in connections:
        if backend is Backend.POSTGRESQL:
            try:
                await asyncio.wait_for(conn.close(), _CLOSE_GRACE_S)
            except Exception:
                conn.terminate()  # closes the socket at once, no goodbye
        else:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), _CLOSE_GRACE_S)
