"""The select probe on both backends: every layer runs, counts add up, statements are counted.

Statements per operation: ``orm`` (``session.get``) and ``core`` (a Core select)
go through SQLAlchemy's Engine, whose dialect's ``do_execute`` event counts
the one SELECT each sends (BEGIN and ROLLBACK are not statements: asyncpg
sends them as protocol calls, and on SQLite they are transaction control,
which the counter leaves out). ``driver`` calls asyncpg or aiosqlite directly,
so no SQLAlchemy event fires: 0 statements, by construction.
"""

from __future__ import annotations

import asyncio

import pytest

from dbprobe.database.engine import Database, PoolOptions
from dbprobe.database.url import Target
from dbprobe.domain.models import Account
from dbprobe.load.harness import TargetOptions
from dbprobe.load.plan import LoadPlan, RetryPolicy
from dbprobe.load.workers import run_workload
from dbprobe.probes.select.driver import DriverConnections
from dbprobe.probes.select.probe import (
    Layer,
    SelectOptions,
    SelectSection,
    build_operation,
    count_accounts,
    run_select,
)
from dbprobe.result.config import SelectConfig
from dbprobe.result.jsonio import report_to_dict
from dbprobe.result.model import Report

pytestmark = pytest.mark.asyncio

WORKERS = 3
PER_WORKER = 20
TINY_ACCOUNTS = 16  # seeds/scales.toml, [tiny] accounts


async def _select(target: Target, via: str) -> Report:
    return await run_select(
        TargetOptions(target, scale="tiny", pool=PoolOptions(size=WORKERS)),
        SelectOptions(LoadPlan(WORKERS, transactions_per_worker=PER_WORKER), via=via),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("via", "statements"), [("orm", 1), ("core", 1), ("driver", 0)], ids=["orm", "core", "driver"]
)
async def test_each_layer_commits_every_select_and_counts_its_statements(
    target: Target, via: str, statements: int
) -> None:
    report = await _select(target, via)

    (op,) = report.operations
    assert op.name == via
    assert (op.count, op.commits, op.errors, op.retries, op.cancelled) == (60, 60, 0, 0, 0)
    assert op.attempts == op.commits + op.rollbacks + op.cancelled
    assert op.latency_ms.count == 60
    assert op.queries.total == 60 * statements
    assert op.queries.per_op_max == statements
    assert op.queries.per_op_mean == statements
    assert isinstance(report.config.probe, SelectConfig)
    assert report.config.probe.via == via
    assert report.config.probe.accounts == TINY_ACCOUNTS
    assert report.findings == ()


async def test_via_all_measures_the_three_layers_one_after_another(target: Target) -> None:
    report = await _select(target, "all")

    assert [op.name for op in report.operations] == ["driver", "core", "orm"]
    assert [op.commits for op in report.operations] == [60, 60, 60]
    assert [op.queries.total for op in report.operations] == [0, 60, 60]
    (section,) = [s for s in report.sections if s.name == "select"]
    assert isinstance(section, SelectSection)
    assert section.accounts == TINY_ACCOUNTS
    driver, core, orm = section.layers
    assert driver.relative_throughput == 1.0
    assert driver.added_us_per_select == 0.0
    assert core.relative_throughput is not None
    assert core.relative_throughput > 0
    assert orm.statements_per_op == 1.0
    written = report_to_dict(report)["select"]
    assert [layer["layer"] for layer in written["layers"]] == ["driver", "core", "orm"]


async def test_the_driver_connection_reads_the_row_the_orm_reads(tiny_db: Database) -> None:
    drivers = await DriverConnections.open(tiny_db, 2, timeout_s=5)
    try:
        via_driver = [await drivers.selects[1](account_id) for account_id in (1, 7, 16)]
        missing = await drivers.selects[0](TINY_ACCOUNTS + 1)
    finally:
        await drivers.aclose()
    async with tiny_db.read_sessions() as session:
        via_orm = []
        for account_id in (1, 7, 16):
            account = await session.get(Account, account_id)
            assert account is not None
            via_orm.append((account.id, account.owner_id, account.balance))
    assert via_driver == via_orm
    assert missing is None


async def test_a_select_that_finds_no_row_is_an_error_and_the_counts_still_add_up(
    tiny_db: Database,
) -> None:
    # Ids drawn over twice the seeded accounts: about half the selects find nothing.
    accounts = await count_accounts(tiny_db)
    operation = build_operation(Layer.CORE, accounts * 2)
    result = await run_workload(
        tiny_db,
        [operation],
        LoadPlan(2, transactions_per_worker=30),
        retry=RetryPolicy(retries=0),
        seed=1,
        stop=asyncio.Event(),
    )
    (stats,) = result.operations
    assert stats.errors > 0
    assert stats.commits > 0
    assert stats.commits + stats.errors == 60
    assert stats.attempts == stats.commits + stats.failures
    assert [k.value for k in stats.error_classes] == ["other"]
    (sample, *_) = next(iter(stats.error_samples.values()))
    assert "LookupError: account" in sample
    assert "reseed" in sample
