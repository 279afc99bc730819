"""The ``pool`` probe: connection-pool exhaustion, with pool waits measured apart from query time.

Workers (asyncio tasks) repeatedly check a connection out of the engine's pool
(timed: the *checkout wait*), hold it doing real work (timed: the *hold*, and
the *statement* within it) and return it. Demand is ``threads`` workers
throughout, or with ``ramp`` steps up from 1 to ``threads`` and back down, one
step a second. A checkout that gives up raises ``sqlalchemy.exc.TimeoutError``
("QueuePool limit of size 5 overflow 10 reached, connection timed out"); it is
counted, and the worker tries again.

How a connection is held for ``hold_ms``:

- PostgreSQL: ``SELECT pg_sleep(hold)``: the server session is busy in a
  statement for the whole hold, as with a slow query.
- SQLite has no sleep function, and a statement that burns CPU (a recursive
  CTE counting up) runs for a time that depends on the machine and on how many
  workers share its cores: aiosqlite runs each connection on a thread of its
  own, so six busy holds on two cores would each take three times as long, and
  would starve the event loop that times the waits. So a hold is a real short
  read (a count of the movement catalogue) followed by ``asyncio.sleep`` for
  the rest of ``hold_ms``, the connection checked out and its transaction open
  throughout. To the pool this is the same as a slow statement; the statement
  time is reported on its own, so nothing is hidden.

Pool state comes from SQLAlchemy's own pool events (through
:class:`dbprobe.instrument.pool.PoolTracer`) and the pool's ``checkedout()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.pool import QueuePool
from sqlalchemy.sql import Executable

from dbprobe.database.engine import Database, PoolOptions
from dbprobe.database.url import Backend, error_line
from dbprobe.domain.models import Movement
from dbprobe.errors import ConfigError, ErrorClass, classify_error
from dbprobe.gate.slo import SloCheck, evaluate_slos
from dbprobe.instrument import count_statements, install_statement_counter
from dbprobe.instrument.pool_trace import LeakedConnection, PoolTrace, PoolTracer
from dbprobe.load.failures import DEFAULT_MAX_ERROR_RATE, error_rate_findings
from dbprobe.load.harness import ProbeHooks, TargetOptions, assemble_report, prepared_target
from dbprobe.load.operations import OperationStats
from dbprobe.load.outages import service_interruptions
from dbprobe.load.resources import ResourceSampler
from dbprobe.load.results import operation_reports
from dbprobe.load.sections import TimelineSection
from dbprobe.load.timeline import Timeline
from dbprobe.load.timeline import TimelineRecorder as RunTimeline
from dbprobe.load.workers import WorkloadResult
from dbprobe.metrics import LatencyHistogram
from dbprobe.probes.pool.activity import ActivityMonitor
from dbprobe.probes.pool.model import (
    MIN_RAMP_SECONDS,
    TimelineRecorder,
    capacity_per_s,
    demand_at,
    demand_profile,
    recovery_start_s,
)
from dbprobe.probes.pool.section import PoolSection, pool_exhaustion_finding
from dbprobe.result.config import PoolConfig, RunConfig
from dbprobe.result.findings import Finding, PoolExhaustionEvidence
from dbprobe.result.model import Report

__all__ = ["PoolProbeOptions", "run_pool"]

OPERATION = "hold"
_CANCEL_GRACE_S = 1.0  # as the runner: a run ends within about a second of Ctrl-C
_SNAPSHOT_WAIT_S = 5.0
_NS = 1_000_000_000
#: Where the probe's own checkouts come from, for the holders list. Only the workers
#: use this engine; user_location() would skip their dbprobe frames and walk on past
#: the event loop to whatever started it (a script's asyncio.run line).
_WORKER_LOCATION = "dbprobe.probes.pool (hold worker)"

_PG_HOLD = text("SELECT pg_sleep(:seconds)")
_PG_HOLD_METHOD = "pg_sleep"
_SQLITE_HOLD = select(func.count()).select_from(Movement)
_SQLITE_HOLD_METHOD = "short read + asyncio.sleep, connection checked out"


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


@dataclass(frozen=True)
class PoolProbeOptions:
    """Options of the pool probe (validated; shared by the CLI and the pytest plugin).

    Attributes:
        pool_size: connections the pool keeps (SQLAlchemy ``pool_size``), at least 1.
        max_overflow: connections it may open beyond that (``max_overflow``), 0 or more.
        pool_timeout_s: how long a checkout waits before ``TimeoutError`` (``pool_timeout``).
        threads: concurrent demand: workers, each wanting one connection at a time.
        hold_ms: how long a worker keeps its connection, 0 or more.
        duration_s: how long workers start new checkouts.
        ramp: demand steps from 1 up to ``threads`` and back down over the duration.
        trace_holders: remember which code location took each connection.
    """

    pool_size: int = 5
    max_overflow: int = 10
    pool_timeout_s: float = 30.0
    threads: int = 20
    hold_ms: float = 100.0
    duration_s: float = 10.0
    ramp: bool = False
    trace_holders: bool = False

    def __post_init__(self) -> None:
        if self.pool_size < 1:
            raise ConfigError(f"--pool-size must be at least 1, got {self.pool_size}")
        if self.max_overflow < 0:
            raise ConfigError(f"--max-overflow must be 0 or more, got {self.max_overflow}")
        if not (_finite(self.pool_timeout_s) and self.pool_timeout_s > 0):
            raise ConfigError(
                f"--pool-timeout must be a positive number of seconds, got {self.pool_timeout_s}"
            )
        if self.threads < 1:
            raise ConfigError(f"--threads must be at least 1, got {self.threads}")
        if not (_finite(self.hold_ms) and self.hold_ms >= 0):
            raise ConfigError(f"--hold-ms must be 0 or more milliseconds, got {self.hold_ms}")
        if not (_finite(self.duration_s) and self.duration_s > 0):
            raise ConfigError(
                f"--duration must be a positive number of seconds, got {self.duration_s}"
            )
        if self.ramp and self.duration_s < MIN_RAMP_SECONDS:
            raise ConfigError(
                f"--ramp needs --duration of at least {MIN_RAMP_SECONDS} s (demand steps "
                f"once a second, up and back down), got {self.duration_s:g}"
            )

    @property
    def connections(self) -> int:
        """Most connections the pool may have open at once."""
        return self.pool_size + self.max_overflow

    def pool_options(self, connect_timeout_s: float = 10.0) -> PoolOptions:
        """The engine's pool settings for this probe."""
        return PoolOptions(
            size=self.pool_size,
            max_overflow=self.max_overflow,
            timeout_s=self.pool_timeout_s,
            connect_timeout_s=connect_timeout_s,
        )

    def as_config(self) -> PoolConfig:
        return PoolConfig(
            pool_size=self.pool_size,
            max_overflow=self.max_overflow,
            pool_timeout_s=self.pool_timeout_s,
            threads=self.threads,
            hold_ms=self.hold_ms,
            duration_s=self.duration_s,
            ramp=self.ramp,
            trace_holders=self.trace_holders,
        )


@dataclass(frozen=True)
class _Outcome:
    """What one run of the load measured (the probe's I/O shell turns it into a report)."""

    profile: tuple[int, ...]
    stats: OperationStats
    waits: LatencyHistogram
    holds: LatencyHistogram
    statements: LatencyHistogram
    served: int
    timeouts: int
    first_wait_s: float | None
    first_timeout_s: float | None
    elapsed_s: float
    interrupted: bool
    trace: PoolTrace
    timeline: TimelineRecorder
    run_timeline: Timeline  # throughput, latency and errors a second, as every probe has
    activity: tuple[Mapping[str, Any], ...]
    activity_error: str | None
    hold_method: str


class _PoolLoad:
    """The workers, their bookkeeping, and the pool's state over time."""

    def __init__(
        self,
        db: Database,
        probe: PoolProbeOptions,
        *,
        monitor: ActivityMonitor | None,
        stop: asyncio.Event,
        hooks: ProbeHooks,
        sampler: ResourceSampler,
        clock_ns: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        pool = db.engine.sync_engine.pool
        if not isinstance(pool, QueuePool):  # engine.build_engine always makes one
            raise TypeError(f"the pool probe needs a QueuePool, got {type(pool).__name__}")
        self._db = db
        self._pool = pool
        self._probe = probe
        self._monitor = monitor
        self._stop = stop
        self._hooks = hooks
        self._sampler = sampler
        self._clock_ns = clock_ns
        self._profile = demand_profile(probe.threads, probe.duration_s, ramp=probe.ramp)
        self._timeline = TimelineRecorder(
            self._profile,
            recover_from_s=recovery_start_s(self._profile, probe.connections)
            if probe.ramp
            else None,
        )
        self._is_pg = db.backend is Backend.POSTGRESQL
        self._hold_ns = int(probe.hold_ms * 1_000_000)
        self._stats = OperationStats(OPERATION)
        self._waits = LatencyHistogram()
        self._holds = LatencyHistogram()
        self._statements = LatencyHistogram()
        self._served = 0
        self._timeouts = 0
        self._waiting = 0
        self._first_wait_s: float | None = None
        self._first_timeout_s: float | None = None
        self._pids: set[int] = set()
        self._snapshot: asyncio.Task[tuple[Mapping[str, Any], ...]] | None = None
        self._start_ns = 0
        self._deadline_ns = 0
        # The run as every load probe records it, interval by interval (started in run()).
        self._runs = RunTimeline(0)

    def _seconds(self, at_ns: int) -> float:
        return (at_ns - self._start_ns) / _NS

    # -- pool state, from SQLAlchemy's events and the workers ---------------

    def _checked_out_changed(self, level: int) -> None:
        self._timeline.checked_out(self._seconds(self._clock_ns()), level)

    def _note_pid(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        # asyncpg's connection knows its server process; pg_stat_activity is
        # filtered on these so that other dbprobe runs on the database stay out.
        driver = getattr(dbapi_connection, "driver_connection", None)
        get_pid = getattr(driver, "get_server_pid", None)
        if get_pid is not None:
            self._pids.add(int(get_pid()))

    def _change_waiting(self, at_ns: int, delta: int) -> None:
        self._waiting += delta
        self._timeline.waiting(self._seconds(at_ns), self._waiting)

    # -- the run --------------------------------------------------------------

    async def run(self) -> _Outcome:
        install_statement_counter()
        tracer = PoolTracer(
            self._db.engine,
            locations=self._probe.trace_holders,
            locate=lambda: _WORKER_LOCATION,
            clock_ns=self._clock_ns,
            on_change=self._checked_out_changed,
        )
        if self._is_pg:
            event.listen(self._pool, "checkout", self._note_pid)
        tracer.start()
        try:
            self._start_ns = self._clock_ns()
            start_unix_s = time.time()
            self._deadline_ns = self._start_ns + int(self._probe.duration_s * _NS)
            self._runs = RunTimeline(self._start_ns)
            workers = [
                asyncio.create_task(self._worker(i), name=f"dbprobe-pool-worker-{i}")
                for i in range(self._probe.threads)
            ]
            interrupted = await self._supervise(workers)
            ended_ns = self._clock_ns()
        finally:
            trace = tracer.stop()
            if self._is_pg:
                event.remove(self._pool, "checkout", self._note_pid)
        activity, activity_error = await self._activity()
        return _Outcome(
            profile=self._profile,
            stats=self._stats,
            waits=self._waits,
            holds=self._holds,
            statements=self._statements,
            served=self._served,
            timeouts=self._timeouts,
            first_wait_s=self._first_wait_s,
            first_timeout_s=self._first_timeout_s,
            elapsed_s=self._seconds(ended_ns),
            interrupted=interrupted,
            trace=trace,
            timeline=self._timeline,
            run_timeline=self._runs.finish(ended_ns, start_unix_s),
            activity=activity,
            activity_error=activity_error,
            hold_method=_PG_HOLD_METHOD if self._is_pg else _SQLITE_HOLD_METHOD,
        )

    async def _supervise(self, workers: list[asyncio.Task[None]]) -> bool:
        """Wait for the workers (they end by themselves after the duration); True if stopped."""
        interrupted = False
        try:
            # Poll rather than wait on `stop`: the same tick drives the progress
            # display, and a stop is seen within 0.1 s.
            while pending := [t for t in workers if not t.done()]:
                if self._stop.is_set():
                    interrupted = True
                    break
                if any(t.done() and not t.cancelled() and t.exception() for t in workers):
                    break  # a bug in the probe: stop the others and raise it below
                await asyncio.wait(pending, timeout=0.1)
                self._runs.tick(self._clock_ns())
                self._sampler.sample()
                if self._hooks.on_progress is not None:
                    elapsed = self._seconds(self._clock_ns())
                    done = self._stats.commits + self._stats.errors
                    self._hooks.on_progress(min(1.0, elapsed / self._probe.duration_s), done)
        finally:
            for task in workers:
                task.cancel()
            await asyncio.wait(workers, timeout=_CANCEL_GRACE_S)
        for task in workers:
            if task.done() and not task.cancelled() and (failure := task.exception()) is not None:
                raise failure
        return interrupted

    async def _worker(self, index: int) -> None:
        while True:
            now = self._clock_ns()
            if now >= self._deadline_ns:
                return
            at_s = self._seconds(now)
            if index >= demand_at(self._profile, at_s):
                # Not wanted this second: come back at the next step of demand.
                boundary = self._start_ns + (math.floor(at_s) + 1) * _NS
                await asyncio.sleep((min(boundary, self._deadline_ns) - now) / _NS)
                continue
            await self._cycle()

    async def _cycle(self) -> None:
        """One checkout, hold and return, timed and counted."""
        stats = self._stats
        stats.attempts += 1
        requested = self._clock_ns()
        self._runs.begin(requested)
        # QueuePool makes a checkout wait exactly when every connection it may
        # open is out (its checkedout() counts those being opened too); nothing
        # else runs between this test and the pool's, as SQLAlchemy's greenlet
        # bridge reaches the pool before it first yields to the event loop.
        queued = self._pool.checkedout() >= self._probe.connections
        if queued:
            self._change_waiting(requested, +1)
            if self._first_wait_s is None:
                self._first_wait_s = self._seconds(requested)
        with count_statements(detail=False, locations=False) as tally:
            try:
                try:
                    conn = await self._db.engine.connect()
                finally:
                    got = self._clock_ns()
                    if queued:
                        self._change_waiting(got, -1)
            except Exception as exc:
                self._waits.record_ns(got - requested)
                stats.statements_total += tally.count
                self._failed(exc, requested, got)
                return
            self._waits.record_ns(got - requested)
            self._served += 1
            failure: Exception | None = None
            statement_ns = 0
            try:
                statement_ns = await self._hold(conn, got)
            except Exception as exc:
                failure = exc
            finally:
                # Shielded, as AsyncConnection.__aexit__ does: a cancelled worker
                # still gives its connection back.
                try:
                    await asyncio.shield(conn.close())
                except Exception as exc:
                    failure = failure or exc
            released = self._clock_ns()
            stats.statements_total += tally.count
        if failure is not None:
            self._failed(failure, requested, released)
            return
        self._holds.record_ns(released - got)
        self._statements.record_ns(statement_ns)
        stats.commits += 1
        stats.statements_committed += tally.count
        stats.statements_max = max(stats.statements_max, tally.count)
        # The caller's view: waiting for a connection is part of the operation.
        stats.latency.record_ns(released - requested)
        self._runs.end(released, released - requested)

    async def _hold(self, conn: AsyncConnection, got_ns: int) -> int:
        """Keep ``conn`` busy for the hold; returns the statement's own time in ns."""
        statement: Executable = _PG_HOLD if self._is_pg else _SQLITE_HOLD
        params = {"seconds": self._probe.hold_ms / 1000} if self._is_pg else {}
        started = self._clock_ns()
        await conn.execute(statement, params)
        statement_ns = self._clock_ns() - started
        if not self._is_pg:
            remaining_ns = self._hold_ns - (self._clock_ns() - got_ns)
            if remaining_ns > 0:
                await asyncio.sleep(remaining_ns / _NS)
        return statement_ns

    def _failed(self, exc: Exception, requested_ns: int, at_ns: int) -> None:
        kind = classify_error(exc)
        self._stats.record_failure(exc, kind, self._db.target)
        self._stats.errors += 1
        self._stats.gave_up[kind] += 1
        self._runs.end(at_ns, -1)
        if kind is not ErrorClass.POOL_TIMEOUT:
            return
        self._timeouts += 1
        self._timeline.timeout(self._seconds(at_ns))
        if self._first_timeout_s is None:
            self._first_timeout_s = self._seconds(requested_ns)
            if self._monitor is not None:
                # While the pool is still exhausted: what its connections are doing.
                self._snapshot = asyncio.create_task(self._monitor.snapshot(frozenset(self._pids)))

    async def _activity(self) -> tuple[tuple[Mapping[str, Any], ...], str | None]:
        if self._snapshot is None:
            return (), None
        try:
            return await asyncio.wait_for(self._snapshot, _SNAPSHOT_WAIT_S), None
        except Exception as exc:
            return (), error_line(exc, self._db.target)


async def run_pool(
    options: TargetOptions,
    probe: PoolProbeOptions,
    *,
    stop: asyncio.Event | None = None,
    argv: Sequence[str] = (),
    hooks: ProbeHooks | None = None,
    slos: Sequence[SloCheck] = (),
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE,
) -> Report:
    """Run the pool probe against ``options.target``; seeds first if needed.

    The engine's pool is the probe's (``probe.pool_options``), whatever
    ``options.pool`` says, except for its connect timeout. ``slos`` are
    checked against the ``hold`` operation (checkout wait + hold). More than
    ``max_error_rate`` of the cycles failing for another reason than a checkout
    timeout (a lost connection, a failed hold) is an ``error_rate`` finding.
    """
    stop = stop or asyncio.Event()
    hooks = hooks or ProbeHooks()
    options = dataclasses.replace(options, pool=probe.pool_options(options.pool.connect_timeout_s))
    async with prepared_target(options, stop=stop, hooks=hooks) as prepared:
        db = prepared.db
        sampler = ResourceSampler()
        if hooks.on_run_start is not None:
            hooks.on_run_start(f"pool on {db.target.masked} ({db.server_version})")
        monitor: ActivityMonitor | None = None
        monitor_error: str | None = None
        if db.backend is Backend.POSTGRESQL:
            try:
                monitor = await ActivityMonitor.open(db, options.pool.connect_timeout_s)
            except Exception as exc:  # the probe runs without the snapshot
                monitor_error = error_line(exc, db.target)
        try:
            load = _PoolLoad(db, probe, monitor=monitor, stop=stop, hooks=hooks, sampler=sampler)
            outcome = await load.run()
        finally:
            if monitor is not None:
                with contextlib.suppress(Exception):
                    await monitor.close()
    section = _section(probe, outcome)
    operations = operation_reports(
        WorkloadResult((outcome.stats,), outcome.elapsed_s, outcome.interrupted)
    )
    # Checkout timeouts are what this probe provokes; pool_exhaustion reports them.
    findings: list[Finding] = error_rate_findings(
        operations, max_error_rate, excluded=(ErrorClass.POOL_TIMEOUT.value,)
    )
    findings += evaluate_slos(slos, operations)
    exhaustion = pool_exhaustion_finding(section, outcome.activity)
    if exhaustion is not None:
        error = outcome.activity_error or monitor_error
        if error is not None:
            assert isinstance(exhaustion.evidence, PoolExhaustionEvidence)
            evidence = dataclasses.replace(exhaustion.evidence, pg_stat_activity_error=error)
            exhaustion = dataclasses.replace(exhaustion, evidence=evidence)
        findings.append(exhaustion)
    findings += [leak.finding() for leak in section.leaks]
    # Outages are read off the run's timeline, as for every probe.
    findings += service_interruptions(outcome.run_timeline.points, operations)
    return assemble_report(
        "pool",
        prepared,
        config=RunConfig(probe.as_config(), max_error_rate=max_error_rate),
        operations=operations,
        findings=findings,
        resources=sampler.finish(),
        interrupted=outcome.interrupted,
        argv=argv,
        sections=[section, TimelineSection(outcome.run_timeline)],
    )


def _section(probe: PoolProbeOptions, outcome: _Outcome) -> PoolSection:
    timeline = outcome.timeline.result(outcome.elapsed_s)
    holds = outcome.holds.summary()
    leaks: tuple[LeakedConnection, ...] = outcome.trace.leaks
    if outcome.interrupted:
        # Cancelled workers may still be handing their connections back: only
        # what the garbage collector reclaimed is a leak for certain.
        leaks = tuple(leak for leak in leaks if leak.reclaimed_by_gc)

    def began(at_s: float | None) -> int | None:
        return None if at_s is None else demand_at(outcome.profile, at_s)

    return PoolSection(
        pool_size=probe.pool_size,
        max_overflow=probe.max_overflow,
        pool_timeout_s=probe.pool_timeout_s,
        threads=probe.threads,
        hold_ms_target=probe.hold_ms,
        hold_method=outcome.hold_method,
        checkout_wait_ms=outcome.waits.summary(),
        hold_ms=holds,
        statement_ms=outcome.statements.summary(),
        checkouts=outcome.served,
        timeouts=outcome.timeouts,
        peak_checked_out=outcome.trace.peak_checked_out,
        capacity_per_s=capacity_per_s(probe.connections, holds.mean_ms) if holds.count else None,
        measured_per_s=outcome.stats.commits / outcome.elapsed_s if outcome.elapsed_s > 0 else 0.0,
        waits_began_at_demand=began(outcome.first_wait_s),
        timeouts_began_at_demand=began(outcome.first_timeout_s),
        recovery_s=timeline.recovery_s,
        recovered=timeline.recovered,
        timeline=timeline.rows,
        holders=outcome.trace.holders if probe.trace_holders else (),
        leaks=leaks,
    )
