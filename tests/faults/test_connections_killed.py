"""The probe's connections killed mid-run (as in a server restart): counted, reconnected, reported.

Every probe that runs a load reports the outage the same way: a
``service_interruption`` finding read off its timeline.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from dbprobe.database.engine import PoolOptions
from dbprobe.database.url import Target
from dbprobe.load.harness import ProbeHooks, TargetOptions
from dbprobe.load.plan import LoadPlan, RetryPolicy
from dbprobe.load.timeline import TimelinePoint
from dbprobe.probes import uow
from dbprobe.probes.deadlock.options import DeadlockOptions
from dbprobe.probes.deadlock.probe import run_deadlock
from dbprobe.probes.pool.probe import PoolProbeOptions, run_pool
from dbprobe.probes.uow import run_uow

pytestmark = pytest.mark.asyncio


async def test_killed_connections_are_counted_and_the_run_recovers(fault_db: Target) -> None:
    admin = await asyncpg.connect(
        fault_db.url.set(drivername="postgresql", database="postgres").render_as_string(
            hide_password=False
        )
    )
    first_second = asyncio.Event()
    killed: list[int] = []

    async def kill_after_first_second() -> None:
        await first_second.wait()
        # Every backend of the probe, as a restart would: they are dbprobe's own.
        rows = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND application_name = 'dbprobe'",
            fault_db.url.database,
        )
        killed.append(len(rows))

    killer = asyncio.create_task(kill_after_first_second())
    try:
        report = await run_uow(
            TargetOptions(fault_db, scale="tiny", pool=PoolOptions(4)),
            uow.UowOptions(
                plan=LoadPlan(workers=4, duration_s=3.0),
                mix={"read_program": 1, "reschedule_session": 1},
            ),
            hooks=ProbeHooks(on_tick=lambda point: first_second.set()),
        )
        await killer
    finally:
        await admin.close()
    assert killed[0] >= 1
    assert not report.run.interrupted
    lost = sum(op.error_classes.get("connection", 0) for op in report.operations)
    assert lost >= 1
    for op in report.operations:
        assert op.attempts == op.commits + op.rollbacks + op.cancelled
        assert set(op.error_classes) <= {"connection"}
    (interruption,) = [f for f in report.findings if f.kind == "service_interruption"]
    assert interruption.evidence.connection_errors == lost
    assert interruption.evidence.back_by_s is not None  # workers reconnected and went on
    timeline = {s.name: s for s in report.sections}["timeline"].to_json()["points"]
    after = [p for p in timeline if p["t_s"] >= interruption.evidence.to_s]
    assert sum(p["commits"] for p in after) > 0


async def _kill_probe_backends(target: Target, when: asyncio.Event, killed: list[int]) -> None:
    """Once ``when`` is set, terminate every backend of the probe, as a restart would."""
    admin = await asyncpg.connect(
        target.url.set(drivername="postgresql", database="postgres").render_as_string(
            hide_password=False
        )
    )
    try:
        await when.wait()
        rows = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND application_name = 'dbprobe'",
            target.url.database,
        )
        killed.append(len(rows))
    finally:
        await admin.close()


async def test_the_deadlock_probe_reports_the_outage_and_counts_deadlocks_apart(
    fault_db: Target,
) -> None:
    # Deadlocks are broken after deadlock_timeout (1 s by default): lower it on
    # the test's own database, so that they come by the dozen.
    admin = fault_db.url.set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        await conn.execute(
            f"ALTER DATABASE \"{fault_db.url.database}\" SET deadlock_timeout = '20ms'"
        )
    finally:
        await conn.close()
    deadlocked = asyncio.Event()
    killed: list[int] = []

    def tick(point: TimelinePoint) -> None:
        if point.errors:  # with no retries, each deadlock is a give-up
            deadlocked.set()

    killer = asyncio.create_task(_kill_probe_backends(fault_db, deadlocked, killed))
    try:
        report = await run_deadlock(
            TargetOptions(fault_db, scale="tiny", pool=PoolOptions(8)),
            DeadlockOptions(
                plan=LoadPlan(workers=8, duration_s=4.0),
                accounts=4,
                lock_order="random",  # type: ignore[arg-type]  # text is accepted
                retry=RetryPolicy(retries=0),
            ),
            hooks=ProbeHooks(on_tick=tick),
        )
    finally:
        deadlocked.set()
        await killer
    assert killed[0] >= 1
    (op,) = report.operations
    lost = op.errors_by_class.get("connection", 0)
    assert lost >= 1
    assert op.errors_by_class.get("deadlock", 0) >= 1
    (deadlock,) = [f for f in report.findings if f.kind == "deadlock"]
    # Each error under its own class only: the lost connections are not deadlock give-ups.
    assert deadlock.evidence.deadlocks == op.error_classes["deadlock"]
    assert deadlock.evidence.give_ups == op.errors_by_class["deadlock"] < op.errors
    assert deadlock.evidence.retries == 0
    assert f"{op.errors_by_class['deadlock']} gave up" in deadlock.message
    (interruption,) = [f for f in report.findings if f.kind == "service_interruption"]
    assert interruption.evidence.connection_errors == lost
    sections = {s.name: s.to_json() for s in report.sections}
    assert sum(p["errors"] for p in sections["timeline"]["points"]) == op.errors
    assert sections["deadlock"]["deadlock_give_ups"] == op.errors_by_class["deadlock"]


async def test_the_pool_probe_reports_the_outage_as_every_probe_does(fault_db: Target) -> None:
    cycling = asyncio.Event()
    killed: list[int] = []

    def progress(_fraction: float, done: int) -> None:
        if done >= 20:
            cycling.set()

    killer = asyncio.create_task(_kill_probe_backends(fault_db, cycling, killed))
    try:
        report = await run_pool(
            TargetOptions(fault_db, scale="tiny"),
            PoolProbeOptions(pool_size=4, max_overflow=0, threads=4, hold_ms=20, duration_s=3),
            hooks=ProbeHooks(on_progress=progress),
        )
    finally:
        cycling.set()
        await killer
    assert killed[0] >= 1
    (op,) = report.operations
    lost = op.errors_by_class.get("connection", 0)
    assert lost >= 1
    (interruption,) = [f for f in report.findings if f.kind == "service_interruption"]
    assert interruption.evidence.connection_errors == lost
    assert interruption.evidence.back_by_s is not None  # the workers reconnected and went on
    points = {s.name: s.to_json() for s in report.sections}["timeline"]["points"]
    assert sum(p["errors"] for p in points) == op.errors
    assert sum(p["commits"] for p in points) == op.commits
