"""Running a probe end to end: connect, seed if needed, load, and build the report.

This is the I/O shell around the pure parts (options, runner bookkeeping,
report building); the CLI and the pytest plugin both call it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import inspect
import platform
import socket
import time
import traceback
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any, TypeVar

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from dbprobe.domain.models import Program, TrainingSession, User
from dbprobe.engine import Database, Isolation, PoolOptions, Target, open_database
from dbprobe.errors import UsageError
from dbprobe.generator import GeneratorLoad, combine_generator_loads, generator_findings
from dbprobe.instrument.nplusone import DEFAULT_THRESHOLD
from dbprobe.outages import service_interruptions
from dbprobe.probes import repo, uow
from dbprobe.processes import ProcessJob, outcome_of, rss_mb_sampler, run_processes
from dbprobe.report.load import LoadSection, ProcessPart, TimelineSection
from dbprobe.report.merge import merge_findings, merge_operation_reports, merge_resources
from dbprobe.report.model import (
    Finding,
    OperationReport,
    Report,
    Resources,
    RunInfo,
    Section,
    Severity,
    TargetInfo,
    ToolInfo,
)
from dbprobe.resources import ResourceSampler
from dbprobe.runner import (
    LATE_AFTER_MS,
    LoadPlan,
    Operation,
    RetryPolicy,
    WorkloadResult,
    run_workload,
)
from dbprobe.scenarios import ScenarioSet, load_scenarios
from dbprobe.seedgen import load_scale
from dbprobe.seeding import SeedResult, ensure_seeded
from dbprobe.slo import SloCheck, evaluate_slos
from dbprobe.timeline import Timeline, TimelinePoint, merge_timelines

__all__ = [
    "Interrupted",
    "ProbeHooks",
    "TargetOptions",
    "run_repo",
    "run_scenarios",
    "run_until_stopped",
    "run_uow",
]

_DISPOSE_GRACE_S = 1.0
T = TypeVar("T")


class Interrupted(Exception):
    """Raised when ``stop`` was set before any measurement began (e.g. while seeding)."""


@dataclass(frozen=True)
class TargetOptions:
    """Where to probe and on which data (validated where built)."""

    target: Target
    scale: str = "small"
    seed: int = 1
    isolation: Isolation | None = None
    pool: PoolOptions = field(default_factory=PoolOptions)


@dataclass(frozen=True)
class ProbeHooks:
    """Callbacks for the console: seeding progress, run start, run progress.

    ``on_tick`` receives each closed timeline interval (about once a second:
    throughput, p50/p99, errors, in-flight and, at a fixed rate, the target
    rate, lag, late and skipped operations) for a live line;
    :func:`dbprobe.report.console.format_live` formats one.
    """

    on_seed_progress: Callable[[int, int], None] | None = None
    on_run_start: Callable[[str], None] | None = None
    on_progress: Callable[[float, int], None] | None = None
    on_tick: Callable[[TimelinePoint], None] | None = None


async def run_until_stopped(awaitable: Awaitable[T], stop: asyncio.Event) -> T:
    """Await ``awaitable`` unless ``stop`` is set first, then cancel it and raise Interrupted."""
    task = asyncio.ensure_future(awaitable)
    stopper = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.wait_for(task, _DISPOSE_GRACE_S)
    raise Interrupted


async def _uow_world(db: Database, hot_set: int) -> uow.UowWorld:
    async with db.engine.connect() as conn:
        users = (await conn.execute(select(func.max(User.id)))).scalar_one() or 0
        programs = (await conn.execute(select(func.max(Program.id)))).scalar_one() or 0
        sessions = (await conn.execute(select(func.max(TrainingSession.id)))).scalar_one() or 0
        await conn.rollback()
    return uow.UowWorld(users=users, programs=programs, hot_sessions=max(1, min(hot_set, sessions)))


@dataclass(frozen=True)
class PreparedTarget:
    """A connected, seeded target, and what the report needs to say about it."""

    db: Database
    scale: str
    seed: int
    checksum: str
    started_at: dt.datetime
    started: float  # perf_counter() at the start of the whole run


@contextlib.asynccontextmanager
async def prepared_target(
    options: TargetOptions, *, stop: asyncio.Event, hooks: ProbeHooks
) -> AsyncIterator[PreparedTarget]:
    """Connect and seed if needed (interruptible), yield, and always dispose the engine."""
    started_at = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    scale = load_scale(options.scale)
    db = await open_database(options.target, options.pool, options.isolation)
    try:
        seeded: SeedResult = await run_until_stopped(
            ensure_seeded(db, scale, options.seed, on_progress=hooks.on_seed_progress), stop
        )
        yield PreparedTarget(db, scale.name, options.seed, seeded.checksum, started_at, started)
    finally:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(db.dispose(), _DISPOSE_GRACE_S)


def assemble_report(
    probe: str,
    prepared: PreparedTarget,
    *,
    config: Mapping[str, Any],
    operations: Sequence[OperationReport],
    findings: Sequence[Finding],
    resources: Resources,
    interrupted: bool,
    argv: Sequence[str],
    sections: Sequence[Section] = (),
) -> Report:
    """The report of a run: the header every probe shares, and the probe's own results."""
    db = prepared.db
    return Report(
        tool=ToolInfo("dbprobe", version("dbprobe")),
        run=RunInfo(
            probe=probe,
            started_at=prepared.started_at,
            duration_s=time.perf_counter() - prepared.started,
            argv=tuple(argv),
            host=socket.gethostname(),
            python=platform.python_version(),
            interrupted=interrupted,
        ),
        target=TargetInfo(
            backend=db.backend.value,
            url=db.target.masked,
            server_version=db.server_version,
            scale=prepared.scale,
            seed=prepared.seed,
            isolation=db.isolation.value,
        ),
        config=dict(config) | {"seed_checksum": prepared.checksum},
        operations=tuple(operations),
        findings=tuple(findings),
        resources=resources,
        sections=tuple(sections),
    )


@dataclass(frozen=True)
class _Measured:
    """What the load phase produced, in one process or merged from several."""

    operations: tuple[OperationReport, ...]
    findings: tuple[Finding, ...]
    timeline: Timeline | None
    generator: GeneratorLoad
    resources: Resources
    measured_s: float
    measured_from_unix_s: float
    interrupted: bool
    parts: tuple[ProcessPart, ...] = ()


@dataclass(frozen=True)
class _TargetConnector:
    """Connects a load process to the target as the parent did (module-level: it pickles)."""

    options: TargetOptions

    async def __call__(self) -> Database:
        o = self.options
        return await open_database(o.target, o.pool, o.isolation)


async def _measure_here(
    db: Database,
    phases: Sequence[Sequence[Operation]],
    plan: LoadPlan,
    retry: RetryPolicy,
    *,
    seed: int,
    n_plus_one_threshold: int,
    stop: asyncio.Event,
    hooks: ProbeHooks,
) -> _Measured:
    results: list[WorkloadResult] = []
    sampler = ResourceSampler()
    rss_mb = rss_mb_sampler()
    started_unix_s = time.time()
    for number, operations in enumerate(phases):

        def progress(fraction: float, done: int, number: int = number) -> None:
            sampler.sample()
            if hooks.on_progress is not None:
                hooks.on_progress((number + fraction) / len(phases), done)

        results.append(
            await run_workload(
                db,
                operations,
                plan,
                retry=retry,
                seed=seed,
                stop=stop,
                on_progress=progress,
                n_plus_one_threshold=n_plus_one_threshold,
                on_tick=hooks.on_tick,
                rss_mb=rss_mb,
            )
        )
        if results[-1].interrupted:
            break
    outcome = outcome_of(
        results, index=0, resources=sampler.finish(), fallback_start_unix_s=started_unix_s
    )
    return _Measured(
        operations=outcome.operations,
        findings=outcome.findings,
        timeline=outcome.timeline,
        generator=outcome.generator,
        resources=outcome.resources,
        measured_s=outcome.measured_s,
        measured_from_unix_s=outcome.measured_from_unix_s,
        interrupted=outcome.interrupted,
    )


async def _measure_in_processes(
    job: ProcessJob, plan: LoadPlan, *, stop: asyncio.Event, hooks: ProbeHooks
) -> _Measured:
    outcomes = await run_processes(
        job, plan.processes, stop=stop, on_progress=hooks.on_progress, on_tick=hooks.on_tick
    )
    parts = tuple(
        ProcessPart(
            index=o.index,
            pid=o.pid,
            measured_from_unix_s=o.measured_from_unix_s,
            measured_s=o.measured_s,
            loop_cpu_percent=o.generator.loop_cpu_percent,
            operations={
                op.name: {
                    "count": op.count,
                    "commits": op.commits,
                    "errors": op.errors,
                    "latency_count": op.latency_ms.count,
                }
                for op in o.operations
            },
        )
        for o in outcomes
    )
    starts = [o.measured_from_unix_s for o in outcomes]
    ends = [o.measured_from_unix_s + o.measured_s for o in outcomes]
    return _Measured(
        operations=merge_operation_reports([o.operations for o in outcomes]),
        findings=tuple(merge_findings([o.findings for o in outcomes])),
        timeline=merge_timelines([o.timeline for o in outcomes if o.timeline is not None]),
        generator=combine_generator_loads([o.generator for o in outcomes], parallel=True),
        resources=merge_resources([o.resources for o in outcomes]),
        measured_s=max(ends) - min(starts),
        measured_from_unix_s=min(starts),
        interrupted=any(o.interrupted for o in outcomes),
        parts=parts,
    )


@contextlib.asynccontextmanager
async def _nothing_around(db: Database) -> AsyncIterator[list[Finding]]:
    yield []


async def _probe(
    probe: str,
    options: TargetOptions,
    config: dict[str, Any],
    build: Callable[[Database], Awaitable[Sequence[Sequence[Operation]]]],
    plan: LoadPlan,
    retry: RetryPolicy,
    *,
    n_plus_one_threshold: int,
    slos: Sequence[SloCheck],
    stop: asyncio.Event,
    argv: Sequence[str],
    hooks: ProbeHooks,
    prepare: Callable[[], contextlib.AbstractAsyncContextManager[PreparedTarget]] | None = None,
    around: Callable[[Database], contextlib.AbstractAsyncContextManager[list[Finding]]]
    | None = None,
    connect: Callable[[], Awaitable[Database]] | None = None,
) -> Report:
    """Connect, seed if needed, then run each phase (a set of operations) under ``plan``.

    A mixed workload (uow) is one phase of weighted operations; a catalogue
    (repo) is one phase per entry, so that each is measured on its own.
    ``prepare`` replaces the connect-and-seed step, ``around`` wraps the load
    (user scenarios' setup and teardown; it yields a list to add findings to),
    and ``connect`` is how each process connects when ``plan.processes > 1``
    (``build`` and ``connect`` must then pickle).
    """
    context = prepare() if prepare is not None else prepared_target(options, stop=stop, hooks=hooks)
    async with context as prepared:
        db = prepared.db
        async with (around or _nothing_around)(db) as late_findings:
            phases = await run_until_stopped(build(db), stop)
            if hooks.on_run_start is not None:
                what = f"{probe} on {db.target.masked} ({db.server_version})"
                if plan.processes > 1:
                    what += f" in {plan.processes} processes"
                hooks.on_run_start(what)
            if plan.processes == 1:
                measured = await _measure_here(
                    db,
                    phases,
                    plan,
                    retry,
                    seed=options.seed,
                    n_plus_one_threshold=n_plus_one_threshold,
                    stop=stop,
                    hooks=hooks,
                )
            else:
                job = ProcessJob(
                    connect=connect or _TargetConnector(options),
                    build=build,
                    plan=plan,
                    retry=retry,
                    seed=options.seed,
                    n_plus_one_threshold=n_plus_one_threshold,
                )
                measured = await _measure_in_processes(job, plan, stop=stop, hooks=hooks)
    ops = measured.operations
    findings: list[Finding] = evaluate_slos(slos, ops)
    findings += measured.findings
    findings += generator_findings(measured.generator)
    findings += late_findings
    if measured.timeline is not None:
        findings += service_interruptions(measured.timeline.points, ops)
    sections: list[Section] = []
    if measured.timeline is not None:
        sections.append(TimelineSection(measured.timeline, show=plan.open_loop))
    sections.append(
        LoadSection(
            plan=plan.describe(),
            measured_from_unix_s=measured.measured_from_unix_s,
            measured_s=measured.measured_s,
            generator=measured.generator,
            late_after_ms=LATE_AFTER_MS,
            parts=measured.parts,
        )
    )
    extra_config = plan.describe() if plan.open_loop or plan.processes > 1 else {}
    return assemble_report(
        probe,
        prepared,
        config=config
        | {"pool_size": options.pool.size, "n_plus_one_threshold": n_plus_one_threshold}
        | extra_config,
        operations=ops,
        findings=findings,
        resources=measured.resources,
        interrupted=measured.interrupted,
        argv=argv,
        sections=sections,
    )


@dataclass(frozen=True)
class _UowBuild:
    """The uow probe's operations (module-level: it pickles, for processes > 1)."""

    probe_options: uow.UowOptions

    async def __call__(self, db: Database) -> Sequence[Sequence[Operation]]:
        world = await _uow_world(db, self.probe_options.hot_set)
        return [uow.build_operations(self.probe_options, world)]


async def run_uow(
    options: TargetOptions,
    probe_options: uow.UowOptions,
    *,
    slos: Sequence[SloCheck] = (),
    stop: asyncio.Event | None = None,
    argv: Sequence[str] = (),
    hooks: ProbeHooks | None = None,
    n_plus_one_threshold: int = DEFAULT_THRESHOLD,
) -> Report:
    """Run the uow probe against ``options.target``; seeds first if needed."""
    return await _probe(
        "uow",
        options,
        probe_options.as_config(),
        _UowBuild(probe_options),
        probe_options.plan,
        probe_options.retry,
        n_plus_one_threshold=n_plus_one_threshold,
        slos=slos,
        stop=stop or asyncio.Event(),
        argv=argv,
        hooks=hooks or ProbeHooks(),
    )


@dataclass(frozen=True)
class _RepoBuild:
    """The repo catalogue's phases (module-level: it pickles, for processes > 1)."""

    only: tuple[str, ...]

    async def __call__(self, db: Database) -> Sequence[Sequence[Operation]]:
        entries = repo.select_entries(repo.catalogue(await repo.repo_world(db)), self.only)
        return [[Operation(entry.name, 1, entry.run)] for entry in entries]


async def run_repo(
    options: TargetOptions,
    plan: LoadPlan,
    *,
    only: Sequence[str] = (),
    retry: RetryPolicy | None = None,
    slos: Sequence[SloCheck] = (),
    stop: asyncio.Event | None = None,
    argv: Sequence[str] = (),
    hooks: ProbeHooks | None = None,
    n_plus_one_threshold: int = DEFAULT_THRESHOLD,
) -> Report:
    """Run the repo probe: each catalogue entry (or those in ``only``) measured on its own."""
    retry = retry or RetryPolicy()
    config = {
        "threads": plan.workers,
        "transactions": plan.transactions_per_worker,
        "duration_s": plan.duration_s,
        "warmup_s": plan.warmup_s,
        "only": list(only),
        "retries": retry.retries,
    }
    return await _probe(
        "repo",
        options,
        config,
        _RepoBuild(tuple(only)),
        plan,
        retry,
        n_plus_one_threshold=n_plus_one_threshold,
        slos=slos,
        stop=stop or asyncio.Event(),
        argv=argv,
        hooks=hooks or ProbeHooks(),
    )


# --- user scenarios -----------------------------------------------------------------------


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

    async def __call__(self, db: Database) -> Sequence[Sequence[Operation]]:
        return [load_scenarios(self.source).operations(self.only)]


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
                await asyncio.wait_for(db.dispose(), _DISPOSE_GRACE_S)

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
                            kind="teardown_failed",
                            severity=Severity.ERROR,
                            operation=None,
                            message=_hook_failure("teardown", source, exc),
                        )
                    )

    config = {
        "scenarios": source,
        "weights": {s.name: s.weight for s in selected},
        "engine": "make_engine" if scenarios.make_engine is not None else "dbprobe",
        "threads": plan.workers,
        "transactions": plan.transactions_per_worker,
        "duration_s": plan.duration_s,
        "warmup_s": plan.warmup_s,
        "only": list(only),
        "retries": retry.retries,
    }
    return await _probe(
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
    )
