"""Operations pick among the ids a table holds, not among 1..max(id).

Ids have gaps in real databases: on PostgreSQL a rolled-back insert still
consumes its sequence values (``nextval`` is never rolled back), so after any
run in which a ``create_program`` rolled back, ids above the seeded ones skip;
and deleted rows leave holes anywhere. A probe that drew from 1..max(id)
reported such holes as "program N is missing: reseed" errors, and those false
errors as a service interruption.
"""

from __future__ import annotations

import random

import pytest
from sqlalchemy import delete, func, select

from dbprobe.data.ids import IdSet, existing_ids
from dbprobe.data.scales import load_scale
from dbprobe.data.seeding import ensure_seeded
from dbprobe.database.engine import Database, PoolOptions, open_database
from dbprobe.database.url import Target
from dbprobe.domain.models import Microcycle, Movement, Program, SessionExercise, TrainingSession
from dbprobe.domain.planning import TYPE_REGIONS, build_program
from dbprobe.domain.uow import UnitOfWork
from dbprobe.load.harness import TargetOptions
from dbprobe.load.plan import LoadPlan
from dbprobe.probes import uow
from dbprobe.probes.repo.probe import run_repo
from dbprobe.probes.uow import run_uow

pytestmark = pytest.mark.asyncio

_REGIONS = sorted({r for regions in TYPE_REGIONS.values() for r in regions})


async def _delete_program(db: Database, program_id: int) -> None:
    """Delete a seeded program and everything under it: holes in four tables."""
    async with db.engine.begin() as conn:
        weeks = select(Microcycle.id).where(Microcycle.program_id == program_id)
        sessions = select(TrainingSession.id).where(TrainingSession.microcycle_id.in_(weeks))
        await conn.execute(delete(SessionExercise).where(SessionExercise.session_id.in_(sessions)))
        await conn.execute(delete(TrainingSession).where(TrainingSession.id.in_(sessions)))
        await conn.execute(delete(Microcycle).where(Microcycle.program_id == program_id))
        await conn.execute(delete(Program).where(Program.id == program_id))


async def _create_program(db: Database, rng: random.Random, *, commit: bool) -> None:
    """What the uow probe's create_program writes; rolled back after the INSERTs if not ``commit``."""
    async with UnitOfWork(db.write_sessions) as work:
        catalogue = await work.movements.active_in_regions(_REGIONS)
        work.programs.add(
            build_program(user_id=1, weeks=8, days_per_week=4, catalogue=catalogue, rng=rng)
        )
        await work.session.flush()  # the INSERTs run: on PostgreSQL, sequence values are taken
        if commit:  # leaving the block without a commit rolls back
            await work.commit()


async def _gapped(target: Target) -> None:
    """Seed tiny, then leave gaps in the ids of programs, weeks, sessions and exercises."""
    db = await open_database(target, PoolOptions(size=2))
    try:
        await ensure_seeded(db, load_scale("tiny"), 1)
        # Program 1 holds the first sessions: the uow probe's hot set is among them.
        await _delete_program(db, 1)
        await _delete_program(db, 4)
        rng = random.Random(7)
        for _ in range(3):
            await _create_program(db, rng, commit=False)
        await _create_program(db, rng, commit=True)
        async with db.engine.connect() as conn:
            count, largest = (
                await conn.execute(select(func.count(Program.id), func.max(Program.id)))
            ).one()
        assert count < largest  # there are gaps to fall into
    finally:
        await db.dispose()


async def test_uow_and_repo_find_every_row_they_pick_in_a_database_with_gaps(
    own_target: Target,
) -> None:
    await _gapped(own_target)
    options = TargetOptions(own_target, scale="tiny", pool=PoolOptions(size=2))
    report = await run_uow(
        options,
        uow.UowOptions(
            plan=LoadPlan(workers=2, transactions_per_worker=40),
            mix={"read_program": 2, "reschedule_session": 1},
        ),
    )
    repo = await run_repo(
        options,
        LoadPlan(workers=1, transactions_per_worker=20),
        only=(
            "program_full_eager",
            "program_full_lazy",
            "microcycle_sessions",
            "session_exercises_eager",
            "session_exercises_lazy",
        ),
    )
    for op in (*report.operations, *repo.operations):
        assert (op.name, op.errors, dict(op.error_samples)) == (op.name, 0, {})
        assert op.commits > 0
    for findings in (report.findings, repo.findings):
        assert not [f for f in findings if f.kind == "service_interruption"]


async def test_existing_ids_are_read_as_runs_of_consecutive_ids(own_target: Target) -> None:
    await _gapped(own_target)
    db = await open_database(own_target, PoolOptions(size=1))
    try:
        async with db.engine.connect() as conn:
            programs = await existing_ids(conn, Program.id)
            movements = await existing_ids(conn, Movement.id)
            listed = [int(i) for i in (await conn.execute(select(Program.id))).scalars()]
    finally:
        await db.dispose()
    assert programs.count == len(listed)
    assert sorted(programs.nth(rank) for rank in range(1, programs.count + 1)) == sorted(listed)
    assert len(programs.runs) >= 2  # the holes split them
    assert movements == IdSet.dense(48)  # never written by a probe: one run, 1..48
