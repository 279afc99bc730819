"""The regression gate end to end: a real baseline, a real slowdown, on both backends.

Operations of the test's own run through the real load engine against a
seeded database; the baseline is saved in and read back from a real history
file. Run again without a change, the gate must stay quiet; one operation
then gets a real slowdown (its transaction held 20 ms longer) and the gate
must name it and only it.

The test shares the machine, the disk and the PostgreSQL server with the
rest of the parallel suite, and their load moves unchanged operations by
more than the default 10 % threshold (measured: +12 % on PostgreSQL, every
round, while another client loaded the server; +44 % on SQLite with runs of
10 rounds of 60 transactions, where a neighbour's burst covered most of one
run). So the runs are 20 rounds of 90 transactions, and the thresholds are
the test's own, as a user sets them for a shared CI machine: minor from
50 %. The slowdown is several-fold, far beyond them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import gc
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from dbprobe.database.engine import Database
from dbprobe.database.url import Backend
from dbprobe.domain.models import Movement, Program, User
from dbprobe.gate.compare import Verdict, compare_reports
from dbprobe.gate.decide import comparison_findings, exit_status
from dbprobe.gate.store import HistoryStore
from dbprobe.gate.thresholds import Level, Levels, Thresholds
from dbprobe.load.calibration import Calibrator
from dbprobe.load.harness import PreparedTarget, assemble_report
from dbprobe.load.operations import Operation, OperationContext
from dbprobe.load.plan import LoadPlan, RetryPolicy
from dbprobe.load.results import operation_reports
from dbprobe.load.workers import run_workload
from dbprobe.result.findings import Severity
from dbprobe.result.model import Report, Resources
from tests import synthetic

pytestmark = pytest.mark.asyncio

# The slowdown waits rather than computes, so that it is the same 20 ms on a
# busy machine: PostgreSQL sleeps in the statement; SQLite has no sleep
# function, so the transaction stays open 20 ms longer, as behind a slow query.
_SLOW_S = 0.02
_ROUNDS = 20
_PER_WORKER = 450
_SHARED_MACHINE = Thresholds(Levels(minor=0.5, warning=1.0, critical=2.0))


def _operations(db: Database, *, slow: bool) -> list[Operation]:
    async def read_program(ctx: OperationContext) -> None:
        async with ctx.unit_of_work(write=False) as uow:
            await uow.session.execute(select(Program).where(Program.id == ctx.rng.randint(1, 6)))
            await uow.commit()

    async def list_movements(ctx: OperationContext) -> None:
        async with ctx.unit_of_work(write=False) as uow:
            await uow.session.execute(select(Movement.name).order_by(Movement.id).limit(10))
            await uow.commit()

    async def count_programs(ctx: OperationContext) -> None:
        async with ctx.unit_of_work(write=False) as uow:
            await uow.session.execute(select(func.count(Program.id)))
            await uow.commit()

    async def get_user(ctx: OperationContext) -> None:
        async with ctx.unit_of_work(write=False) as uow:
            await uow.session.execute(select(User).where(User.id == ctx.rng.randint(1, 8)))
            await uow.commit()

    async def get_movement(ctx: OperationContext) -> None:
        async with ctx.unit_of_work(write=False) as uow:
            await uow.session.execute(select(Movement).where(Movement.id == ctx.rng.randint(1, 48)))
            if slow:
                if db.backend is Backend.POSTGRESQL:
                    await uow.session.execute(text(f"SELECT pg_sleep({_SLOW_S})"))
                else:
                    await asyncio.sleep(_SLOW_S)
            await uow.commit()

    return [
        Operation(name, 1, run)
        for name, run in (
            ("read_program", read_program),
            ("list_movements", list_movements),
            ("count_programs", count_programs),
            ("get_user", get_user),
            ("get_movement", get_movement),
        )
    ]


async def _run(db: Database, *, slow: bool, per_worker: int = _PER_WORKER) -> Report:
    started = time.perf_counter()
    calibrator = await Calibrator.open(db)  # the machine's reference, as every probe has it
    gc.collect()  # from a collected heap, as every probe's measurement starts
    try:
        result = await run_workload(
            db,
            _operations(db, slow=slow),
            # At _PER_WORKER: 1,800 transactions, 360 an operation.
            LoadPlan(4, per_worker, rounds=_ROUNDS),
            retry=RetryPolicy(retries=0),
            seed=1,
            stop=asyncio.Event(),
            calibrator=calibrator,
        )
    finally:
        await calibrator.aclose()
    prepared = PreparedTarget(db, "tiny", 1, "test", dt.datetime.now(dt.UTC), started)
    return assemble_report(
        "gate",
        prepared,
        config=dataclasses.replace(
            synthetic.run_config(threads=4, transactions=_PER_WORKER, duration_s=None),
            rounds=_ROUNDS,
        ),
        operations=operation_reports(result),
        findings=(),
        resources=Resources(0.0, 0.0, 0.0),
        interrupted=False,
        argv=("test",),
        calibration=calibrator.rounds,
    )


async def test_a_real_slowdown_of_one_operation_is_the_only_regression(
    tiny_db: Database, tmp_path: Path
) -> None:
    store = HistoryStore(tmp_path / "history.sqlite3")
    # Warm caches and the connection pool: every operation some 70 times, not measured.
    await _run(tiny_db, slow=False, per_worker=_PER_WORKER // 5)
    store.save_baseline("main", await _run(tiny_db, slow=False))
    baseline = store.baseline("main")  # as read back from the file

    unchanged = compare_reports(
        baseline, await _run(tiny_db, slow=False), baseline_label="main", thresholds=_SHARED_MACHINE
    )
    # On failure, what the machine's references said too: whether the machine moved.
    assert unchanged.regressions() == (), [
        *unchanged.warnings,
        *(r.describe() for r in unchanged.results),
        *(c.describe() for c in unchanged.references),
    ]
    assert exit_status(unchanged) == 0
    assert all(f.kind != "regression" for f in comparison_findings(unchanged))

    slowed = compare_reports(
        baseline, await _run(tiny_db, slow=True), baseline_label="main", thresholds=_SHARED_MACHINE
    )
    regressions = slowed.regressions()
    assert [r.operation for r in regressions] == ["get_movement"], [
        r.describe() for r in slowed.results
    ]
    (regression,) = regressions
    assert regression.verdict is Verdict.REGRESSED
    assert regression.level is not None
    assert regression.level.rank >= Level.MINOR.rank
    assert regression.interval is not None
    assert regression.interval.low > 1.1  # 20 ms on a few: several times slower
    # Significant even held to Holm's level for the smallest of five p-values.
    assert regression.p_value < 0.01 / 5
    assert exit_status(slowed, Level.MINOR) == 1
    findings = [f for f in comparison_findings(slowed) if f.kind == "regression"]
    assert [(f.operation, f.severity) for f in findings] == [("get_movement", Severity.ERROR)]
    assert "get_movement p50" in findings[0].message
