"""Loading the seeded rows fast without giving up what a seed promises.

A seed is one transaction: interrupted, it rolls back whole and the previous
seed stays (tests/faults/test_interrupted_seeding.py). Within that, the load
sheds the per-row work a bulk load does not need: PostgreSQL's rows go in by
COPY and SQLite's by one prepared ``executemany`` per batch; the foreign keys
and secondary indexes of dbprobe's tables are dropped for the load and
restored (rebuilt once) in the same transaction; SQLite checks no foreign key
per row (its pragma cannot change inside a transaction, so it is set on the
connection around it). The generated rows satisfy every foreign key by
construction (tests/unit/test_seedgen.py); ``seed --verify`` checks them in
the database too.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from dbprobe.data.rows import COLUMNS, RowBatch
from dbprobe.database.engine import PG_SCHEMA
from dbprobe.database.url import Backend
from dbprobe.errors import SeedStateError

__all__ = [
    "Writer",
    "copy_writer",
    "drop_load_checks",
    "refuse_broken_references",
    "sqlite_load_settings",
    "sqlite_writer",
]

# SQLAlchemy's storage format for DateTime on SQLite; raw executemany bypasses
# its bind processors, so the loader writes the same text the ORM would.
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"

Writer = Callable[[RowBatch], Any]


def copy_writer(conn: AsyncConnection) -> Writer:
    async def write(batch: RowBatch) -> None:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
            batch.table, records=batch.rows, columns=batch.columns, schema_name=PG_SCHEMA
        )

    return write


def sqlite_writer(conn: AsyncConnection) -> Writer:
    statements = {
        table: f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
        for table, cols in COLUMNS.items()
    }

    async def write(batch: RowBatch) -> None:
        rows = batch.rows
        if batch.table in ("users", "programs"):  # the tables with a created_at column
            rows = [
                tuple(v.strftime(_SQLITE_DATETIME) if isinstance(v, dt.datetime) else v for v in r)
                for r in rows
            ]
        await conn.exec_driver_sql(statements[batch.table], rows)

    return write


async def _text_rows(conn: AsyncConnection, sql: str) -> list[tuple[str, ...]]:
    """A catalog query's rows, every value as text."""
    result: Any = await conn.exec_driver_sql(sql)
    return [tuple(map(str, row)) for row in result.all()]


async def _drop_postgresql_checks(conn: AsyncConnection, tables: Sequence[str]) -> list[str]:
    """Drop the foreign keys and secondary indexes of dbprobe's tables; return how to restore them.

    With them in place PostgreSQL checks every copied row against its parent
    and updates each index row by row; rebuilt once after the load, in the
    same transaction, they cost half as much. Primary keys and unique
    constraints stay. Only dbprobe's own tables are touched.
    """
    names = ", ".join(f"'{t}'" for t in tables)
    fks = await _text_rows(
        conn,
        "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) "
        "FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid "
        f"WHERE c.contype = 'f' AND r.relnamespace = '{PG_SCHEMA}'::regnamespace "
        f"AND r.relname IN ({names})",
    )
    indexes = await _text_rows(
        conn,
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) "
        "FROM pg_index i JOIN pg_class r ON r.oid = i.indrelid "
        f"WHERE r.relnamespace = '{PG_SCHEMA}'::regnamespace AND r.relname IN ({names}) "
        "AND NOT i.indisprimary "
        "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)",
    )
    # regclass::text comes quoted where needed; conname is raw text, which may
    # hold a double quote (a constraint somebody renamed): quote it as an identifier.
    quote = conn.dialect.identifier_preparer.quote
    for table, name, _ in fks:
        await conn.exec_driver_sql(f"ALTER TABLE {table} DROP CONSTRAINT {quote(name)}")
    for index, _ in indexes:
        await conn.exec_driver_sql(f"DROP INDEX {index}")
    return [definition for _, definition in indexes] + [
        f"ALTER TABLE {table} ADD CONSTRAINT {quote(name)} {definition}"
        for table, name, definition in fks
    ]


async def _drop_sqlite_indexes(conn: AsyncConnection, tables: Sequence[str]) -> list[str]:
    """Drop the secondary indexes of dbprobe's tables; return their CREATE statements.

    Indexes a table's constraints made (``sqlite_autoindex_*``) have no SQL and stay.
    """
    names = ", ".join(f"'{t}'" for t in tables)
    indexes = await _text_rows(
        conn,
        "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({names})",
    )
    quote = conn.dialect.identifier_preparer.quote
    for name, _ in indexes:
        await conn.exec_driver_sql(f"DROP INDEX {quote(name)}")
    return [sql for _, sql in indexes]


async def drop_load_checks(
    conn: AsyncConnection, backend: Backend, tables: Sequence[str]
) -> list[str]:
    """Drop what checks or indexes each row loaded into ``tables`` (dbprobe's own, no
    other); return the statements that restore it."""
    if backend is Backend.POSTGRESQL:
        return await _drop_postgresql_checks(conn, tables)
    return await _drop_sqlite_indexes(conn, tables)


@contextlib.asynccontextmanager
async def sqlite_load_settings(conn: AsyncConnection, backend: Backend) -> AsyncIterator[None]:
    """On SQLite, the connection checks no foreign key until the block ends.

    Checking each row's parents took a fifth of a ``medium`` load, and emptying
    the tables first took ten times as long with the checks as without. (A
    larger page cache saved another 4 % but kept the load out of the WAL file
    until the commit, where nothing outside can see it progress.) The
    connection goes back to the pool with its settings restored, or is
    discarded if they cannot be.
    """
    if backend is not Backend.SQLITE:
        yield
        return
    raw = await conn.get_raw_connection()
    driver: Any = raw.driver_connection
    await driver.execute("PRAGMA foreign_keys=OFF")
    try:
        yield
    finally:
        try:
            await driver.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            await conn.invalidate()
            raise


async def refuse_broken_references(conn: AsyncConnection, backend: Backend, *, where: str) -> None:
    """Raise if a loaded row points at no parent (SQLite; PostgreSQL checked them when the
    foreign keys were restored)."""
    if backend is not Backend.SQLITE:
        return
    broken: Any = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).first()
    if broken is not None:
        raise SeedStateError(
            f"a row of {broken[0]} in {where} points at no row of {broken[2]} (rowid "
            f"{broken[1]}) after the load; nothing was seeded"
        )
