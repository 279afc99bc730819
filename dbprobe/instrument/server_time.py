"""Reading PostgreSQL's ``pg_stat_statements`` (the I/O half of the server-time split).

The extension must be loaded at server start (``shared_preload_libraries``)
and created in the database (``CREATE EXTENSION pg_stat_statements``); when
either is missing, the reading says which and how to enable it, and the run
goes on without the split. Only this database's rows of the connecting role
are read: another database's statements are not this run's.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from dbprobe.instrument.indexes import quote_identifier
from dbprobe.instrument.server_share import StatementTime

__all__ = ["ENABLE", "read_statement_times"]

ENABLE = (
    "add pg_stat_statements to shared_preload_libraries, restart the server, and run "
    "CREATE EXTENSION pg_stat_statements in this database"
)
_SCHEMA = (
    "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
    "WHERE e.extname = 'pg_stat_statements'"
)
_ROWS = (
    "SELECT queryid, query, calls, total_exec_time FROM {schema}.pg_stat_statements "
    "WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND userid = (SELECT oid FROM pg_roles WHERE rolname = current_user) "
    "AND queryid IS NOT NULL"
)


async def read_statement_times(engine: AsyncEngine) -> dict[int, StatementTime] | str:
    """``pg_stat_statements`` by query id, or why it cannot be read (one line with the fix)."""
    async with engine.connect() as conn:
        schema = (await conn.exec_driver_sql(_SCHEMA)).scalar()
        if schema is None:
            await conn.rollback()
            return f"pg_stat_statements is not installed in this database; {ENABLE}"
        try:
            rows = (await conn.exec_driver_sql(_ROWS.format(schema=quote_identifier(schema)))).all()
        except DBAPIError as exc:
            # Created but not loaded: "pg_stat_statements must be loaded via
            # shared_preload_libraries" (55000).
            await conn.rollback()
            first = str(exc.orig).splitlines()[0] if exc.orig is not None else str(exc)
            return f"pg_stat_statements cannot be read ({first}); {ENABLE}"
        await conn.rollback()
    times = {}
    for query_id, query, calls, exec_ms in (tuple(r) for r in rows):
        times[int(query_id)] = StatementTime(str(query), int(calls), float(exec_ms))
    return times
