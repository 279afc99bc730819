"""The uow probe end to end on both backends: counts add up, and match the database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dbprobe.data.scales import load_scale
from dbprobe.data.seeding import ensure_seeded
from dbprobe.database.engine import Isolation, PoolOptions, open_database
from dbprobe.database.url import Target
from dbprobe.domain.models import Program
from dbprobe.gate.slo import parse_slo
from dbprobe.load.harness import TargetOptions
from dbprobe.load.plan import LoadPlan, RetryPolicy
from dbprobe.probes import uow
from dbprobe.probes.uow import run_uow
from dbprobe.result.jsonio import SCHEMA, read_report, report_to_dict, write_report

pytestmark = pytest.mark.asyncio


async def _programs(target: Target) -> int:
    db = await open_database(target, PoolOptions(size=1))
    try:
        await ensure_seeded(db, load_scale("tiny"), 1)
        async with db.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(Program))).scalar_one())
    finally:
        await db.dispose()


async def test_ten_workers_write_a_report_whose_counts_add_up(
    target: Target, tmp_path: Path
) -> None:
    before = await _programs(target)
    options = uow.UowOptions(plan=LoadPlan(workers=10, transactions_per_worker=4))
    report = await run_uow(TargetOptions(target, scale="tiny", pool=PoolOptions(size=10)), options)
    write_report(report, tmp_path / "report.json")
    data = json.loads((tmp_path / "report.json").read_text())

    assert data["schema"] == SCHEMA
    assert data["run"]["probe"] == "uow"
    assert data["target"]["backend"] == target.backend.value
    assert data["config"]["threads"] == 10
    ops = {op["name"]: op for op in data["operations"]}
    assert set(ops) == {"create_program", "reschedule_session", "read_program"}
    # 10 workers x 4 transactions, every one finished
    assert sum(op["count"] for op in ops.values()) == 40
    for op in ops.values():
        assert op["attempts"] == op["commits"] + op["rollbacks"] + op["cancelled"]
        assert op["count"] == op["commits"] + op["errors"]
        assert op["rollbacks"] == op["retries"] + op["errors"]
        assert sum(op["error_classes"].values()) == op["rollbacks"]
        assert op["cancelled"] == 0
        if op["commits"]:
            assert op["latency_ms"]["count"] == op["commits"]
            assert 0 < op["latency_ms"]["p50"] <= op["latency_ms"]["p99"] <= op["latency_ms"]["max"]
            assert op["queries"]["per_op_max"] >= op["queries"]["per_op_mean"] > 0
            assert op["throughput_per_s"] > 0
    # Every committed create_program is a new row in the database.
    assert await _programs(target) == before + ops["create_program"]["commits"]
    assert ops["read_program"]["queries"]["per_op_max"] == 4
    assert ops["reschedule_session"]["queries"]["per_op_max"] == 4
    # And the file reads back into the same report (as rounded in JSON).
    assert report_to_dict(read_report(tmp_path / "report.json")) == data


async def test_contended_reschedules_at_repeatable_read_are_classified_and_retried(
    pg_target: Target,
) -> None:
    options = uow.UowOptions(
        plan=LoadPlan(workers=10, transactions_per_worker=5),
        retry=RetryPolicy(retries=20),
        mix={"reschedule_session": 1},
        hot_set=1,  # every worker rewrites the same session
    )
    report = await run_uow(
        TargetOptions(
            pg_target, scale="tiny", isolation=Isolation.REPEATABLE_READ, pool=PoolOptions(10)
        ),
        options,
    )
    op = report.operation("reschedule_session")
    assert op.error_classes.get("serialization", 0) > 0
    assert set(op.error_classes) == {"serialization"}
    assert op.retries == op.error_classes["serialization"] - op.errors
    assert op.commits + op.errors == 50
    assert any(s.startswith("[40001]") for s in op.error_samples["serialization"])


async def test_violated_slo_becomes_an_error_finding(sqlite_target: Target) -> None:
    options = uow.UowOptions(plan=LoadPlan(workers=2, transactions_per_worker=2))
    report = await run_uow(
        TargetOptions(sqlite_target, scale="tiny"), options, slos=[parse_slo("p50<1us")]
    )
    # A generator_saturated warning (about the client, on a loaded machine) may join them.
    kinds = {(f.kind, f.operation) for f in report.findings if f.kind != "generator_saturated"}
    assert kinds == {("slo_violation", op.name) for op in report.operations if op.count}
