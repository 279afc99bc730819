"""The load engine with operations of the test's own, on both backends."""

from __future__ import annotations

import asyncio
import gc

import pytest
from sqlalchemy import select

from dbprobe.database.engine import Database
from dbprobe.domain.models import Program
from dbprobe.load.operations import Operation, OperationContext
from dbprobe.load.plan import LoadPlan, RetryPolicy
from dbprobe.load.workers import run_workload
from tests.source_lines import line_of

pytestmark = pytest.mark.asyncio


async def _run(db: Database, op: Operation, workers: int = 2, per_worker: int = 3):  # type: ignore[no-untyped-def]
    return await run_workload(
        db,
        [op],
        LoadPlan(workers, per_worker),
        retry=RetryPolicy(retries=0),
        seed=1,
        stop=asyncio.Event(),
    )


# See test_capture_api: SQLAlchemy's aiosqlite adapter leaves a cursor coroutine unawaited.
@pytest.mark.filterwarnings("ignore:coroutine 'Connection.cursor' was never awaited:RuntimeWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_lazy_attribute_access_in_an_operation_is_a_missing_greenlet_finding(
    tiny_db: Database,
) -> None:
    async def touch_lazily(ctx: OperationContext) -> None:
        async with ctx.unit_of_work(write=False) as uow:
            program = (await uow.session.scalars(select(Program).limit(1))).one()
            len(program.microcycles)  # not loaded: MissingGreenlet under AsyncSession

    result = await _run(tiny_db, Operation("touch_lazily", 1, touch_lazily))
    gc.collect()
    (stats,) = result.operations
    assert stats.errors == 6
    assert stats.commits == 0
    (finding,) = stats.findings.findings()
    assert finding.kind == "missing_greenlet"
    assert finding.operation == "touch_lazily"
    assert finding.evidence.relationship == "Program.microcycles"
    assert finding.evidence.occurrences == 6
    # Each attempt: the program, then the lazy load that failed, counted alike on
    # asyncpg (fails in execute) and aiosqlite (fails making its cursor).
    assert stats.statements_total == 6 * 2
    assert finding.evidence.location == line_of(__file__, "len(program.microcycles)  # not loaded")


async def test_counts_of_a_plain_operation_add_up_and_statements_are_per_operation(
    tiny_db: Database,
) -> None:
    async def two_selects(ctx: OperationContext) -> None:
        async with ctx.unit_of_work(write=False) as uow:
            await uow.session.execute(select(Program.id).limit(1))
            await uow.session.execute(select(Program.name).limit(1))
            await uow.commit()

    result = await _run(tiny_db, Operation("two_selects", 1, two_selects), workers=4, per_worker=5)
    (stats,) = result.operations
    assert (stats.attempts, stats.commits, stats.failures, stats.cancelled) == (20, 20, 0, 0)
    assert stats.statements_total == stats.statements_committed == 40
    assert stats.statements_max == 2
    assert stats.latency.count == stats.commit_latency.count == 20
    assert stats.findings.findings() == []
