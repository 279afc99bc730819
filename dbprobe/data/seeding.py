"""Creating dbprobe's tables and loading the seeded reference domain into them.

The load runs in one transaction: COPY (asyncpg ``copy_records_to_table``) on
PostgreSQL, batched ``executemany`` on SQLite. A load that is interrupted
rolls back whole, so a database is never left half-seeded; the seed-state row
(scale, seed, checksum, complete) is written by the same transaction.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from dbprobe.data.bulk_load import (
    copy_writer,
    drop_load_checks,
    refuse_broken_references,
    sqlite_load_settings,
    sqlite_writer,
)
from dbprobe.data.references import refuse_foreign_references
from dbprobe.data.rows import COLUMNS, TABLE_ORDER, Checksum, generate
from dbprobe.data.scales import Scale
from dbprobe.database.engine import PG_SCHEMA, Database, writing
from dbprobe.database.url import Backend
from dbprobe.domain.models import Base, SeedState
from dbprobe.errors import SeedStateError

__all__ = [
    "CleanResult",
    "SeedResult",
    "clean",
    "create_schema",
    "ensure_seeded",
    "other_tables",
    "seed",
    "table_checksum",
]

#: Every table dbprobe creates, children after parents; only these are ever emptied.
OWN_TABLES: tuple[str, ...] = (*TABLE_ORDER, "transfers", SeedState.__tablename__)

#: Tables a probe creates for itself beside the reference domain (dbprobe isolation).
PROBE_TABLES: tuple[str, ...] = ("isolation_test",)


@dataclass(frozen=True)
class SeedResult:
    """What a seed produced (or found already present)."""

    scale: str
    seed: int
    checksum: str
    rows: dict[str, int]
    loaded: bool
    duration_s: float
    # Whether the rows were read back and found equal to those generated.
    verified: bool = False

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def _where(db: Database) -> str:
    return db.target.where if db.backend is Backend.SQLITE else f"schema {PG_SCHEMA}"


async def create_schema(db: Database, *, force: bool = False) -> None:
    """Create dbprobe's namespace and tables if missing; never alters existing tables.

    Like every transaction here that reads the catalog and then writes, it takes
    SQLite's write lock when it begins (:func:`writing`): a read snapshot cannot be
    upgraded once another process has written, and would fail at once with
    "database is locked" instead of waiting for the busy timeout.

    The tables are created in one transaction together with the seed-state
    table, so a table of one of our names without the seed-state table beside
    it is somebody else's: dbprobe refuses to touch it rather than empty it.
    A target whose dbprobe tables are missing but which holds other tables is
    somebody's database too: dbprobe adds nothing to it unless ``force``.
    """
    if await _schema_complete(db):
        # Nothing to create: no write lock wanted (another process may hold
        # it for long, and a run on a seeded file only reads here).
        return
    async with writing(db.engine).begin() as conn:
        if db.backend is Backend.POSTGRESQL:
            await conn.execute(text(f"CREATE SCHEMA IF NOT EXISTS {PG_SCHEMA}"))
        existing = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        if SeedState.__tablename__ not in existing:
            clashing = sorted(t for t in OWN_TABLES if t in existing)
            if clashing:
                raise SeedStateError(
                    f"{_where(db)} already holds tables dbprobe did not create "
                    f"({', '.join(clashing)}); dbprobe will not write to them: point --db at "
                    "another database or file"
                )
            others = sorted(existing - set(PROBE_TABLES))
            if others and not force:
                shown = ", ".join(others[:5]) + (", ..." if len(others) > 5 else "")
                raise SeedStateError(
                    f"{_where(db)} holds tables of its own ({shown}) and no dbprobe tables: "
                    "point --db at an empty database or file, or pass --force to add "
                    "dbprobe's tables beside them"
                )
        await conn.run_sync(Base.metadata.create_all)


async def _schema_complete(db: Database) -> bool:
    """Whether every table of dbprobe's schema is there already (a read, no lock taken)."""
    async with db.engine.connect() as conn:
        existing = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        await conn.rollback()
    return {t.name for t in Base.metadata.sorted_tables} <= existing


async def _seed_state(conn: AsyncConnection) -> Any:
    """The seed-state row (scale, seed, checksum, complete), or None if never seeded."""
    table = SeedState.__table__
    return (await conn.execute(select(table).where(table.c.id == 1))).first()


async def ensure_seeded(
    db: Database,
    scale: Scale,
    seed_value: int,
    *,
    on_progress: Callable[[int, int], None] | None = None,
    force: bool = False,
) -> SeedResult:
    """Seed unless the target already holds a complete seed of this scale and seed."""
    await create_schema(db, force=force)
    async with db.engine.connect() as conn:
        state = await _seed_state(conn)
        if (
            state is not None
            and state.complete
            and (state.scale, state.seed)
            == (
                scale.name,
                seed_value,
            )
        ):
            rows = {t: await _count(conn, t) for t in TABLE_ORDER}
            await conn.rollback()
            return SeedResult(scale.name, seed_value, state.checksum, rows, False, 0.0)
    return await seed(db, scale, seed_value, on_progress=on_progress, force=force)


async def seed(
    db: Database,
    scale: Scale,
    seed_value: int,
    *,
    on_progress: Callable[[int, int], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    force: bool = False,
    verify: bool = False,
) -> SeedResult:
    """Empty dbprobe's tables and load ``scale`` for ``seed_value`` in one transaction.

    ``on_progress(rows_loaded, rows_expected)`` is called after each batch.
    The checksum is of the rows generated; ``verify`` reads every table back
    too and commits only if the two agree.
    """
    started = clock()
    await create_schema(db, force=force)
    expected = _expected_rows(scale)
    loaded: dict[str, int] = dict.fromkeys(TABLE_ORDER, 0)
    async with (
        writing(db.engine).connect() as conn,
        sqlite_load_settings(conn, db.backend),
        conn.begin(),
    ):
        # In the emptying transaction, so no foreign key can appear in between.
        await refuse_foreign_references(
            conn,
            db.backend,
            OWN_TABLES,
            (*OWN_TABLES, *PROBE_TABLES),
            where=_where(db),
            action="emptying dbprobe's tables to seed",
        )
        await _empty_own_tables(conn, db.backend)
        restore = await drop_load_checks(conn, db.backend, OWN_TABLES)
        write = copy_writer(conn) if db.backend is Backend.POSTGRESQL else sqlite_writer(conn)
        generated = Checksum()
        for batch in generate(scale, seed_value):
            await write(batch)
            # Hashed as generated: reading 565,877 rows back cost more than
            # generating them (--verify does read them back).
            generated.add_rows(batch.table, batch.rows)
            loaded[batch.table] += len(batch.rows)
            if on_progress is not None:
                on_progress(sum(loaded.values()), expected)
        for statement in restore:
            await conn.exec_driver_sql(statement)
        if db.backend is Backend.POSTGRESQL:
            await _reset_sequences(conn)
        checksum = generated.hexdigest()
        if verify:
            await refuse_broken_references(conn, db.backend, where=_where(db))
            read_back = await table_checksum(conn)
            if read_back != checksum:
                # Raised inside the transaction: the load rolls back, and the
                # previous seed (if any) stays as it was.
                raise SeedStateError(
                    f"the rows read back from {_where(db)} differ from those generated "
                    f"(checksum {read_back[:12]} read, {checksum[:12]} generated): something "
                    "in the database changes them on the way in (a trigger, a column default "
                    "or type); nothing was seeded"
                )
        conn_state = {
            "id": 1,
            "scale": scale.name,
            "seed": seed_value,
            "checksum": checksum,
            "complete": True,
            "seeded_at": dt.datetime.now(dt.UTC).replace(tzinfo=None),
        }
        await conn.execute(insert(SeedState).values(**conn_state))
    return SeedResult(scale.name, seed_value, checksum, loaded, True, clock() - started, verify)


def _expected_rows(scale: Scale) -> int:
    # Used for progress only: the mean shape of a program times the count.
    weeks = sum(scale.weeks) / 2
    sessions = weeks * sum(scale.days_per_week) / 2
    exercises = sessions * sum(scale.exercises_per_session) / 2
    per_program = 1 + weeks + sessions + exercises
    return int(scale.users + scale.movements + scale.accounts + scale.programs * per_program)


async def _empty_own_tables(conn: AsyncConnection, backend: Backend) -> None:
    if backend is Backend.POSTGRESQL:
        names = ", ".join(f"{PG_SCHEMA}.{t}" for t in OWN_TABLES)
        await conn.execute(text(f"TRUNCATE TABLE {names} RESTART IDENTITY"))
        return
    for table in reversed(Base.metadata.sorted_tables):  # children first: foreign keys are on
        if table.name in OWN_TABLES:
            await conn.execute(delete(table))


async def _reset_sequences(conn: AsyncConnection) -> None:
    # COPY wrote explicit ids; move each serial sequence past them so that rows
    # the probes insert later get fresh ids.
    for table in (*TABLE_ORDER, "transfers"):
        await conn.execute(
            text(
                f"SELECT setval(pg_get_serial_sequence('{PG_SCHEMA}.{table}', 'id'), "
                f"COALESCE((SELECT max(id) FROM {PG_SCHEMA}.{table}), 0) + 1, false)"
            )
        )


async def _count(conn: AsyncConnection, table: str) -> int:
    return int((await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def table_checksum(conn: AsyncConnection) -> str:
    """SHA-256 of every seeded table read back in id order: equal on both backends."""
    checksum = Checksum()
    for name in TABLE_ORDER:
        table = Base.metadata.tables[name]
        columns = [table.c[c] for c in COLUMNS[name]]
        result = await conn.stream(select(*columns).order_by(table.c.id))
        async for rows in result.partitions(10_000):
            checksum.add_rows(name, rows)
    return checksum.hexdigest()


@dataclass(frozen=True)
class CleanResult:
    """What ``dbprobe clean`` removed."""

    tables: tuple[str, ...]
    schema_dropped: bool


async def other_tables(db: Database) -> list[str]:
    """The tables of the target that are not dbprobe's, by name (empty: all of it is ours)."""
    async with db.engine.connect() as conn:
        existing = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    ours = set(PROBE_TABLES) | (set(OWN_TABLES) if SeedState.__tablename__ in existing else set())
    return sorted(existing - ours)


async def clean(db: Database) -> CleanResult:
    """Drop exactly the tables dbprobe created (and its schema on PostgreSQL, if then empty).

    The seed-state table is the proof that the others are dbprobe's: without
    it nothing but dbprobe's probe tables is dropped.
    """
    async with writing(db.engine).begin() as conn:
        existing = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        ours = [t for t in PROBE_TABLES if t in existing]
        if SeedState.__tablename__ in existing:
            ours += [t.name for t in reversed(Base.metadata.sorted_tables) if t.name in existing]
        # SQLite's DROP TABLE deletes the rows first, firing other tables' ON DELETE
        # actions; PostgreSQL's would fail on them.
        await refuse_foreign_references(
            conn, db.backend, ours, ours, where=_where(db), action="dropping dbprobe's tables"
        )
        prefix = f"{PG_SCHEMA}." if db.backend is Backend.POSTGRESQL else ""
        for table in ours:
            await conn.execute(text(f"DROP TABLE {prefix}{table}"))
        schema_dropped = False
        if db.backend is Backend.POSTGRESQL and not (existing - set(ours)):
            await conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} RESTRICT"))
            schema_dropped = True
    return CleanResult(tuple(ours), schema_dropped)
