"""What the pool probe's server sessions were doing: ``pg_stat_activity`` at the first timeout.

Read on a connection of its own, not from the probed pool: when it is
needed, that pool is exhausted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dbprobe.database.engine import Database, PoolOptions, build_engine

__all__ = ["ActivityMonitor"]

# The probe's own sessions: application_name is set by engine.build_engine; the
# pid filter (applied in Python) keeps out other dbprobe runs on the same database.
_PG_ACTIVITY = text(
    "SELECT pid, state, wait_event_type, wait_event, left(query, 200) AS query, "
    "extract(epoch FROM clock_timestamp() - state_change) AS state_s "
    "FROM pg_stat_activity "
    "WHERE application_name = 'dbprobe' AND datname = current_database() "
    "AND pid <> pg_backend_pid() ORDER BY pid"
)


class ActivityMonitor:
    """Reads pg_stat_activity on a connection of its own.

    Not from the probed pool: when it is needed, that pool is exhausted.
    """

    def __init__(self, engine: AsyncEngine, conn: AsyncConnection) -> None:
        self._engine = engine
        self._conn = conn

    @classmethod
    async def open(cls, db: Database, connect_timeout_s: float) -> ActivityMonitor:
        engine = build_engine(
            db.target, PoolOptions(size=1, connect_timeout_s=connect_timeout_s), db.isolation
        )
        try:
            conn = await engine.connect()
        except BaseException:
            await engine.dispose()
            raise
        return cls(engine, conn)

    async def snapshot(self, pids: frozenset[int]) -> tuple[Mapping[str, Any], ...]:
        rows = (await self._conn.execute(_PG_ACTIVITY)).mappings().all()
        await self._conn.rollback()
        return tuple(
            {
                "pid": r["pid"],
                "state": r["state"],
                "wait_event_type": r["wait_event_type"],
                "wait_event": r["wait_event"],
                "query": r["query"],
                "state_s": None if r["state_s"] is None else round(float(r["state_s"]), 3),
            }
            for r in rows
            if not pids or r["pid"] in pids
        )

    async def close(self) -> None:
        try:
            await self._conn.close()
        finally:
            await self._engine.dispose()
