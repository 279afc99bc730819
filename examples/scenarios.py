"""User scenarios for `dbprobe run`: three things a training-planner app does, under load.

    dbprobe run examples/scenarios.py --scale tiny --threads 4 --duration 5
    dbprobe run examples/scenarios.py --rate 50 --duration 10 --db postgresql+asyncpg://...
    python examples/scenarios.py            # the same through the Python API, on a temp SQLite file

Each scenario is an `async def` taking one argument, the context:

- `ctx.session_factory()` opens an AsyncSession (`ctx.write_session_factory()` for
  writes: on SQLite it begins with BEGIN IMMEDIATE, so concurrent writers queue
  instead of failing with SQLITE_BUSY);
- `ctx.engine` is the AsyncEngine, `ctx.rng` a seeded random.Random of the worker.

A scenario that returns counts as committed; one that raises counts as an
error of its class (deadlocks, serialization failures and lock timeouts are
retried). dbprobe counts each call's SQL statements and names N+1 patterns with
the file and line here that caused them: `week_overview_lazy` below has one on
purpose, and the report says so.

This file runs on dbprobe's engine for `--db` (so on PostgreSQL unqualified
names resolve in the `dbprobe` schema). To use an engine of your own, define
`make_engine(url)` returning `create_async_engine(url, ...)`.
"""

from __future__ import annotations

from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import selectinload

from dbprobe.domain import Microcycle, Movement, Program
from dbprobe.scenarios import ScenarioContext, scenario

# Seed dbprobe's reference domain (users, movements, programs...) at --scale and
# --seed before setup(); programs 1..6 exist at every scale.
REFERENCE_DOMAIN = True
PROGRAMS_AT_EVERY_SCALE = 6

PATTERNS = ("squat", "hinge", "horizontal_push", "horizontal_pull", "vertical_push", "lunge")

# A table of this example's own: created by setup(), dropped by teardown().
metadata = MetaData()
program_views = Table(
    "example_program_views",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("program_id", Integer, nullable=False),
    Column("viewer", String(40), nullable=False),
)


async def setup(engine: AsyncEngine) -> None:
    """Runs once before the load."""
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)


async def teardown(engine: AsyncEngine) -> None:
    """Runs once after the load, even if it failed or was interrupted."""
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)


@scenario(weight=3)
async def browse_movements(ctx: ScenarioContext) -> None:
    """A catalogue page: the active movements of one pattern."""
    pattern = ctx.rng.choice(PATTERNS)
    async with ctx.session_factory() as session:
        stmt = (
            select(Movement)
            .where(Movement.pattern == pattern, Movement.is_active.is_(True))
            .order_by(Movement.name)
            .limit(20)
        )
        movements = (await session.scalars(stmt)).all()
        [m.name for m in movements]


@scenario(weight=2)
async def view_program(ctx: ScenarioContext) -> None:
    """A program page, loaded eagerly in three statements, and the view recorded."""
    program_id = ctx.rng.randint(1, PROGRAMS_AT_EVERY_SCALE)
    async with ctx.write_session_factory() as session, session.begin():
        stmt = (
            select(Program)
            .where(Program.id == program_id)
            .options(selectinload(Program.microcycles).selectinload(Microcycle.sessions))
        )
        program = (await session.scalars(stmt)).one()
        [s.session_type for week in program.microcycles for s in week.sessions]
        await session.execute(
            insert(program_views).values(program_id=program.id, viewer=f"worker-{ctx.worker}")
        )


@scenario(weight=1)
async def week_overview_lazy(ctx: ScenarioContext) -> None:
    """The same page written the slow way: one SELECT per week (an N+1 dbprobe reports)."""
    program_id = ctx.rng.randint(1, PROGRAMS_AT_EVERY_SCALE)
    async with ctx.session_factory() as session:
        program = await session.get(Program, program_id)
        assert program is not None
        for week in await program.awaitable_attrs.microcycles:
            await week.awaitable_attrs.sessions  # one SELECT per week: the N+1


async def _main() -> None:
    """`python examples/scenarios.py`: run this file through the API and print the report."""
    import os
    import tempfile
    from pathlib import Path

    from rich.console import Console

    from dbprobe.database.url import resolve_target
    from dbprobe.load.harness import TargetOptions
    from dbprobe.load.plan import LoadPlan
    from dbprobe.probes.scenarios.probe import run_scenarios
    from dbprobe.report.console import print_report

    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("DBPROBE_DB_URL") or f"sqlite+aiosqlite:///{Path(tmp) / 'ex.sqlite3'}"
        report = await run_scenarios(
            TargetOptions(resolve_target(url), scale="tiny"),
            __file__,
            LoadPlan(workers=4, transactions_per_worker=10),
        )
    print_report(report, Console(width=160))


if __name__ == "__main__":
    import asyncio

    asyncio.run(_main())
