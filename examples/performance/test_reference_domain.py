"""Performance checks of the reference domain, written as tests with dbprobe's plugin.

Run them with `python -m pytest examples/performance -p no:cacheprovider`
(add `--dbprobe-db postgresql+asyncpg://...` for PostgreSQL, `--dbprobe-json
perf.json` for the report). Each check times its operation inside the running
event loop with `dbprobe_bench` and holds it to a statement budget, the way the
seed projects' `tests/performance/` folders hold theirs to a time budget.
"""

from __future__ import annotations

import random

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

import dbprobe
from dbprobe.domain.planning import TYPE_REGIONS, build_program
from dbprobe.domain.repositories import MovementRepository, ProgramRepository
from dbprobe.domain.uow import UnitOfWork

pytestmark = pytest.mark.asyncio

ROUNDS = 20


def _create_program_budget(engine: AsyncEngine, weeks: int, days: int) -> int:
    # PostgreSQL: the catalogue SELECT and one INSERT ... RETURNING per table.
    # SQLite cannot order a multi-row RETURNING, so SQLAlchemy inserts child
    # rows one by one: every week, session and exercise (at most 6 a session).
    if engine.dialect.name == "postgresql":
        return 5
    return 2 + weeks + weeks * days * (1 + 6)


@pytest.mark.parametrize("weeks", [8, 12])
async def test_create_program(dbprobe_seeded: AsyncEngine, dbprobe_bench, weeks: int) -> None:  # type: ignore[no-untyped-def]
    sessions = async_sessionmaker(dbprobe_seeded, expire_on_commit=False)
    rng = random.Random(weeks)

    async def create() -> None:
        async with UnitOfWork(sessions) as uow:
            catalogue = await uow.movements.active_in_regions(["upper", "lower", "core", "full"])
            uow.programs.add(
                build_program(user_id=1, weeks=weeks, days_per_week=4, catalogue=catalogue, rng=rng)
            )
            await uow.commit()

    stats = await dbprobe_bench(create, rounds=5, warmup=1)
    assert stats.statements_max <= _create_program_budget(dbprobe_seeded, weeks, 4)
    assert stats.findings == ()


async def test_single_movement(dbprobe_seeded_session: AsyncSession, dbprobe_bench) -> None:  # type: ignore[no-untyped-def]
    async def get() -> None:
        async with dbprobe.assert_max_queries(1):
            await MovementRepository(dbprobe_seeded_session).get(3)

    stats = await dbprobe_bench(get, rounds=ROUNDS)
    assert stats.statements_max == 1


async def test_movement_list(dbprobe_seeded_session: AsyncSession, dbprobe_bench) -> None:  # type: ignore[no-untyped-def]
    movements = MovementRepository(dbprobe_seeded_session)
    stats = await dbprobe_bench(movements.active, rounds=ROUNDS)
    assert stats.statements_max == 1


async def test_filtered_movements(dbprobe_seeded_session: AsyncSession, dbprobe_bench) -> None:  # type: ignore[no-untyped-def]
    movements = MovementRepository(dbprobe_seeded_session)
    stats = await dbprobe_bench(movements.by_patterns, ["squat", "hinge", "lunge"], rounds=ROUNDS)
    assert stats.statements_max == 1


@pytest.mark.parametrize("page", [1, 2])
async def test_paginated_movements(
    dbprobe_seeded_session: AsyncSession, dbprobe_bench, page: int
) -> None:  # type: ignore[no-untyped-def]
    movements = MovementRepository(dbprobe_seeded_session)
    stats = await dbprobe_bench(movements.page, page, 20, rounds=ROUNDS)
    assert stats.statements_max == 1


@pytest.mark.parametrize("kind", ["upper", "lower", "recovery"])
async def test_generate_session(
    dbprobe_seeded_session: AsyncSession, dbprobe_bench, kind: str
) -> None:  # type: ignore[no-untyped-def]
    movements = MovementRepository(dbprobe_seeded_session)
    rng = random.Random(kind)

    async def generate() -> None:
        pool = await movements.active_in_regions(TYPE_REGIONS[kind])
        assert len(rng.sample(list(pool), 4)) == 4

    stats = await dbprobe_bench(generate, rounds=ROUNDS)
    assert stats.statements_max == 1


async def test_program_read_has_no_n_plus_one(
    dbprobe_seeded_session: AsyncSession, dbprobe_bench
) -> None:  # type: ignore[no-untyped-def]
    programs = ProgramRepository(dbprobe_seeded_session)

    async def read() -> None:
        async with dbprobe.assert_no_n_plus_one():
            program = await programs.get_full(1)
            assert program is not None
            # render it: every week, session, exercise and movement name
            names = [
                e.movement.name
                for w in program.microcycles
                for s in w.sessions
                for e in s.exercises
            ]
            assert names

    stats = await dbprobe_bench(read, rounds=ROUNDS)
    assert stats.statements_max == 4
