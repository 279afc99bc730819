"""The ``deadlock`` probe: concurrent money transfers, their lock conflicts, and lost updates.

N workers move small random amounts between accounts 1..K of the seeded
ledger; each transfer updates two balances and inserts a ``transfers`` row in
one write transaction. Three ways to write it (``pattern``):

- ``for_update``: ``SELECT ... FOR UPDATE`` both rows, then write the new
  balances (the textbook fix for read-modify-write);
- ``atomic``: ``UPDATE accounts SET balance = balance +/- :amount`` (no read);
- ``naive``: a plain SELECT of both balances, the new ones computed in Python
  and written back with ``SET balance = :computed``: the lost-update shape.

Rows are locked in the order the transfer names them (``lock_order=random``:
A->B and B->A lock in opposite orders, so they deadlock) or by id
(``sorted``: one global order, no cycle possible).

Deadlocks, serialization failures and lock timeouts are retried and counted by
the runner. What no database reports is a lost update, so after the run the
probe checks the ledger (:mod:`dbprobe.probes.deadlock.ledger`): every account must end
at its balance before the run minus what it sent plus what it received, over
the transfer rows this run inserted.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dbprobe.data.scales import load_scale
from dbprobe.database.engine import Database
from dbprobe.database.url import Backend
from dbprobe.domain.models import Account, Base, Transfer
from dbprobe.errors import ConfigError, ErrorClass, classify_error
from dbprobe.gate.slo import SloCheck, evaluate_slos
from dbprobe.load.failures import DEFAULT_MAX_ERROR_RATE, error_rate_findings
from dbprobe.load.harness import (
    ProbeHooks,
    TargetOptions,
    assemble_report,
    prepared_target,
    run_until_stopped,
)
from dbprobe.load.operations import Operation, OperationContext, OperationStats
from dbprobe.load.outages import service_interruptions
from dbprobe.load.plan import RetryPolicy
from dbprobe.load.rate import rate_findings
from dbprobe.load.resources import ResourceSampler
from dbprobe.load.results import operation_findings, operation_reports
from dbprobe.load.sections import TimelineSection
from dbprobe.load.workers import run_workload
from dbprobe.metrics import LatencyHistogram
from dbprobe.probes.deadlock.ledger import LedgerCheck, PairFlow, check_ledger
from dbprobe.probes.deadlock.options import (
    MAX_AMOUNT_CENTS,
    OPERATION_NAME,
    DeadlockOptions,
    LockOrder,
    Pattern,
)
from dbprobe.probes.deadlock.section import DeadlockSection, deadlock_finding, lost_update_finding
from dbprobe.result.config import RunConfig
from dbprobe.result.findings import Finding
from dbprobe.result.model import OperationReport, Report, Section

__all__ = [
    "LedgerState",
    "TransferPlan",
    "draw_transfer",
    "lock_sequence",
    "read_ledger",
    "run_deadlock",
]

# The after-run ledger read is two short queries; after an interrupt it must
# not hold up the partial report if the server no longer answers.
_LEDGER_READ_TIMEOUT_S = 10.0


# ---------------------------------------------------------------------------
# Transfers (pure)


@dataclass(frozen=True)
class TransferPlan:
    """One transfer: ``amount_cents`` from ``from_id`` to ``to_id``."""

    from_id: int
    to_id: int
    amount_cents: int


def draw_transfer(rng: random.Random, accounts: int) -> TransferPlan:
    """A transfer between two distinct accounts of 1..accounts, of 1..MAX_AMOUNT_CENTS."""
    source = rng.randint(1, accounts)
    target = rng.randint(1, accounts - 1)
    if target >= source:  # skip the source itself, keeping the draw uniform
        target += 1
    return TransferPlan(source, target, rng.randint(1, MAX_AMOUNT_CENTS))


def lock_sequence(transfer: TransferPlan, order: LockOrder) -> tuple[int, int]:
    """The order in which ``transfer`` locks (or writes) its two accounts."""
    pair = (transfer.from_id, transfer.to_id)
    return pair if order is LockOrder.RANDOM else (min(pair), max(pair))


@dataclass
class _Pending:
    transfer: TransferPlan
    attempts: int = 0


class _AttemptTracker:
    """Keeps a worker's transfer across the runner's retries, and counts attempts.

    The runner calls the operation once per attempt with the same worker; a
    retry must redo the *same* transfer, not draw a new one. Whether a failure
    will be retried is the runner's rule (retryable class, retries left),
    mirrored here; were the two ever to disagree, only the attempt histogram
    would be off: the ledger check reads what was really committed.
    """

    def __init__(self, retry: RetryPolicy) -> None:
        self._retry = retry
        self._pending: dict[int, _Pending] = {}
        self.commits_by_attempt: Counter[int] = Counter()

    def begin(self, worker: int, draw: Callable[[], TransferPlan]) -> TransferPlan:
        pending = self._pending.get(worker)
        if pending is None:
            pending = self._pending[worker] = _Pending(draw())
        pending.attempts += 1
        return pending.transfer

    def committed(self, worker: int) -> None:
        pending = self._pending.pop(worker)
        self.commits_by_attempt[pending.attempts] += 1

    def failed(self, worker: int, kind: ErrorClass | None) -> None:
        pending = self._pending[worker]
        retried = kind is not None and kind.retryable and pending.attempts <= self._retry.retries
        if not retried:  # given up (or cancelled): the next call is a new transfer
            del self._pending[worker]


# ---------------------------------------------------------------------------
# Transfers (I/O)

_accounts = Base.metadata.tables[Account.__tablename__]
_transfers = Base.metadata.tables[Transfer.__tablename__]


async def _balance(session: AsyncSession, account: int, *, for_update: bool) -> int:
    query = select(_accounts.c.balance).where(_accounts.c.id == account)
    if for_update:  # SQLAlchemy renders nothing for SQLite, whose writers are serialized
        query = query.with_for_update()
    return int((await session.execute(query)).scalar_one())


async def _set_balances(
    session: AsyncSession, order: tuple[int, int], balances: Mapping[int, int]
) -> None:
    for account in order:
        await session.execute(
            update(_accounts).where(_accounts.c.id == account).values(balance=balances[account])
        )


def _moved(t: TransferPlan, read: Mapping[int, int]) -> dict[int, int]:
    return {t.from_id: read[t.from_id] - t.amount_cents, t.to_id: read[t.to_id] + t.amount_cents}


async def _for_update(session: AsyncSession, t: TransferPlan, order: tuple[int, int]) -> None:
    # One SELECT per row, in our order: a single `WHERE id IN (..) FOR UPDATE`
    # would lock in the order of the scan, not the order under test.
    read = {a: await _balance(session, a, for_update=True) for a in order}
    await _set_balances(session, order, _moved(t, read))


async def _atomic(session: AsyncSession, t: TransferPlan, order: tuple[int, int]) -> None:
    delta = {t.from_id: -t.amount_cents, t.to_id: t.amount_cents}
    for account in order:
        await session.execute(
            update(_accounts)
            .where(_accounts.c.id == account)
            .values(balance=_accounts.c.balance + delta[account])
        )


async def _naive(session: AsyncSession, t: TransferPlan, order: tuple[int, int]) -> None:
    read = {a: await _balance(session, a, for_update=False) for a in order}
    # Let the other workers run between the read and the write, as any real
    # application awaiting something else would; no timed sleep.
    await asyncio.sleep(0)
    await _set_balances(session, order, _moved(t, read))


_PATTERNS = {Pattern.FOR_UPDATE: _for_update, Pattern.ATOMIC: _atomic, Pattern.NAIVE: _naive}


class _TransferWorkload:
    """The ``transfer`` operation, and what it records beside the runner's counts."""

    def __init__(self, options: DeadlockOptions, backend: Backend) -> None:
        self._options = options
        self._measure_begin = backend is Backend.SQLITE
        self.tracker = _AttemptTracker(options.retry)
        self.write_lock_wait = LatencyHistogram()
        self.write_lock_wait_total_ns = 0

    def operation(self) -> Operation:
        return Operation(OPERATION_NAME, 1, self._transfer)

    async def _transfer(self, ctx: OperationContext) -> None:
        options = self._options
        transfer = self.tracker.begin(ctx.worker, lambda: draw_transfer(ctx.rng, options.accounts))
        try:
            async with ctx.unit_of_work(write=True) as uow:
                started = time.perf_counter_ns()
                # On SQLite this is BEGIN IMMEDIATE: the wait for the write lock
                # happens here, inside the busy timeout, and never surfaces as an
                # error unless the timeout runs out; so it is timed. PostgreSQL
                # begins lazily and waits in the row-lock statements instead.
                await uow.session.connection()
                if self._measure_begin:
                    waited = time.perf_counter_ns() - started
                    self.write_lock_wait.record_ns(waited)
                    self.write_lock_wait_total_ns += waited
                order = lock_sequence(transfer, options.lock_order)
                await _PATTERNS[options.pattern](uow.session, transfer, order)
                await uow.session.execute(
                    insert(_transfers).values(
                        from_id=transfer.from_id,
                        to_id=transfer.to_id,
                        amount=transfer.amount_cents,
                        created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
                    )
                )
                await uow.commit()
        except Exception as exc:
            self.tracker.failed(ctx.worker, classify_error(exc))
            raise
        except BaseException:  # cancelled: the run is stopping
            self.tracker.failed(ctx.worker, None)
            raise
        self.tracker.committed(ctx.worker)


# ---------------------------------------------------------------------------
# The ledger, read before and after the run


@dataclass(frozen=True)
class LedgerState:
    """Balances of accounts 1..K, the largest transfer id, and the transfers after a given id."""

    balances: Mapping[int, int]
    max_transfer_id: int
    flows: tuple[PairFlow, ...]


async def read_ledger(db: Database, accounts: int, after_transfer_id: int | None) -> LedgerState:
    """Read the ledger in one snapshot; ``flows`` covers transfers with id > after_transfer_id."""
    async with db.engine.connect() as conn:
        if db.backend is Backend.POSTGRESQL:
            # Several statements, one snapshot: a transaction still committing
            # (e.g. cancelled by an interrupt) is seen whole or not at all.
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
        rows = await conn.execute(
            select(_accounts.c.id, _accounts.c.balance).where(_accounts.c.id.between(1, accounts))
        )
        balances = {int(i): int(b) for i, b in rows}
        max_id = int((await conn.execute(select(func.max(_transfers.c.id)))).scalar_one() or 0)
        flows: tuple[PairFlow, ...] = ()
        if after_transfer_id is not None:
            grouped = await conn.execute(
                select(
                    _transfers.c.from_id,
                    _transfers.c.to_id,
                    func.count(),
                    func.sum(_transfers.c.amount),
                )
                .where(_transfers.c.id > after_transfer_id)
                .group_by(_transfers.c.from_id, _transfers.c.to_id)
            )
            flows = tuple(PairFlow(int(f), int(t), int(n), int(s)) for f, t, n, s in grouped)
        await conn.rollback()
    return LedgerState(balances, max_id, flows)


def _section(
    stats: OperationStats,
    op: OperationReport,
    workload: _TransferWorkload,
    options: DeadlockOptions,
    db: Database,
    check: LedgerCheck | None,
) -> DeadlockSection:
    classes = stats.error_classes
    sqlite = db.backend is Backend.SQLITE
    wait = workload.write_lock_wait
    return DeadlockSection(
        backend=db.backend.value,
        pattern=options.pattern.value,
        lock_order=options.lock_order.value,
        isolation=db.isolation.value,
        accounts=options.accounts,
        transfers=stats.commits,
        attempts=stats.attempts,
        deadlocks=classes[ErrorClass.DEADLOCK],
        serialization_failures=classes[ErrorClass.SERIALIZATION],
        lock_timeouts=classes[ErrorClass.LOCK_TIMEOUT],
        busy=classes[ErrorClass.LOCK_TIMEOUT] + classes[ErrorClass.SERIALIZATION]
        if sqlite
        else None,
        retries=stats.retries,
        give_ups=stats.errors,
        commits_by_attempt=dict(workload.tracker.commits_by_attempt),
        latency_ms=op.latency_ms,
        write_lock_wait_ms=wait.summary() if sqlite else None,
        write_lock_wait_total_ms=workload.write_lock_wait_total_ns / 1e6 if sqlite else None,
        invariant=check,
        deadlock_details=tuple(stats.error_details.get(ErrorClass.DEADLOCK, ())),
        deadlock_retries=stats.retried[ErrorClass.DEADLOCK],
        deadlock_give_ups=stats.gave_up[ErrorClass.DEADLOCK],
    )


# ---------------------------------------------------------------------------
# The run


async def run_deadlock(
    options: TargetOptions,
    probe: DeadlockOptions,
    *,
    stop: asyncio.Event | None = None,
    argv: Sequence[str] = (),
    hooks: ProbeHooks | None = None,
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE,
    slos: Sequence[SloCheck] = (),
) -> Report:
    """Run the deadlock probe against ``options.target``; seeds first if needed.

    Lock conflicts given up (deadlocks, serialization failures, lock timeouts)
    are what the probe measures; more than ``max_error_rate`` of the transfers
    failing otherwise (a lost connection) is an ``error_rate`` finding.
    """
    stop = stop or asyncio.Event()
    hooks = hooks or ProbeHooks()
    if options.scale is None:
        raise ConfigError("the deadlock probe transfers between seeded accounts: give a --scale")
    scale = load_scale(options.scale)
    if probe.accounts > scale.accounts:
        raise ConfigError(
            f"--accounts {probe.accounts} is more than the {scale.accounts} accounts of scale "
            f"{scale.name}: use --accounts {scale.accounts} or less, or a larger --scale"
        )
    async with prepared_target(options, stop=stop, hooks=hooks) as prepared:
        db = prepared.db
        before = await run_until_stopped(read_ledger(db, probe.accounts, None), stop)
        workload = _TransferWorkload(probe, db.backend)
        sampler = ResourceSampler()
        if hooks.on_run_start is not None:
            hooks.on_run_start(f"deadlock on {db.target.masked} ({db.server_version})")

        def progress(fraction: float, done: int) -> None:
            sampler.sample()
            if hooks.on_progress is not None:
                hooks.on_progress(fraction, done)

        result = await run_workload(
            db,
            [workload.operation()],
            probe.plan,
            retry=probe.retry,
            seed=options.seed,
            stop=stop,
            on_progress=progress,
            on_tick=hooks.on_tick,
        )
        check = await _check(db, probe, before, result.operations[0], result.interrupted)
    (stats,) = result.operations
    (op,) = operation_reports(result)
    section = _section(stats, op, workload, probe, db, check)
    findings: list[Finding] = error_rate_findings(
        (op,), max_error_rate, excluded=[c.value for c in ErrorClass if c.retryable]
    )
    if check is not None and not check.holds:
        findings.append(lost_update_finding(check, probe, db.isolation.value))
    if section.deadlocks:
        findings.append(deadlock_finding(section))
    findings += operation_findings(result)
    findings += evaluate_slos(slos, (op,))
    if probe.plan.rate_per_s is not None and result.generator is not None:
        findings += rate_findings(
            result.schedule,
            result.generator,
            rate_per_s=probe.plan.rate_per_s,
            workers=probe.plan.workers,
        )
    sections: list[Section] = [section]
    if result.timeline is not None:
        # Outages are read off the timeline, as for every probe.
        findings += service_interruptions(result.timeline.points, (op,))
        sections.append(TimelineSection(result.timeline))
    return assemble_report(
        "deadlock",
        prepared,
        config=RunConfig(
            probe.as_config(), pool_size=options.pool.size, max_error_rate=max_error_rate
        ),
        operations=(op,),
        findings=findings,
        resources=sampler.finish(),
        interrupted=result.interrupted,
        argv=argv,
        sections=sections,
    )


async def _check(
    db: Database,
    probe: DeadlockOptions,
    before: LedgerState,
    stats: OperationStats,
    interrupted: bool,
) -> LedgerCheck | None:
    read = read_ledger(db, probe.accounts, before.max_transfer_id)
    if not interrupted:
        after = await read
    else:
        # An interrupted run still reports; if the server is what hung, say
        # the ledger was not checked rather than hang or fail the report.
        try:
            after = await asyncio.wait_for(read, _LEDGER_READ_TIMEOUT_S)
        except Exception:
            return None
    return check_ledger(
        before.balances,
        after.balances,
        after.flows,
        # An attempt cancelled by the interrupt may still have committed on
        # the server, so the runner's count is only exact for a whole run.
        transfers_committed=None if interrupted else stats.commits,
    )
