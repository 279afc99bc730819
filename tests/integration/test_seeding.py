from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError

from dbprobe.data import seeding
from dbprobe.data.rows import TABLE_ORDER, Checksum, RowBatch, generate
from dbprobe.data.scales import Scale, load_scale
from dbprobe.data.seeding import ensure_seeded, seed, table_checksum
from dbprobe.database.engine import PG_SCHEMA, Database, PoolOptions, open_database
from dbprobe.database.url import Backend, Target, resolve_target
from dbprobe.domain.models import Program, SeedState, SessionExercise
from dbprobe.errors import SeedStateError

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def fresh_tiny_db(own_target: Target) -> AsyncIterator[Database]:
    """Seeded afresh at scale tiny, seed 1, in a database no other test writes to.

    These tests read the seeded rows exactly, or change them: the worker's shared
    database holds whatever earlier probes in it wrote (a program a uow run
    inserted once made a count 7 instead of 6).
    """
    db = await open_database(own_target, PoolOptions(size=2))
    try:
        await seed(db, load_scale("tiny"), 1)
        yield db
    finally:
        await db.dispose()


def _generated_checksum(scale: str, seed_value: int) -> str:
    checksum = Checksum()
    for batch in generate(load_scale(scale), seed_value):
        checksum.add_rows(batch.table, batch.rows)
    return checksum.hexdigest()


async def test_seeding_twice_gives_the_checksum_of_the_generated_rows(target: Target) -> None:
    db = await open_database(target)
    try:
        first = await seed(db, load_scale("tiny"), 42)
        second = await seed(db, load_scale("tiny"), 42, verify=True)
        async with db.engine.connect() as conn:
            read_back = await table_checksum(conn)
    finally:
        await db.dispose()
    # Read back from the database, the rows equal what the generator made:
    # the same checksum on SQLite and PostgreSQL, run after run.
    assert first.checksum == second.checksum == read_back == _generated_checksum("tiny", 42)
    assert (first.verified, second.verified) == (False, True)
    assert first.rows == second.rows
    assert first.loaded
    assert second.loaded


async def test_seeded_row_counts_match_the_generator(fresh_tiny_db: Database) -> None:
    expected: dict[str, int] = dict.fromkeys(TABLE_ORDER, 0)
    for batch in generate(load_scale("tiny"), 1):
        expected[batch.table] += len(batch.rows)
    async with fresh_tiny_db.engine.connect() as conn:
        for table, n in expected.items():
            assert (await conn.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one() == n


async def test_ensure_seeded_keeps_a_complete_seed_and_reloads_for_another_seed(
    fresh_tiny_db: Database,
) -> None:
    kept = await ensure_seeded(fresh_tiny_db, load_scale("tiny"), 1)
    assert not kept.loaded
    assert kept.checksum == _generated_checksum("tiny", 1)
    reloaded = await ensure_seeded(fresh_tiny_db, load_scale("tiny"), 2)
    assert reloaded.loaded
    assert reloaded.checksum == _generated_checksum("tiny", 2)


async def test_rows_inserted_after_seeding_get_fresh_ids(fresh_tiny_db: Database) -> None:
    # COPY writes explicit ids on PostgreSQL; the sequences must move past them.
    async with fresh_tiny_db.write_sessions() as session:
        before = (await session.execute(select(func.max(Program.id)))).scalar_one()
        program = Program(
            user_id=1, name="new", weeks=1, days_per_week=4, is_active=True,
            created_at=dt.datetime(2026, 5, 1),
        )  # fmt: skip
        session.add(program)
        await session.commit()
        assert program.id == before + 1


async def test_checksum_changes_when_a_seeded_row_changes(fresh_tiny_db: Database) -> None:
    async with fresh_tiny_db.engine.begin() as conn:
        before = await table_checksum(conn)
        await conn.execute(
            SessionExercise.__table__.update().where(SessionExercise.id == 1).values(reps=99)
        )
        after = await table_checksum(conn)
    assert before != after


async def test_a_second_database_of_the_other_backend_holds_the_same_rows(
    sqlite_target: Target, pg_target: Target
) -> None:
    results = []
    for t in (sqlite_target, pg_target):
        db = await open_database(t, PoolOptions(size=2))
        try:
            results.append(await seed(db, load_scale("tiny"), 7))
        finally:
            await db.dispose()
    assert results[0].checksum == results[1].checksum
    assert results[0].rows == results[1].rows


async def test_verify_refuses_rows_the_database_changed_and_keeps_the_previous_seed(
    fresh_tiny_db: Database,
) -> None:
    db = fresh_tiny_db
    async with db.engine.connect() as conn:
        before = await table_checksum(conn)
    # A trigger somebody added: every exercise goes in with one rep more than
    # generated. The checksum of the generated rows cannot see it; the read-back can.
    async with db.engine.begin() as conn:
        if db.backend is Backend.POSTGRESQL:
            await conn.exec_driver_sql(
                "CREATE FUNCTION bump_reps() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN NEW.reps := NEW.reps + 1; RETURN NEW; END $$"
            )
            await conn.exec_driver_sql(
                f"CREATE TRIGGER bump BEFORE INSERT ON {PG_SCHEMA}.session_exercises "
                "FOR EACH ROW EXECUTE FUNCTION bump_reps()"
            )
        else:
            await conn.exec_driver_sql(
                "CREATE TRIGGER bump AFTER INSERT ON session_exercises BEGIN "
                "UPDATE session_exercises SET reps = reps + 1 WHERE id = NEW.id; END"
            )
    with pytest.raises(SeedStateError, match=r"differ from those generated .* nothing was seeded"):
        await seed(db, load_scale("tiny"), 2, verify=True)
    async with db.engine.connect() as conn:
        assert await table_checksum(conn) == before == _generated_checksum("tiny", 1)
        state = (await conn.execute(select(SeedState.seed, SeedState.checksum))).one()
    assert tuple(state) == (1, before)


async def _index_definitions(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        if db.backend is Backend.POSTGRESQL:
            rows = await conn.exec_driver_sql(
                f"SELECT indexdef FROM pg_indexes WHERE schemaname = '{PG_SCHEMA}'"
            )
        else:
            rows = await conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            )
        return {str(r[0]) for r in rows}


async def test_a_seed_restores_every_index_and_leaves_foreign_keys_enforced(
    fresh_tiny_db: Database,
) -> None:
    # The load drops the indexes and (SQLite) stops checking foreign keys;
    # afterwards the schema and the pooled connection are as before.
    db = fresh_tiny_db
    async with db.engine.begin() as conn:
        await conn.exec_driver_sql("CREATE INDEX users_by_name ON users (name)")
    before = await _index_definitions(db)
    assert any("users_by_name" in d for d in before)
    await seed(db, load_scale("tiny"), 5)
    assert await _index_definitions(db) == before
    async with db.engine.connect() as conn:
        with pytest.raises(IntegrityError):
            await conn.execute(
                SessionExercise.__table__.insert().values(
                    id=10_000, session_id=10_000, movement_id=1, position=0, sets=1, reps=1,
                    rest_s=60,
                )
            )  # fmt: skip


async def test_verify_refuses_a_row_whose_parent_is_missing_on_sqlite(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite checks no foreign key while loading: --verify checks them all after.
    db = await open_database(resolve_target(f"sqlite+aiosqlite:///{tmp_path / 'fk.sqlite3'}", {}))
    try:
        await seed(db, load_scale("tiny"), 1)

        def with_an_orphan(scale: Scale, seed_value: int) -> Iterator[RowBatch]:
            yield from generate(scale, seed_value)
            yield RowBatch("session_exercises", [(100_000, 99_999, 1, 0, 3, 5, 60)])

        monkeypatch.setattr(seeding, "generate", with_an_orphan)
        with pytest.raises(SeedStateError, match=r"a row of session_exercises .* points at no row"):
            await seed(db, load_scale("tiny"), 2, verify=True)
        async with db.engine.connect() as conn:
            state = (await conn.execute(select(SeedState.seed))).scalar_one()
            orphans = await conn.scalar(select(func.count()).where(SessionExercise.id == 100_000))
        assert (state, orphans) == (1, 0)
    finally:
        await db.dispose()
