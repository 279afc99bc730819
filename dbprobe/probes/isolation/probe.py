"""The ``isolation`` probe: the Hermitage tests run on real connections, level by level.

Each test of :mod:`dbprobe.probes.isolation.hermitage` runs as scripted: one connection per
named transaction, at the isolation level under test, on the probe's own table
(``isolation_test``, created if missing, reset to ``1 => 10, 2 => 20`` before
every test; no other table is read or written). Steps run one after another in
script order. A step that has to wait for a lock is not waited for: it runs as
a task, and as soon as the server shows its backend waiting on a lock
(``pg_stat_activity.wait_event_type = 'Lock'``) the script goes on to the next
step, usually the commit or abort that releases it; the blocked step's result is
collected when it completes, at the latest before its transaction's next step.

Levels: PostgreSQL's ``read_committed``, ``repeatable_read`` and ``serializable``.
SQLite has one isolation level (serializable) and two ways to begin a
transaction in WAL mode, which are what this probe compares:

- ``deferred``: ``BEGIN``; the snapshot is taken by the first read and the
  write lock by the first write;
- ``immediate``: ``BEGIN IMMEDIATE`` for each transaction of the script that
  writes (it takes the write lock at once), ``BEGIN`` for read-only ones; this
  is how dbprobe's own write sessions run.

SQLite has no server to ask whether a connection is waiting: a write that
meets another writer's lock retries for the busy timeout (short here, so the
probe stays fast) and then fails with SQLITE_BUSY. That is reported as the
transaction being refused the write lock ("busy"), i.e. SQLite serialised the
writers and the interleaving could not happen.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dbprobe.data.references import refuse_foreign_references
from dbprobe.database.engine import Database, Isolation, PoolOptions, build_engine
from dbprobe.database.url import Backend, Target, cut, mask_url_text
from dbprobe.errors import ConfigError, ErrorClass, classify_error, error_code
from dbprobe.load.harness import ProbeHooks, TargetOptions, assemble_report, prepared_target
from dbprobe.load.resources import ResourceSampler
from dbprobe.probes.isolation.hermitage import TABLE, TEST_NAMES, HermitageTest, Step, select_tests
from dbprobe.probes.isolation.matrix import IsolationSection, LevelInfo, matrix_findings
from dbprobe.probes.isolation.verdicts import Outcome, StepResult, StepStatus, Verdict, judge
from dbprobe.result.config import IsolationConfig, RunConfig
from dbprobe.result.model import Report

__all__ = [
    "LEVELS",
    "IsolationOptions",
    "ensure_table",
    "levels_for",
    "run_isolation",
    "run_test",
    "step_status",
]

#: Every level (PostgreSQL) and transaction mode (SQLite) the probe knows, per backend.
LEVELS: Mapping[Backend, tuple[LevelInfo, ...]] = {
    Backend.POSTGRESQL: (
        LevelInfo("read_committed", "READ COMMITTED (PostgreSQL's default)"),
        LevelInfo("repeatable_read", "REPEATABLE READ (snapshot isolation)"),
        LevelInfo("serializable", "SERIALIZABLE (serializable snapshot isolation)"),
    ),
    Backend.SQLITE: (
        LevelInfo("deferred", "BEGIN: snapshot at the first read, write lock at the first write"),
        LevelInfo(
            "immediate", "BEGIN IMMEDIATE for transactions that write, BEGIN for read-only ones"
        ),
    ),
}

#: dbprobe's engine begins a connection with this execution option with BEGIN IMMEDIATE.
_SQLITE_WRITE_OPTION = "dbprobe_write"

#: How often a running step is looked at for a lock wait: server state cannot wake us.
_POLL_INTERVAL_S = 0.002
#: Connections the probe's engine holds: T1, T2, T3, ``after`` and the lock monitor.
_POOL_SIZE = 5


@dataclass(frozen=True)
class IsolationOptions:
    """Options of the isolation probe (validated; shared by the CLI and the pytest plugin).

    ``levels`` and ``tests`` empty mean all of them. ``lock_wait_limit_s`` bounds how
    long a step may wait for a lock (PostgreSQL ``lock_timeout``) or for an answer;
    ``sqlite_busy_timeout_ms`` is how long an SQLite write retries a taken write lock
    before it counts as refused.
    """

    levels: tuple[str, ...] = ()
    tests: tuple[str, ...] = ()
    sqlite_busy_timeout_ms: int = 200
    lock_wait_limit_s: float = 10.0

    def __post_init__(self) -> None:
        known = [lv.name for levels in LEVELS.values() for lv in levels]
        for level in self.levels:
            if level not in known:
                raise ConfigError(
                    f"unknown level {level!r} in --level: choose from {', '.join(known)}"
                )
        for name in self.tests:
            if name not in TEST_NAMES:
                raise ConfigError(
                    f"unknown test {name!r} in --test: choose from {', '.join(TEST_NAMES)}"
                )
        if not 1 <= self.sqlite_busy_timeout_ms <= 60_000:
            raise ConfigError(
                f"--busy-timeout-ms must be between 1 and 60000, got {self.sqlite_busy_timeout_ms}"
            )
        if not 0 < self.lock_wait_limit_s <= 600:
            raise ConfigError(
                f"--lock-wait-limit must be above 0 and at most 600 s, got {self.lock_wait_limit_s}"
            )
        if self.sqlite_busy_timeout_ms / 1000 >= self.lock_wait_limit_s:
            # A busy write must end (SQLITE_BUSY) before the probe gives up on it.
            raise ConfigError(
                f"--busy-timeout-ms {self.sqlite_busy_timeout_ms} must be shorter than "
                f"--lock-wait-limit {self.lock_wait_limit_s:g} s"
            )

    def as_config(
        self, levels: Sequence[LevelInfo], tests: Sequence[HermitageTest]
    ) -> IsolationConfig:
        """The options as the report states them, with the levels and tests that ran."""
        return IsolationConfig(
            levels=tuple(level.name for level in levels),
            tests=tuple(test.name for test in tests),
            sqlite_busy_timeout_ms=self.sqlite_busy_timeout_ms,
            lock_wait_limit_s=self.lock_wait_limit_s,
        )


def levels_for(backend: Backend, wanted: Sequence[str]) -> tuple[LevelInfo, ...]:
    """The levels to run on ``backend``: those in ``wanted`` (all when empty), in our order."""
    offered = LEVELS[backend]
    names = [lv.name for lv in offered]
    for level in wanted:
        if level not in names:
            raise ConfigError(
                f"level {level!r} is not available on {backend.value}: "
                f"{backend.value} offers {', '.join(names)}"
            )
    return tuple(lv for lv in offered if not wanted or lv.name in wanted)


def step_status(error: ErrorClass, backend: Backend) -> StepStatus:
    """What a failed step means for the verdict.

    SQLite's SQLITE_BUSY is its way of refusing a second writer; PostgreSQL's
    lock_not_available (55P03) can only be the probe's own lock_timeout firing,
    i.e. a step waited longer than any script means it to, so that is a failure.
    """
    if error is ErrorClass.SERIALIZATION:
        return StepStatus.SERIALIZATION
    if error is ErrorClass.DEADLOCK:
        return StepStatus.DEADLOCK
    if error is ErrorClass.LOCK_TIMEOUT and backend is Backend.SQLITE:
        return StepStatus.BUSY
    return StepStatus.FAILED


# --------------------------------------------------------------------------- one test


class _NoAnswer(Exception):
    """A step neither finished nor waited on a lock within the limit."""

    def __init__(self, index: int) -> None:
        super().__init__(index)
        self.index = index


class _ScriptRun:
    """One test at one level: its connections, its blocked steps, its results."""

    def __init__(
        self,
        test: HermitageTest,
        engine: AsyncEngine,
        backend: Backend,
        *,
        immediate: bool,
        monitor: AsyncConnection | None,
        limit_s: float,
    ) -> None:
        self.test = test
        self.engine = engine
        self.backend = backend
        self.immediate = immediate
        self.monitor = monitor
        self.limit_s = limit_s
        self.conns: dict[str, AsyncConnection] = {}
        self.pids: dict[str, int] = {}
        self.pending: dict[str, tuple[int, asyncio.Task[StepResult]]] = {}
        self.ended: set[str] = set()  # aborted by the database, or failed
        self.results: list[StepResult | None] = [None] * len(test.steps)

    async def run(self) -> tuple[StepResult, ...]:
        try:
            for index, step in enumerate(self.test.steps):
                await self._settle(step.tx)
                if step.tx in self.ended:
                    self.results[index] = StepResult(StepStatus.SKIPPED)
                    continue
                conn = await self._connection(step.tx)
                task = asyncio.create_task(self._execute(conn, step))
                # Pending until it finishes, so that a step that never answers is
                # cancelled (and its connection discarded) on the way out.
                self.pending[step.tx] = (index, task)
                if await self._finishes_or_blocks(task, step.tx, index):
                    del self.pending[step.tx]
                    self._record(index, step.tx, task.result())
            for tx in list(self.pending):
                await self._settle(tx)
        finally:
            await self._close()
        assert all(r is not None for r in self.results)
        return tuple(r for r in self.results if r is not None)

    def _record(self, index: int, tx: str, result: StepResult) -> None:
        self.results[index] = result
        if result.status is not StepStatus.OK:
            self.ended.add(tx)

    async def _connection(self, tx: str) -> AsyncConnection:
        if tx in self.conns:
            return self.conns[tx]
        conn = await self.engine.connect()
        self.conns[tx] = conn
        if self.backend is Backend.POSTGRESQL:
            # Session settings, committed before the script's transaction begins so
            # that they take no snapshot. lock_timeout turns a step that waits for
            # longer than any script means into an error instead of a hang.
            await conn.execute(text(f"set lock_timeout = {int(self.limit_s * 1000)}"))
            self.pids[tx] = int((await conn.execute(text("select pg_backend_pid()"))).scalar_one())
            await conn.commit()
        elif self.immediate and self.test.writes(tx):
            await conn.execution_options(**{_SQLITE_WRITE_OPTION: True})
        return conn

    async def _execute(self, conn: AsyncConnection, step: Step) -> StepResult:
        try:
            if step.is_commit:
                await conn.commit()
                return StepResult(StepStatus.OK)
            if step.is_end:
                await conn.rollback()
                return StepResult(StepStatus.OK)
            result = await conn.execute(text(step.sql))
            if not result.returns_rows:
                return StepResult(StepStatus.OK)
            rows = tuple(sorted((int(r[0]), int(r[1])) for r in result.all()))
            return StepResult(StepStatus.OK, rows)
        except sa_exc.DBAPIError as exc:
            # The transaction is over either way: PostgreSQL refuses anything but a
            # rollback after an error, and SQLite's stays open holding its snapshot.
            with contextlib.suppress(sa_exc.SQLAlchemyError):
                await conn.rollback()
            status = step_status(classify_error(exc), self.backend)
            message = str(exc.orig).splitlines()[0] if exc.orig is not None else type(exc).__name__
            return StepResult(status, code=error_code(exc), message=message)

    async def _finishes_or_blocks(
        self, task: asyncio.Task[StepResult], tx: str, index: int
    ) -> bool:
        """Wait until ``task`` finishes (True) or its backend waits on a lock (False)."""
        try:
            async with asyncio.timeout(self.limit_s):
                while True:
                    done, _ = await asyncio.wait({task}, timeout=_POLL_INTERVAL_S)
                    if done:
                        return True
                    if await self._waiting_on_lock(tx):
                        return task.done()
        except TimeoutError:
            raise _NoAnswer(index) from None

    async def _waiting_on_lock(self, tx: str) -> bool:
        if self.monitor is None:  # SQLite: a blocked write ends itself with SQLITE_BUSY
            return False
        waiting = await self.monitor.execute(
            text("select wait_event_type = 'Lock' from pg_stat_activity where pid = :pid"),
            {"pid": self.pids[tx]},
        )
        return bool(waiting.scalar_one_or_none())

    async def _settle(self, tx: str) -> None:
        """Collect the result of ``tx``'s blocked step, which must have been released by now."""
        if tx not in self.pending:
            return
        index, task = self.pending.pop(tx)
        try:
            # Bounded by lock_timeout (PostgreSQL) on the server; this is the backstop.
            async with asyncio.timeout(self.limit_s + 5):
                result = await asyncio.shield(task)
        except TimeoutError:
            self.pending[tx] = (index, task)
            raise _NoAnswer(index) from None
        self._record(index, tx, replace(result, blocked=True))

    async def _close(self) -> None:
        for _, task in self.pending.values():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for tx, conn in self.conns.items():
            with contextlib.suppress(sa_exc.SQLAlchemyError):
                if tx in self.pending:  # cancelled mid-statement: do not reuse it
                    await conn.invalidate()
                else:
                    await conn.rollback()
                await conn.close()


async def ensure_table(engine: AsyncEngine, *, where: str = "the target") -> None:
    """Create the probe's table if missing (PostgreSQL: in dbprobe's schema, by search_path).

    Every test empties it first: a table of somebody else's with a foreign key
    into it would lose (or see changed) rows, so the probe refuses to start.
    """
    async with engine.begin() as conn:
        await refuse_foreign_references(
            conn,
            Backend(engine.dialect.name),
            (TABLE,),
            (TABLE,),
            where=where,
            action=f"resetting {TABLE} before each test",
        )
        await conn.execute(
            text(f"create table if not exists {TABLE} (id int primary key, value int)")
        )


async def _reset_table(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text(f"delete from {TABLE}"))
        await conn.execute(text(f"insert into {TABLE} (id, value) values (1, 10), (2, 20)"))


async def run_test(
    test: HermitageTest,
    engine: AsyncEngine,
    backend: Backend,
    *,
    immediate: bool = False,
    monitor: AsyncConnection | None = None,
    limit_s: float = 10.0,
) -> Verdict:
    """Reset the table, run ``test`` on ``engine`` (its isolation level) and judge it.

    A database error outside the script's steps (the reset, a lost connection)
    makes the verdict an error rather than ending the probe.
    """
    script = _ScriptRun(
        test, engine, backend, immediate=immediate, monitor=monitor, limit_s=limit_s
    )
    try:
        await _reset_table(engine)
        results = await script.run()
    except (sa_exc.SQLAlchemyError, OSError) as exc:
        code = error_code(exc)
        detail = f"{classify_error(exc).value} error" + (f" ({code})" if code else "")
        # Driver messages may quote a connection string: never show its password.
        return Verdict(Outcome.ERROR, cut(f"{detail}: {mask_url_text(str(exc).splitlines()[0])}"))
    except _NoAnswer as exc:
        step = test.steps[exc.index]
        note = f"{step.tx} got no answer within {limit_s:g} s at step {exc.index + 1} `{step.sql}`"
        return Verdict(Outcome.ERROR, note, step=exc.index + 1)
    return judge(test, results)


# --------------------------------------------------------------------------- the probe


def _probe_engine(
    target: Target, level: str, options: IsolationOptions, pool: PoolOptions
) -> AsyncEngine:
    pool = PoolOptions(
        size=_POOL_SIZE,
        timeout_s=options.lock_wait_limit_s,
        connect_timeout_s=pool.connect_timeout_s,
    )
    if target.backend is Backend.SQLITE:
        return build_engine(
            target,
            pool,
            Isolation.SERIALIZABLE,
            sqlite_busy_timeout_ms=options.sqlite_busy_timeout_ms,
        )
    return build_engine(target, pool, Isolation(level))


async def _run_level(
    db: Database,
    level: LevelInfo,
    tests: Sequence[HermitageTest],
    probe: IsolationOptions,
    pool: PoolOptions,
    *,
    verdicts: dict[str, Verdict],
    stop: asyncio.Event,
    on_test_done: Callable[[], None],
) -> None:
    """Every test at one level, into ``verdicts``; stops early when ``stop`` is set."""
    engine = _probe_engine(db.target, level.name, probe, pool)
    try:
        async with contextlib.AsyncExitStack() as stack:
            monitor = None
            if db.backend is Backend.POSTGRESQL:
                # Autocommit, so that every look at pg_stat_activity sees it afresh.
                monitor = await stack.enter_async_context(engine.connect())
                await monitor.execution_options(isolation_level="AUTOCOMMIT")
            for test in tests:
                if stop.is_set():
                    break
                verdicts[test.name] = await run_test(
                    test,
                    engine,
                    db.backend,
                    immediate=level.name == "immediate",
                    monitor=monitor,
                    limit_s=probe.lock_wait_limit_s,
                )
                on_test_done()
    finally:
        await engine.dispose()


async def run_isolation(
    options: TargetOptions,
    probe: IsolationOptions,
    *,
    stop: asyncio.Event | None = None,
    argv: Sequence[str] = (),
    hooks: ProbeHooks | None = None,
) -> Report:
    """Run the Hermitage tests at each level of ``options.target`` and report the matrix.

    The report has no operations: the scripted interleavings are not a workload
    and their timings mean nothing. Its ``isolation`` section holds the matrix,
    and each allowed anomaly is an ``anomaly`` finding (severity info).
    """
    stop = stop or asyncio.Event()
    hooks = hooks or ProbeHooks()
    levels = levels_for(options.target.backend, probe.levels)
    tests = select_tests(probe.tests)
    verdicts: dict[str, dict[str, Verdict]] = {}
    async with prepared_target(options, stop=stop, hooks=hooks) as prepared:
        db = prepared.db
        await ensure_table(db.engine, where=db.target.where)
        sampler = ResourceSampler()
        if hooks.on_run_start is not None:
            hooks.on_run_start(f"isolation on {db.target.masked} ({db.server_version})")
        total = len(levels) * len(tests)

        def test_done() -> None:
            sampler.sample()
            if hooks.on_progress is not None:
                done = sum(len(v) for v in verdicts.values())
                hooks.on_progress(done / total, done)

        for level in levels:
            if stop.is_set():
                break
            verdicts[level.name] = {}
            await _run_level(
                db,
                level,
                tests,
                probe,
                options.pool,
                verdicts=verdicts[level.name],
                stop=stop,
                on_test_done=test_done,
            )
    section = IsolationSection(
        backend=db.backend.value, levels=levels, tests=tests, verdicts=verdicts
    )
    return assemble_report(
        "isolation",
        prepared,
        config=RunConfig(probe.as_config(levels, tests)),
        operations=(),
        findings=matrix_findings(section),
        resources=sampler.finish(),
        interrupted=stop.is_set() and sum(len(v) for v in verdicts.values()) < total,
        argv=argv,
        sections=(section,),
    )
