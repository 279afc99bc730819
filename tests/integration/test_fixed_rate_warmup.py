"""Fixed-rate runs: the warm-up ends with its own backlog, and a rate not met is said.

The warm-up of ``uow --rate 400 --profile spike`` once left a backlog that the
workers served into the measured window: the timeline showed 0 tx/s for 16 s,
then p50 23 s. These tests run on an injected clock that only the operations
advance (each one "takes" 20 ms), so the schedule, the backlog and the first
measured second are exact and do not depend on the machine's speed.
"""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from dbprobe.database.engine import Database
from dbprobe.domain.models import Movement
from dbprobe.load.health import GeneratorLoad
from dbprobe.load.operations import Operation, OperationContext
from dbprobe.load.plan import LoadPlan, RetryPolicy
from dbprobe.load.rate import rate_findings
from dbprobe.load.workers import run_workload

pytestmark = pytest.mark.asyncio

SERVICE_NS = 20_000_000  # each operation moves the clock on by 20 ms: 50 a second, one worker


class _OperationClock:
    """Time that passes only while operations run (the generator's own work is free)."""

    def __init__(self) -> None:
        self.now_ns = 0
        self.starts_ns: list[int] = []

    def __call__(self) -> int:
        return self.now_ns


async def test_the_warmup_backlog_is_dropped_and_the_first_measured_second_is_normal(
    tiny_db: Database,
) -> None:
    clock = _OperationClock()

    async def read(ctx: OperationContext) -> None:
        clock.starts_ns.append(clock.now_ns)
        async with ctx.session_factory() as session:
            await session.scalar(select(Movement.name).where(Movement.id == 1))
        clock.now_ns += SERVICE_NS

    # 100 arrivals a second for one worker that serves 50: the warm-up's second
    # leaves 50 of its arrivals waiting when the measurement is due to start.
    plan = LoadPlan(workers=1, duration_s=1, warmup_s=1, rate_per_s=100, arrivals="uniform")
    result = await run_workload(
        tiny_db,
        [Operation("read", 1, read)],
        plan,
        retry=RetryPolicy(retries=0),
        seed=1,
        stop=asyncio.Event(),
        clock_ns=clock,
    )
    (op,) = result.operations
    measure_from = 1_000_000_000
    warmup_starts = [t for t in clock.starts_ns if t < measure_from]
    # The warm-up ran until its time was up, and no warm-up arrival after it:
    # of its 101 arrivals (1 s at 100/s, both ends), 50 ran and the rest were dropped.
    assert len(warmup_starts) == 50
    assert result.warmup_dropped == 51
    assert len(clock.starts_ns) - len(warmup_starts) == op.commits == 50
    # The measured schedule starts at the start of the measurement: its first
    # operation is on time, and every measured arrival is due after that start.
    assert op.schedule_lag is not None
    assert op.schedule_lag.summary().min_ms <= 0.001  # the histogram's floor: 1 us
    # Then each start is 10 ms later than the one before (20 ms of service for
    # every 10 ms of schedule): all but the first two are late (over 10 ms).
    assert op.late == 48
    assert op.commits + op.unstarted == 101  # 1 s at 100/s, both ends included
    assert result.timeline is not None
    first = result.timeline.points[0]
    assert (first.t_s, first.started) == (0.0, 50)
    assert first.commits >= 49  # the 50th ends on the boundary of the next interval
    assert first.p50_ms < 600  # not a backlog: on schedule at first, 10 ms a step behind


async def test_a_rate_the_workers_cannot_reach_is_accounted_as_not_met(tiny_db: Database) -> None:
    clock = _OperationClock()

    async def read(ctx: OperationContext) -> None:
        async with ctx.session_factory() as session:
            await session.scalar(select(Movement.name).where(Movement.id == 2))
        clock.now_ns += SERVICE_NS

    # 50 arrivals due over 490 ms; one worker serving 50 a second starts the last at 980 ms.
    plan = LoadPlan(workers=1, transactions_per_worker=50, rate_per_s=100, arrivals="uniform")
    result = await run_workload(
        tiny_db,
        [Operation("read", 1, read)],
        plan,
        retry=RetryPolicy(retries=0),
        seed=1,
        stop=asyncio.Event(),
        clock_ns=clock,
    )
    account = result.schedule
    assert account is not None
    assert (account.started, account.skipped, account.unstarted) == (50, 0, 0)
    assert (account.scheduled_s, account.achieved_s) == (0.49, 0.98)
    assert account.waited == 48  # all but the first two were late when the worker took them
    calm = GeneratorLoad(loop_cpu_s=0.1, wall_s=1.0)  # the injected clock makes the real one moot
    (finding,) = rate_findings(account, calm, rate_per_s=100, workers=1)
    assert finding.kind == "rate_not_met"
    assert finding.evidence.cause == "workers_busy"
    assert finding.evidence.achieved_per_s == pytest.approx(51.02, abs=0.01)
