"""The probe's connections killed mid-run (as in a server restart): counted, reconnected, reported."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from dbprobe.database.engine import PoolOptions
from dbprobe.database.url import Target
from dbprobe.load.harness import ProbeHooks, TargetOptions
from dbprobe.load.plan import LoadPlan
from dbprobe.probes import uow
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
