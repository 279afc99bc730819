"""One operation run on its own, for a load generator of its own (Locust's users).

:func:`run_operation` runs an operation exactly as a worker of
:func:`~dbprobe.load.workers.run_workload` does (retries, statement counts,
N+1 detection, latency into the operation's HdrHistogram): what to run and
when is the caller's.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from dbprobe.database.engine import Database
from dbprobe.errors import ErrorClass, error_code
from dbprobe.instrument.nplusone import DEFAULT_THRESHOLD
from dbprobe.load.operations import Operation, OperationContext, OperationStats
from dbprobe.load.plan import RetryPolicy

# The worker's own attempt loop, shared rather than copied: one definition of
# what an operation's run records.
from dbprobe.load.workers import _run_once as run_attempts

__all__ = ["OperationOutcome", "run_operation"]


@dataclass(frozen=True)
class OperationOutcome:
    """One operation run on its own (:func:`run_operation`): how long it took, how it ended.

    ``elapsed_ns``: first attempt to commit or last failure, retries included;
    ``error``: the class of the last failure of one that gave up (None: it
    committed), ``code`` its SQLSTATE or SQLite code (messages are sampled in
    ``error_samples``: one per failure would cost a mask and a cut each).
    """

    elapsed_ns: int
    error: ErrorClass | None = None
    code: str | None = None


async def run_operation(
    op: Operation,
    stats: OperationStats,
    ctx: Callable[[], OperationContext],
    retry: RetryPolicy,
    rng: random.Random,
    db: Database,
    *,
    n_plus_one_threshold: int = DEFAULT_THRESHOLD,
    clock_ns: Callable[[], int] = time.perf_counter_ns,
) -> OperationOutcome:
    """Run one operation as a worker of :func:`run_workload` does, recording into ``stats``.

    For a load generator of its own (Locust's users, :mod:`dbprobe.locust`):
    retries, statement counts, N+1 detection and latency are dbprobe's, the
    choice of what to run and when is the caller's.
    """
    failed: list[tuple[BaseException, ErrorClass]] = []
    started = clock_ns()
    latency = await run_attempts(
        op,
        stats,
        ctx,
        retry,
        rng,
        clock_ns,
        db,
        n_plus_one_threshold,
        on_give_up=lambda exc, kind: failed.append((exc, kind)),
    )
    if latency >= 0:
        return OperationOutcome(latency)
    exc, kind = failed[-1]
    return OperationOutcome(clock_ns() - started, kind, error_code(exc))
