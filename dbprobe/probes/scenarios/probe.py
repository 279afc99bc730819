"""The ``run`` probe: a user's scenario file under load, like dbprobe's own probes.

The file is loaded (:mod:`dbprobe.probes.scenarios.declare`) in whichever
process runs it; its ``setup``/``teardown`` run once around the load, its
``make_engine`` (if any) builds the engine, and ``REFERENCE_DOMAIN = True``
seeds dbprobe's reference domain first.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from dbprobe.database.engine import Database, Isolation, open_database
from dbprobe.database.url import Target, error_line
from dbprobe.errors import Interrupted, UsageError
from dbprobe.gate.slo import SloCheck
from dbprobe.instrument.indexes import DEFAULT_MIN_ROWS
from dbprobe.instrument.nplusone import DEFAULT_THRESHOLD
from dbprobe.instrument.pool_trace import PoolTracer
from dbprobe.load.failures import DEFAULT_MAX_ERROR_RATE
from dbprobe.load.harness import (
    DISPOSE_GRACE_S,
    PreparedTarget,
    ProbeHooks,
    TargetOptions,
    prepared_target,
    run_until_stopped,
)
from dbprobe.load.phases import Workload
from dbprobe.load.plan import LoadPlan, RetryPolicy
from dbprobe.probes.scenarios.declare import ScenarioSet, current_scenario, load_scenarios
from dbprobe.probes.workload import run_workload_probe
from dbprobe.result.config import ScenariosConfig
from dbprobe.result.findings import Finding, FindingKind, Severity
from dbprobe.result.model import Report
from dbprobe.result.options import DEFAULT_HOOK_TIMEOUT_S

__all__ = ["run_scenarios", "scenario_database"]

# How long teardown() may take after an interrupted load: a moment for a quick
# clean-up, within the 2 s in which a run must end after SIGINT or SIGTERM.
_TEARDOWN_AFTER_STOP_S = 0.5


async def _engine_database(target: Target, engine: AsyncEngine) -> Database:
    """A Database around an engine the scenario file built itself (``make_engine``)."""
    async with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            version = f"SQLite {(await conn.execute(text('select sqlite_version()'))).scalar_one()}"
            isolation = Isolation.SERIALIZABLE
        else:
            server = (await conn.execute(text("show server_version"))).scalar_one()
            level = (await conn.execute(text("show transaction_isolation"))).scalar_one()
            version = f"PostgreSQL {server}"
            isolation = Isolation(str(level).replace(" ", "_"))
        await conn.rollback()
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    return Database(target, engine, version, isolation, sessions, sessions)


@dataclass(frozen=True)
class _ScenarioConnector:
    """Connects to the target for user scenarios: their ``make_engine``, or dbprobe's engine."""

    source: str
    options: TargetOptions

    async def __call__(self) -> Database:
        scenarios = load_scenarios(self.source)
        if scenarios.make_engine is None:
            o = self.options
            return await open_database(o.target, o.pool, o.isolation)
        url = self.options.target.url.render_as_string(hide_password=False)
        try:
            engine = scenarios.make_engine(url)
            if inspect.isawaitable(engine):
                engine = await engine
        except _HOOK_ERRORS as exc:
            # Its message may well quote the URL it was given, password and all.
            raise UsageError(
                f"make_engine() in {self.source} failed: {error_line(exc, self.options.target)}"
            ) from None
        if not isinstance(engine, AsyncEngine):
            raise UsageError(
                f"make_engine() in {self.source} must return an AsyncEngine "
                f"(create_async_engine(url, ...)), got {type(engine).__name__}"
            )
        try:
            return await _engine_database(self.options.target, engine)
        except BaseException:
            await engine.dispose()
            raise


async def scenario_database(source: str, options: TargetOptions) -> Database:
    """The database a scenario file runs on: its ``make_engine``'s, or dbprobe's for the target.

    For a load generator of its own (Locust's workers); UsageError when
    ``make_engine`` fails or returns something else than an AsyncEngine.
    """
    return await _ScenarioConnector(source, options)()


@dataclass(frozen=True)
class _ScenarioBuild:
    """The scenarios' operations, loaded from their file in whichever process runs them."""

    source: str
    only: tuple[str, ...]
    alone: bool = False

    async def __call__(self, db: Database) -> Workload:
        operations = tuple(load_scenarios(self.source).operations(self.only))
        return Workload(operations, catalogue=self.alone)


#: What a user's hook may raise that is its failure: SystemExit and KeyboardInterrupt
#: too (a real Ctrl-C reaches dbprobe as a signal, not from inside a hook), which
#: would otherwise end dbprobe with the hook's exit status and no report.
_HOOK_ERRORS = (Exception, SystemExit, KeyboardInterrupt)


class _HookExit(Exception):
    """SystemExit or KeyboardInterrupt raised by a hook run in a task of its own.

    Leaving a task, either ends the event loop itself (asyncio re-raises them
    at once), so :func:`_contained` carries them out as this ordinary error.
    """

    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


async def _contained(awaitable: Awaitable[Any]) -> Any:
    try:
        return await awaitable
    except (SystemExit, KeyboardInterrupt) as exc:
        raise _HookExit(exc) from exc


def _hook_failure(what: str, source: str, exc: BaseException) -> str:
    if isinstance(exc, _HookExit):
        exc = exc.original
    frames = list(traceback.extract_tb(exc.__traceback__))
    at = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    # One line, cut, and no password of a URL the hook quoted.
    return f"{what}() in {source} failed{at}: {error_line(exc)}"


async def run_scenarios(
    options: TargetOptions,
    source: str,
    plan: LoadPlan,
    *,
    only: Sequence[str] = (),
    retry: RetryPolicy | None = None,
    slos: Sequence[SloCheck] = (),
    stop: asyncio.Event | None = None,
    argv: Sequence[str] = (),
    hooks: ProbeHooks | None = None,
    n_plus_one_threshold: int = DEFAULT_THRESHOLD,
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE,
    hook_timeout_s: float = DEFAULT_HOOK_TIMEOUT_S,
    explain: bool = False,
    explain_min_rows: int = DEFAULT_MIN_ROWS,
    explain_analyze: bool = False,
    alone: bool = False,
) -> Report:
    """Run the scenarios of a user's file or module (see :mod:`dbprobe.scenarios`) under ``plan``.

    The engine is dbprobe's for ``options.target`` unless the file defines
    ``make_engine(url)``; the reference domain is seeded (``options.scale``,
    ``options.seed``) only if the file sets ``REFERENCE_DOMAIN = True``;
    ``setup(engine)`` runs before the load and ``teardown(engine)`` after it,
    whatever happened, each within ``hook_timeout_s`` (a setup that fails or
    does not return is a UsageError). Teardown starts once the report is made
    and handed to ``hooks.on_report`` (the CLI writes it): one that fails, does
    not return in time or is interrupted (a stop cancels it) is an error
    finding, and the report is kept. Same plan, retries, N+1 detection (located in the user's code),
    SLOs and report as the built-in probes; the probe is called ``run``.
    Raises UsageError/ConfigError for a missing or broken file.
    """
    scenarios: ScenarioSet = load_scenarios(source)
    selected = scenarios.select(only)  # validates --only before connecting
    retry = retry or RetryPolicy()
    stop = stop or asyncio.Event()
    hooks = hooks or ProbeHooks()
    connect = _ScenarioConnector(source, options)

    @contextlib.asynccontextmanager
    async def prepare() -> AsyncIterator[PreparedTarget]:
        started_at = dt.datetime.now(dt.UTC)
        started = time.perf_counter()
        # The file's own data is sized by its scale_data hook (in ``around``).
        scale = options.scale if scenarios.scale_data is not None and options.scale else "none"
        checksum = ""
        if scenarios.reference_domain:
            async with prepared_target(options, stop=stop, hooks=hooks) as seeded:
                scale, checksum = seeded.scale, seeded.checksum
                if scenarios.make_engine is None:
                    yield PreparedTarget(
                        seeded.db, scale, options.seed, checksum, started_at, started
                    )
                    return
        db = await connect()
        try:
            yield PreparedTarget(db, scale, options.seed, checksum, started_at, started)
        finally:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(db.dispose(), DISPOSE_GRACE_S)

    torn_down = False

    async def teardown(db: Database) -> list[Finding]:
        """Run ``teardown`` once, within ``hook_timeout_s``; a stop cancels it (Interrupted
        is not raised: the report is made already). A failure is a finding."""
        nonlocal torn_down
        if scenarios.teardown is None or torn_down:
            return []
        torn_down = True
        # After an interrupted load the user has asked to end: teardown still runs,
        # but for a moment, not --hook-timeout (the run ends within 2 s of a signal).
        after_stop = stop.is_set()
        limit_s = min(hook_timeout_s, _TEARDOWN_AFTER_STOP_S) if after_stop else hook_timeout_s
        call = asyncio.wait_for(_contained(scenarios.teardown(db.engine)), limit_s)
        try:
            await (call if after_stop else run_until_stopped(call, stop))
        except Interrupted:
            message = f"teardown() in {source} was interrupted (it had not returned)"
        except TimeoutError:
            why = "of the interrupt" if after_stop else "(--hook-timeout)"
            message = (
                f"teardown() in {source} did not return within {limit_s:g} s {why}: "
                "it was cancelled"
            )
        except _HOOK_ERRORS as exc:
            message = _hook_failure("teardown", source, exc)
        else:
            return []
        return [
            Finding(
                kind=FindingKind.TEARDOWN_FAILED,
                severity=Severity.ERROR,
                operation=None,
                message=message,
            )
        ]

    async def before_load(name: str, call: Awaitable[Any]) -> None:
        """A hook run before the load, within ``hook_timeout_s``; a failure is a UsageError."""
        try:
            await run_until_stopped(asyncio.wait_for(_contained(call), hook_timeout_s), stop)
        except (Interrupted, asyncio.CancelledError):
            raise
        except TimeoutError:
            raise UsageError(
                f"{name}() in {source} did not return within {hook_timeout_s:g} s (--hook-timeout)"
            ) from None
        except _HOOK_ERRORS as exc:
            raise UsageError(_hook_failure(name, source, exc)) from None

    @contextlib.asynccontextmanager
    async def around(db: Database) -> AsyncIterator[list[Finding]]:
        late: list[Finding] = []
        if scenarios.scale_data is not None and options.scale is not None:
            await before_load("scale_data", scenarios.scale_data(db.engine, options.scale))
        if scenarios.setup is not None:
            await before_load("setup", scenarios.setup(db.engine))
        # A connection a scenario never returns is a leaked_connection finding naming
        # it (the pool probe's tracer; no frame walk per checkout: the scenario's name
        # comes from the task's context). Load processes have pools of their own.
        tracer = PoolTracer(db.engine, locations=False, operation=current_scenario.get)
        tracer.start()
        try:
            yield late
        except BaseException:
            # No report to keep: tear down now, whatever happened. After a load
            # that ended, teardown runs once the report is made (``after``).
            tracer.stop()
            await teardown(db)
            raise
        late.extend(tracer.stop().findings())

    config = ScenariosConfig(
        scenarios=source,
        weights={s.name: s.weight for s in selected},
        engine="make_engine" if scenarios.make_engine is not None else "dbprobe",
        threads=plan.workers,
        transactions=plan.transactions_per_worker,
        duration_s=plan.duration_s,
        warmup_s=plan.warmup_s,
        only=tuple(only),
        retries=retry.retries,
    )
    return await run_workload_probe(
        "run",
        options,
        config,
        _ScenarioBuild(source, tuple(only), alone),
        plan,
        retry,
        n_plus_one_threshold=n_plus_one_threshold,
        slos=slos,
        stop=stop,
        argv=argv,
        hooks=hooks,
        prepare=prepare,
        around=around,
        connect=connect,
        max_error_rate=max_error_rate,
        explain=explain,
        explain_min_rows=explain_min_rows,
        explain_analyze=explain_analyze,
        # Without a teardown there is nothing to write the report ahead of.
        after=teardown if scenarios.teardown is not None else None,
    )
