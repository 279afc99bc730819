"""Exact statement counts of the uow probe's transactions on each backend."""

from __future__ import annotations

import asyncio
import random

import pytest
from sqlalchemy import func, select

from dbprobe.database.engine import Database
from dbprobe.database.url import Backend
from dbprobe.domain.models import Microcycle, Program, SessionExercise, TrainingSession
from dbprobe.instrument import count_statements, install_statement_counter
from dbprobe.load.operations import Operation, OperationContext
from dbprobe.load.plan import LoadPlan
from dbprobe.probes import uow

pytestmark = pytest.mark.asyncio


def _operations(db: Database) -> dict[str, Operation]:
    install_statement_counter(db.engine)
    options = uow.UowOptions(plan=LoadPlan(workers=1, transactions_per_worker=1))
    world = uow.UowWorld.dense(users=8, programs=6, hot_sessions=5)
    return {op.name: op for op in uow.build_operations(options, world)}


async def _count(db: Database, name: str, seed: int = 1) -> int:
    op = _operations(db)[name]
    with count_statements() as tally:
        await op.run(OperationContext(db, random.Random(seed), 0))
    return tally.count


async def test_read_program_issues_four_statements_one_per_level(tiny_db: Database) -> None:
    # program, microcycles (selectin), sessions (selectin), exercises + movements (selectin + join)
    assert await _count(tiny_db, "read_program") == 4


async def test_reschedule_session_reads_two_and_writes_two(tiny_db: Database) -> None:
    # SELECT ... FOR UPDATE, selectin of exercises, UPDATE sessions, UPDATE session_exercises
    assert await _count(tiny_db, "reschedule_session") == 4


async def test_create_program_statements_per_backend(tiny_db: Database) -> None:
    count = await _count(tiny_db, "create_program")
    async with tiny_db.read_sessions() as s:
        program_id = (await s.execute(select(func.max(Program.id)))).scalar_one()
        weeks = (
            await s.execute(select(func.count()).where(Microcycle.program_id == program_id))
        ).scalar_one()
        sessions = (
            await s.execute(
                select(func.count()).select_from(TrainingSession).join(Microcycle)
                .where(Microcycle.program_id == program_id)
            )
        ).scalar_one()  # fmt: skip
        exercises = (
            await s.execute(
                select(func.count()).select_from(SessionExercise).join(TrainingSession).join(Microcycle)
                .where(Microcycle.program_id == program_id)
            )
        ).scalar_one()  # fmt: skip
    assert 8 <= weeks <= 12
    if tiny_db.backend is Backend.POSTGRESQL:
        # catalogue SELECT + one INSERT per table: insertmanyvalues batches the
        # rows of a table into one INSERT ... RETURNING.
        assert count == 5
    else:
        # SQLite cannot promise the order of rows from a multi-row INSERT ...
        # RETURNING, so SQLAlchemy inserts child rows one statement each.
        assert count == 1 + 1 + weeks + sessions + exercises


async def test_concurrent_tasks_never_mix_their_counts(tiny_db: Database) -> None:
    ops = _operations(tiny_db)

    async def one(name: str, seed: int) -> int:
        with count_statements() as tally:
            await ops[name].run(OperationContext(tiny_db, random.Random(seed), seed))
        return tally.count

    counts = await asyncio.gather(*(one("read_program", i) for i in range(8)))
    assert counts == [4] * 8


async def test_nested_tallies_each_count_what_ran_while_they_were_open(tiny_db: Database) -> None:
    _operations(tiny_db)
    with count_statements() as outer:
        async with tiny_db.read_sessions() as s:
            await s.execute(select(func.count()).select_from(Program))
        with count_statements() as inner:
            async with tiny_db.read_sessions() as s:
                await s.execute(select(func.count()).select_from(Program))
                await s.execute(select(func.count()).select_from(Program))
    assert (outer.count, inner.count) == (3, 2)
