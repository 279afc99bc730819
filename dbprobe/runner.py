"""The load engine: concurrent workers running weighted operations in a closed loop.

Each worker is one asyncio task that opens its own session per transaction,
picks an operation by weight, runs it (retrying retryable failures with
backoff and full jitter) and records the outcome. The run ends after a number
of transactions per worker, after a duration, or when ``stop`` is set (Ctrl-C,
SIGTERM); in-flight transactions are then cancelled and counted as such, and
everything recorded so far is returned.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from dbprobe.domain.uow import UnitOfWork
from dbprobe.engine import Database, mask_secret
from dbprobe.errors import ConfigError, ErrorClass, classify_error, error_code
from dbprobe.instrument import count_statements, install_statement_counter
from dbprobe.instrument.nplusone import (
    DEFAULT_THRESHOLD,
    FindingTally,
    find_n_plus_one,
    find_unused_eager_loads,
    is_missing_greenlet,
    missing_greenlet_finding,
)
from dbprobe.metrics import LatencyHistogram

__all__ = [
    "LoadPlan",
    "Operation",
    "OperationContext",
    "OperationStats",
    "RetryPolicy",
    "WorkloadResult",
    "run_workload",
]

# Cancelled workers get this long to unwind (rollback, close) before we stop
# waiting for them; a run must end within seconds of Ctrl-C.
_CANCEL_GRACE_S = 1.0
_ERROR_SAMPLES_PER_CLASS = 3


class OperationContext:
    """What one attempt of an operation gets: the database, randomness, a UoW factory."""

    __slots__ = ("_uow", "db", "rng", "worker")

    def __init__(self, db: Database, rng: random.Random, worker: int) -> None:
        self.db = db
        self.rng = rng
        self.worker = worker
        self._uow: UnitOfWork | None = None

    def unit_of_work(self, *, write: bool) -> UnitOfWork:
        """A Unit of Work on the write (BEGIN IMMEDIATE on SQLite) or read session factory."""
        self._uow = UnitOfWork(self.db.write_sessions if write else self.db.read_sessions)
        return self._uow

    @property
    def commit_ns(self) -> int | None:
        return self._uow.commit_ns if self._uow is not None else None


@dataclass(frozen=True)
class Operation:
    """A named, weighted transaction type of a probe."""

    name: str
    weight: int
    run: Callable[[OperationContext], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of retryable failures (deadlock, serialization, lock timeout).

    The wait before retry ``n`` (1-based) is uniform in
    ``[0, min(max_backoff_s, base_backoff_s * 2**(n-1))]`` ("full jitter"), so
    workers that collided do not collide again in lockstep.
    """

    retries: int = 3
    base_backoff_s: float = 0.002
    max_backoff_s: float = 0.2

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ConfigError(f"--retries must be 0 or more, got {self.retries}")

    def backoff_s(self, retry: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.max_backoff_s, self.base_backoff_s * 2 ** (retry - 1)))


@dataclass(frozen=True)
class LoadPlan:
    """How much load: workers, and either transactions per worker or a duration."""

    workers: int
    transactions_per_worker: int | None = None
    duration_s: float | None = None
    warmup_s: float = 0.0

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"--threads must be at least 1, got {self.workers}")
        if self.transactions_per_worker is not None and self.transactions_per_worker < 1:
            raise ConfigError(
                f"--transactions must be at least 1, got {self.transactions_per_worker}"
            )
        if self.duration_s is not None and self.duration_s <= 0:
            raise ConfigError(f"--duration must be positive, got {self.duration_s:g}")
        if (self.transactions_per_worker is None) == (self.duration_s is None):
            raise ConfigError("give either --transactions or --duration, not both")
        if self.warmup_s < 0:
            raise ConfigError(f"--warmup must be 0 or more, got {self.warmup_s:g}")


@dataclass
class OperationStats:
    """Counters and histograms of one operation type, filled while the run goes.

    ``attempts`` is counted when an attempt starts, ``commits`` and
    ``failures`` when it ends; the difference is the attempts that had not
    ended when the run stopped (:attr:`cancelled`). Every failure is rolled
    back, and is either retried or given up (``errors``).
    """

    name: str
    latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    commit_latency: LatencyHistogram = field(default_factory=LatencyHistogram)
    attempts: int = 0
    commits: int = 0
    failures: int = 0
    retries: int = 0
    errors: int = 0
    error_classes: Counter[ErrorClass] = field(default_factory=Counter)
    error_samples: dict[ErrorClass, list[str]] = field(default_factory=dict)
    # The server's DETAIL of the first failures per class (PostgreSQL only): for a
    # deadlock it names which process waited on which, the evidence to keep.
    error_details: dict[ErrorClass, list[str]] = field(default_factory=dict)
    statements_total: int = 0
    statements_committed: int = 0
    statements_max: int = 0
    findings: FindingTally = field(default_factory=FindingTally)

    @property
    def cancelled(self) -> int:
        """Attempts still in flight when the run stopped (cancelled by an interrupt)."""
        return self.attempts - self.commits - self.failures

    def record_failure(self, exc: BaseException, kind: ErrorClass, message: str) -> None:
        self.failures += 1
        self.error_classes[kind] += 1
        samples = self.error_samples.setdefault(kind, [])
        if len(samples) < _ERROR_SAMPLES_PER_CLASS:
            code = error_code(exc)
            samples.append(f"[{code}] {message}" if code else message)
        detail = getattr(getattr(exc, "orig", None), "detail", None)
        if isinstance(detail, str) and detail:
            details = self.error_details.setdefault(kind, [])
            if len(details) < _ERROR_SAMPLES_PER_CLASS:
                details.append(detail)


@dataclass(frozen=True)
class WorkloadResult:
    """What a run recorded, in operation order; ``measured_s`` excludes the warm-up."""

    operations: tuple[OperationStats, ...]
    measured_s: float
    interrupted: bool


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


async def _run_once(
    op: Operation,
    stats: OperationStats,
    ctx_factory: Callable[[], OperationContext],
    retry: RetryPolicy,
    rng: random.Random,
    clock_ns: Callable[[], int],
    db: Database,
    n_plus_one_threshold: int,
) -> None:
    started = clock_ns()
    retry_no = 0
    while True:
        ctx = ctx_factory()
        stats.attempts += 1
        with count_statements() as tally:
            try:
                await op.run(ctx)
            except asyncio.CancelledError:
                stats.statements_total += tally.count
                raise
            except Exception as exc:
                stats.statements_total += tally.count
                kind = classify_error(exc)
                stats.record_failure(exc, kind, mask_secret(_first_line(exc), db.target))
                if is_missing_greenlet(exc):
                    finding = missing_greenlet_finding(tally.last_relationship, operation=op.name)
                    stats.findings.add([finding], execution=False)
                if kind.retryable and retry_no < retry.retries:
                    retry_no += 1
                    stats.retries += 1
                    await asyncio.sleep(retry.backoff_s(retry_no, rng))
                    continue
                stats.errors += 1
                return
        stats.commits += 1
        # Detection runs on the committed attempt only: a failed attempt's
        # statements stop wherever the error struck.
        stats.findings.add(
            find_n_plus_one(
                tally.statements.values(), operation=op.name, threshold=n_plus_one_threshold
            )
            + find_unused_eager_loads(tally.eager_loaded(), tally.reads, operation=op.name)
        )
        stats.statements_total += tally.count
        stats.statements_committed += tally.count
        stats.statements_max = max(stats.statements_max, tally.count)
        # Latency runs from the first attempt to the last commit, retries and
        # backoff included, as pgbench reports it: it is what the caller waits.
        stats.latency.record_ns(clock_ns() - started)
        if ctx.commit_ns is not None:
            stats.commit_latency.record_ns(ctx.commit_ns)
        return


async def run_workload(
    db: Database,
    operations: Sequence[Operation],
    plan: LoadPlan,
    *,
    retry: RetryPolicy,
    seed: int,
    stop: asyncio.Event,
    on_progress: Callable[[float, int], None] | None = None,
    clock_ns: Callable[[], int] = time.perf_counter_ns,
    n_plus_one_threshold: int = DEFAULT_THRESHOLD,
) -> WorkloadResult:
    """Run ``operations`` under ``plan`` and return what was recorded.

    ``on_progress(fraction_done, transactions_done)`` is called about ten
    times a second from the event loop.
    """
    install_statement_counter()
    names = [op.name for op in operations]
    weights = [op.weight for op in operations]
    measured = {op.name: OperationStats(op.name) for op in operations}
    done = [0]  # measured transactions, all workers

    begin = clock_ns()
    measure_from = begin + int(plan.warmup_s * 1e9)
    deadline = measure_from + int(plan.duration_s * 1e9) if plan.duration_s is not None else None
    total = plan.transactions_per_worker * plan.workers if plan.transactions_per_worker else None

    async def worker(index: int) -> None:
        # One Random per worker, derived from the run's seed: the sequence of
        # operations a worker picks is reproducible whatever the scheduling.
        rng = random.Random(seed * 1_000_003 + index)
        warmup = {op.name: OperationStats(op.name) for op in operations}
        by_name = {op.name: op for op in operations}
        mine = 0

        def make_ctx() -> OperationContext:
            return OperationContext(db, rng, index)

        while True:
            now = clock_ns()
            if deadline is not None and now >= deadline:
                return
            if plan.transactions_per_worker is not None and mine >= plan.transactions_per_worker:
                return
            name = rng.choices(names, weights)[0]
            is_measured = now >= measure_from
            stats = measured[name] if is_measured else warmup[name]
            await _run_once(
                by_name[name], stats, make_ctx, retry, rng, clock_ns, db, n_plus_one_threshold
            )
            if is_measured:
                mine += 1
                done[0] += 1

    def fraction() -> float:
        now = clock_ns()
        if deadline is not None:
            return min(1.0, max(0.0, (now - begin) / (deadline - begin)))
        return done[0] / total if total else 0.0

    workers = [
        asyncio.create_task(worker(i), name=f"dbprobe-worker-{i}") for i in range(plan.workers)
    ]
    interrupted = False
    try:
        # Poll rather than wait on `stop`: the same tick drives the progress
        # display, and a stop is seen within 0.1 s.
        while pending := [t for t in workers if not t.done()]:
            if stop.is_set():
                interrupted = True
                break
            if any(t.done() and not t.cancelled() and t.exception() for t in workers):
                break  # a bug in a probe: stop the others and raise it below
            await asyncio.wait(pending, timeout=0.1)
            if on_progress is not None:
                on_progress(fraction(), done[0])
    finally:
        ended = clock_ns()
        for task in workers:
            task.cancel()
        await asyncio.wait(workers, timeout=_CANCEL_GRACE_S)
    for task in workers:
        if task.done() and not task.cancelled() and (failure := task.exception()) is not None:
            raise failure
    measured_s = max(0.0, (min(ended, deadline or ended) - measure_from) / 1e9)
    return WorkloadResult(tuple(measured[n] for n in names), measured_s, interrupted)
