"""What one operation of a workload is, what it gets, and what it records.

An :class:`Operation` is a named, weighted transaction type; each attempt
gets an :class:`OperationContext`; its outcomes add up in its
:class:`OperationStats` while the run goes (:mod:`dbprobe.load.workers`).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from dbprobe.database.engine import Database
from dbprobe.database.url import Target, cut, error_line, mask_secret
from dbprobe.domain.uow import UnitOfWork
from dbprobe.errors import ErrorClass, error_code
from dbprobe.instrument.nplusone import FindingTally
from dbprobe.metrics import LatencyHistogram
from dbprobe.result.model import RoundFigures

__all__ = ["Operation", "OperationContext", "OperationStats"]

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

    @property
    def engine(self) -> AsyncEngine:
        """The run's engine (for scenarios that open connections themselves)."""
        return self.db.engine

    @property
    def session_factory(self) -> async_sessionmaker[Any]:
        """Sessions that begin as the driver does (on SQLite a deferred BEGIN): reads."""
        return self.db.read_sessions

    @property
    def write_session_factory(self) -> async_sessionmaker[Any]:
        """Sessions for writes: on SQLite they BEGIN IMMEDIATE, so writers queue, not fail."""
        return self.db.write_sessions


@dataclass(frozen=True)
class Operation:
    """A named, weighted transaction type of a probe."""

    name: str
    weight: int
    run: Callable[[OperationContext], Awaitable[None]]


@dataclass
class OperationStats:
    """Counters and histograms of one operation type, filled while the run goes.

    ``attempts`` is counted when an attempt starts, ``commits`` and
    ``failures`` when it ends; the difference is the attempts that had not
    ended when the run stopped (:attr:`cancelled`). Every failure is rolled
    back, and is either retried or given up (``errors``). ``error_classes``
    counts the failures by class; ``retried`` and ``gave_up`` split them by
    what followed, so each is counted under its own class only.
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
    retried: Counter[ErrorClass] = field(default_factory=Counter)
    gave_up: Counter[ErrorClass] = field(default_factory=Counter)
    error_samples: dict[ErrorClass, list[str]] = field(default_factory=dict)
    # The server's DETAIL of the first failures per class (PostgreSQL only): for a
    # deadlock it names which process waited on which, the evidence to keep.
    error_details: dict[ErrorClass, list[str]] = field(default_factory=dict)
    statements_total: int = 0
    statements_committed: int = 0
    statements_max: int = 0
    lock_waits: int = 0
    lock_wait_ns: int = 0
    findings: FindingTally = field(default_factory=FindingTally)
    # Open loop only (None in a closed loop): time from the actual start to the
    # commit, and from the intended to the actual start.
    service_latency: LatencyHistogram | None = None
    schedule_lag: LatencyHistogram | None = None
    rounds: tuple[RoundFigures, ...] = ()  # filled when the run ends
    late: int = 0  # started more than LATE_AFTER_MS after the intended start
    skipped: int = 0  # over the latency limit when a worker took them: not run
    unstarted: int = 0  # due before the end of a timed run, never reached by a worker

    @property
    def cancelled(self) -> int:
        """Attempts still in flight when the run stopped: cancelled by an interrupt, or
        still running when the grace after the end of a timed run was over."""
        return self.attempts - self.commits - self.failures

    def record_failure(self, exc: BaseException, kind: ErrorClass, target: Target) -> None:
        """Count a failed attempt; keep its message if it is among the first of its class.

        The message is made (masked and cut) only when kept: a scenario failing
        thousands of times with a 10 MB message costs a few copies, not thousands.
        """
        self.failures += 1
        self.error_classes[kind] += 1
        samples = self.error_samples.setdefault(kind, [])
        if len(samples) < _ERROR_SAMPLES_PER_CLASS:
            code = error_code(exc)
            message = error_line(exc, target)
            samples.append(f"[{code}] {message}" if code else message)
        # The server's DETAIL (which transactions deadlocked): SQLAlchemy 2.1's
        # adapted error carries it, 2.0's only the asyncpg error it wraps.
        orig = getattr(exc, "orig", None)
        detail = getattr(orig, "detail", None) or getattr(
            getattr(orig, "__cause__", None), "detail", None
        )
        if isinstance(detail, str) and detail:
            details = self.error_details.setdefault(kind, [])
            if len(details) < _ERROR_SAMPLES_PER_CLASS:
                details.append(cut(mask_secret(detail, target)))
