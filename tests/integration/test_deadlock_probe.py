"""The deadlock probe on real concurrent connections: deadlocks counted, lost updates caught.

Contention comes from the workload itself (8 workers on 2-4 accounts), not
from sleeps: workers interleave on every await, and PostgreSQL's lock manager
does the rest. The ledger figures the probe reports are checked against the
database, read here independently.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.pool import Pool

from dbprobe.data.scales import load_scale
from dbprobe.data.seeding import ensure_seeded
from dbprobe.database.engine import Isolation, PoolOptions, open_database
from dbprobe.database.url import Target
from dbprobe.domain.models import Account, Transfer
from dbprobe.errors import ConfigError
from dbprobe.load.harness import ProbeHooks, TargetOptions
from dbprobe.load.plan import LoadPlan, RetryPolicy
from dbprobe.probes.deadlock.options import DeadlockOptions, Pattern
from dbprobe.probes.deadlock.probe import run_deadlock
from dbprobe.probes.deadlock.section import DeadlockSection
from dbprobe.result.findings import Severity
from dbprobe.result.jsonio import report_to_dict, write_report
from dbprobe.result.model import Report

pytestmark = pytest.mark.asyncio

WORKERS = 8
TRANSFERS_PER_WORKER = 20
# Deadlocks resolve with backoff and retry; this many retries makes a give-up
# vanishingly rare, so that every transfer commits and the counts are exact.
RETRIES = 25


@pytest.fixture
def fast_deadlock_detection() -> Iterator[None]:
    """Lower deadlock_timeout (1 s by default) on the connections this test opens.

    Every deadlock costs one deadlock_timeout before the server breaks it; at
    the default, a hundred of them would take minutes. Setting it needs
    superuser, which the test server grants; the probe itself never sets it.
    """

    def lower(dbapi_connection: Any, _record: Any) -> None:
        if type(dbapi_connection).__module__.endswith(".asyncpg"):
            dbapi_connection.run_async(lambda conn: conn.execute("SET deadlock_timeout = '20ms'"))

    event.listen(Pool, "connect", lower)
    yield
    event.remove(Pool, "connect", lower)


def _options(target: Target, isolation: Isolation | None = None) -> TargetOptions:
    return TargetOptions(target, scale="tiny", isolation=isolation, pool=PoolOptions(size=WORKERS))


def _probe(pattern: str, lock_order: str, accounts: int) -> DeadlockOptions:
    return DeadlockOptions(
        plan=LoadPlan(WORKERS, transactions_per_worker=TRANSFERS_PER_WORKER),
        accounts=accounts,
        pattern=pattern,  # type: ignore[arg-type]  # text is accepted and validated
        lock_order=lock_order,  # type: ignore[arg-type]
        retry=RetryPolicy(retries=RETRIES),
    )


def _section(report: Report) -> DeadlockSection:
    (section,) = [s for s in report.sections if s.name == "deadlock"]
    assert isinstance(section, DeadlockSection)
    return section


async def _ledger(target: Target, accounts: int) -> tuple[int, int]:
    """(sum of balances of accounts 1..accounts, number of transfer rows), read directly."""
    db = await open_database(target, PoolOptions(size=1))
    try:
        await ensure_seeded(db, load_scale("tiny"), 1)
        async with db.engine.connect() as conn:
            total = (
                await conn.execute(
                    select(func.sum(Account.balance)).where(Account.id.between(1, accounts))
                )
            ).scalar_one()
            rows = (await conn.execute(select(func.count()).select_from(Transfer))).scalar_one()
            await conn.rollback()
        return int(total), int(rows)
    finally:
        await db.dispose()


def _assert_counts_add_up(report: Report, section: DeadlockSection) -> None:
    op = report.operation("transfer")
    assert op.count == WORKERS * TRANSFERS_PER_WORKER
    assert op.attempts == op.commits + op.rollbacks
    assert op.rollbacks == op.retries + op.errors
    assert section.transfers == op.commits
    assert section.give_ups == op.errors
    assert section.deadlocks == op.error_classes.get("deadlock", 0)
    assert section.serialization_failures == op.error_classes.get("serialization", 0)
    # Each committed transfer was retried (attempt - 1) times, each give-up RETRIES times.
    assert sum(section.commits_by_attempt.values()) == op.commits
    retried = sum((attempt - 1) * n for attempt, n in section.commits_by_attempt.items())
    assert retried + op.errors * RETRIES == op.retries
    assert section.latency_ms.count == op.commits
    assert section.invariant is not None
    assert section.invariant.transfers_checked == op.commits


async def test_random_lock_order_deadlocks_are_counted_retried_and_lose_nothing(
    pg_target: Target, fast_deadlock_detection: None, tmp_path: Path
) -> None:
    sum_before, rows_before = await _ledger(pg_target, 4)
    report = await run_deadlock(_options(pg_target), _probe("for_update", "random", 4))
    sum_after, rows_after = await _ledger(pg_target, 4)

    section = _section(report)
    op = report.operation("transfer")
    assert op.error_classes["deadlock"] > 0
    assert op.retries >= op.error_classes["deadlock"] - op.errors > 0
    assert max(section.commits_by_attempt) > 1  # some transfers committed on a retry
    _assert_counts_add_up(report, section)
    assert section.deadlock_rate == op.error_classes["deadlock"] / op.commits
    # The server's DETAIL of the first deadlocks is kept as evidence.
    assert len(section.deadlock_details) == min(3, section.deadlocks)
    assert all(detail.strip() for detail in section.deadlock_details)
    (finding,) = [f for f in report.findings if f.kind == "deadlock"]
    assert finding.severity is Severity.WARNING
    assert finding.evidence.deadlocks == section.deadlocks
    assert finding.evidence.details == section.deadlock_details
    assert "--lock-order sorted" in finding.message
    # Locks taken FOR UPDATE lose nothing: the invariant holds, here and in the database.
    assert section.invariant is not None
    assert section.invariant.holds
    assert not [f for f in report.findings if f.kind == "lost_update"]
    assert sum_after == sum_before == section.invariant.sum_after
    assert rows_after - rows_before == op.commits

    write_report(report, tmp_path / "report.json")
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["deadlock"] == report_to_dict(report)["deadlock"]
    assert data["deadlock"]["deadlocks"] == op.error_classes["deadlock"]
    assert data["deadlock"]["invariant"]["holds"] is True
    assert data["deadlock"]["busy"] is None  # PostgreSQL has no SQLITE_BUSY
    assert data["config"]["lock_order"] == "random"


async def test_sorted_lock_order_never_deadlocks(pg_target: Target) -> None:
    report = await run_deadlock(_options(pg_target), _probe("for_update", "sorted", 4))

    section = _section(report)
    assert section.deadlocks == 0
    assert report.operation("transfer").error_classes == {}
    assert section.commits_by_attempt == {1: WORKERS * TRANSFERS_PER_WORKER}
    assert section.invariant is not None
    assert section.invariant.holds
    assert report.findings == ()
    _assert_counts_add_up(report, section)


async def test_naive_read_modify_write_at_read_committed_is_a_lost_update(
    pg_target: Target,
) -> None:
    sum_before, rows_before = await _ledger(pg_target, 2)
    report = await run_deadlock(
        _options(pg_target, Isolation.READ_COMMITTED), _probe("naive", "sorted", 2)
    )
    sum_after, rows_after = await _ledger(pg_target, 2)

    section = _section(report)
    check = section.invariant
    assert check is not None
    assert not check.holds
    assert check.amount_lost_cents > 0
    assert check.accounts_mismatched > 0
    # No database error says so: every transfer committed on its first attempt.
    assert report.operation("transfer").error_classes == {}
    _assert_counts_add_up(report, section)
    # The drift the probe reports is the drift in the database.
    assert (check.sum_before, check.sum_after) == (sum_before, sum_after)
    assert rows_after - rows_before == check.transfers_checked
    (finding,) = [f for f in report.findings if f.kind == "lost_update"]
    assert finding.severity is Severity.ERROR  # the CLI exits 1
    assert finding.evidence.amount_lost_cents == check.amount_lost_cents
    assert finding.evidence.accounts_mismatched == check.accounts_mismatched
    assert f"{check.amount_lost_cents} cents of updates lost" in finding.message
    assert report_to_dict(report)["deadlock"]["invariant"]["holds"] is False


@pytest.mark.parametrize("pattern", ["for_update", "atomic"])
async def test_locked_and_atomic_transfers_at_read_committed_lose_nothing(
    pg_target: Target, pattern: str
) -> None:
    sum_before, _ = await _ledger(pg_target, 2)
    report = await run_deadlock(
        _options(pg_target, Isolation.READ_COMMITTED), _probe(pattern, "sorted", 2)
    )
    sum_after, _ = await _ledger(pg_target, 2)

    section = _section(report)
    assert section.invariant is not None
    assert section.invariant.holds
    assert section.invariant.amount_lost_cents == 0
    assert sum_after == sum_before
    assert not [f for f in report.findings if f.severity is Severity.ERROR]
    _assert_counts_add_up(report, section)


@pytest.mark.parametrize("pattern", ["naive", "for_update"])
async def test_sqlite_serializes_writers_so_no_update_is_lost(
    sqlite_target: Target, pattern: str
) -> None:
    sum_before, _ = await _ledger(sqlite_target, 4)
    report = await run_deadlock(_options(sqlite_target), _probe(pattern, "random", 4))
    sum_after, _ = await _ledger(sqlite_target, 4)

    section = _section(report)
    op = report.operation("transfer")
    assert section.invariant is not None
    assert section.invariant.holds
    assert sum_after == sum_before
    assert not [f for f in report.findings if f.kind == "lost_update"]
    _assert_counts_add_up(report, section)
    assert section.deadlocks == 0
    # SQLITE_BUSY surfaces only past the 5 s busy timeout; whatever did is counted,
    # and the wait for the write lock (BEGIN IMMEDIATE) is timed on every attempt.
    busy = op.error_classes.get("lock_timeout", 0) + op.error_classes.get("serialization", 0)
    assert section.busy == busy
    assert section.write_lock_wait_ms is not None
    assert section.write_lock_wait_ms.count == op.attempts
    data = report_to_dict(report)["deadlock"]
    assert data["write_lock_wait_ms"]["count"] == op.attempts
    assert data["busy"] == busy


async def test_more_accounts_than_the_scale_seeds_is_a_config_error(
    sqlite_target: Target,
) -> None:
    with pytest.raises(ConfigError, match=r"--accounts 17 .* 16 accounts of scale tiny"):
        await run_deadlock(_options(sqlite_target), _probe("atomic", "sorted", 17))
    assert not sqlite_target.sqlite_path or not sqlite_target.sqlite_path.exists()


async def test_an_interrupted_run_still_checks_the_ledger(sqlite_target: Target) -> None:
    stop = asyncio.Event()

    def progress(_fraction: float, done: int) -> None:
        if done >= 20:
            stop.set()  # as Ctrl-C would, once the run is under way

    probe = DeadlockOptions(
        plan=LoadPlan(4, duration_s=60.0), accounts=4, pattern=Pattern.FOR_UPDATE
    )
    report = await run_deadlock(
        _options(sqlite_target), probe, stop=stop, hooks=ProbeHooks(on_progress=progress)
    )

    assert report.run.interrupted
    section = _section(report)
    check = section.invariant
    assert check is not None
    # A cancelled attempt may have committed, so the runner's count is not compared...
    assert check.transfers_committed is None
    assert check.transfers_checked >= section.transfers >= 20
    # ...but every row that did commit is reflected in the balances.
    assert check.holds
