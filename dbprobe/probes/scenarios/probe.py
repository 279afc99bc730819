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
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from dbprobe.database.engine import Database, Isolation, open_database
from dbprobe.database.url import Target
from dbprobe.errors import Interrupted, UsageError
from dbprobe.gate.slo import SloCheck
from dbprobe.instrument.nplusone import DEFAULT_THRESHOLD
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
from dbprobe.probes.scenarios.declare import ScenarioSet, load_scenarios
from dbprobe.probes.workload import run_workload_probe
from dbprobe.result.config import ScenariosConfig
from dbprobe.result.findings import Finding, FindingKind, Severity
from dbprobe.result.model import Report

__all__ = ["run_scenarios"]


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
        except Exception as exc:
            raise UsageError(
                f"make_engine() in {self.source} failed: {type(exc).__name__}: {exc}"
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


@dataclass(frozen=True)
class _ScenarioBuild:
    """The scenarios' operations, loaded from their file in whichever process runs them."""

    source: str
    only: tuple[str, ...]

    async def __call__(self, db: Database) -> Workload:
        return Workload(tuple(load_scenarios(self.source).operations(self.only)))


def _hook_failure(what: str, source: str, exc: BaseException) -> str:
    frames = list(traceback.extract_tb(exc.__traceback__))
    at = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return f"{what}() in {source} failed{at}: {type(exc).__name__}: {exc}"


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
) -> Report:
    """Run the scenarios of a user's file or module (see :mod:`dbprobe.scenarios`) under ``plan``.

    The engine is dbprobe's for ``options.target`` unless the file defines
    ``make_engine(url)``; the reference domain is seeded (``options.scale``,
    ``options.seed``) only if the file sets ``REFERENCE_DOMAIN = True``;
    ``setup(engine)`` runs before the load and ``teardown(engine)`` after it,
    whatever happened (a failing teardown is an error finding, the report is
    kept). Same plan, retries, N+1 detection (located in the user's code),
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
        scale, checksum = "none", ""
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

    @contextlib.asynccontextmanager
    async def around(db: Database) -> AsyncIterator[list[Finding]]:
        late: list[Finding] = []
        if scenarios.setup is not None:
            try:
                await run_until_stopped(scenarios.setup(db.engine), stop)
            except (Interrupted, asyncio.CancelledError):
                raise
            except Exception as exc:
                raise UsageError(_hook_failure("setup", source, exc)) from None
        try:
            yield late
        finally:
            if scenarios.teardown is not None:
                try:
                    await scenarios.teardown(db.engine)
                except Exception as exc:
                    late.append(
                        Finding(
                            kind=FindingKind.TEARDOWN_FAILED,
                            severity=Severity.ERROR,
                            operation=None,
                            message=_hook_failure("teardown", source, exc),
                        )
                    )

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
        _ScenarioBuild(source, tuple(only)),
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
    )
