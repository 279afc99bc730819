"""The probe harness: what every probe does around its load, and the load measured.

Connect and seed (interruptibly), run the operations in this process or in
several (:func:`measure`), and put the header every report shares on the
probe's results (:func:`assemble_report`). The I/O shell around the pure
parts; each probe's ``run_<probe>`` in :mod:`dbprobe.probes` calls it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import platform
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from importlib.metadata import version
from types import EllipsisType
from typing import TypeVar

from dbprobe.data.scales import load_scale
from dbprobe.data.seeding import SeedResult, ensure_seeded
from dbprobe.database.engine import Database, Isolation, PoolOptions, open_database
from dbprobe.database.url import Target
from dbprobe.errors import Interrupted
from dbprobe.instrument.explain import StatementSamples
from dbprobe.load.calibration import Calibrator
from dbprobe.load.health import GeneratorLoad, combine_generator_loads
from dbprobe.load.loops import running_loop_kind
from dbprobe.load.phases import Workload
from dbprobe.load.plan import LoadPlan, RetryPolicy
from dbprobe.load.processes import ProcessJob, outcome_of, rss_mb_sampler, run_processes
from dbprobe.load.rate import ScheduleAccount, combine_schedule_accounts
from dbprobe.load.resources import ResourceSampler
from dbprobe.load.sections import ProcessPart
from dbprobe.load.timeline import Timeline, TimelinePoint, merge_timelines
from dbprobe.load.workers import WorkloadResult, run_workload
from dbprobe.result.config import RunConfig
from dbprobe.result.findings import Finding
from dbprobe.result.merge import (
    merge_findings,
    merge_loops,
    merge_operation_reports,
    merge_resources,
)
from dbprobe.result.model import (
    CalibrationRound,
    OperationReport,
    Report,
    Resources,
    RunInfo,
    Section,
    TargetInfo,
    ToolInfo,
)
from dbprobe.result.plans import StatementPlan

__all__ = [
    "DISPOSE_GRACE_S",
    "Measured",
    "PreparedTarget",
    "ProbeHooks",
    "TargetConnector",
    "TargetOptions",
    "assemble_report",
    "measure_here",
    "measure_in_processes",
    "prepared_target",
    "run_until_stopped",
]

#: How long disposing an engine may take before a run stops waiting for it.
DISPOSE_GRACE_S = 1.0
T = TypeVar("T")


@dataclass(frozen=True)
class TargetOptions:
    """Where to probe and on which data (validated where built)."""

    target: Target
    #: None: the probe brings its own table and reads no seeded data (isolation).
    scale: str | None = "small"
    seed: int = 1
    isolation: Isolation | None = None
    pool: PoolOptions = field(default_factory=PoolOptions)
    #: Add dbprobe's tables to a database that holds tables of its own (--force).
    force: bool = False


@dataclass(frozen=True)
class ProbeHooks:
    """Callbacks for the console: seeding progress, run start, run progress.

    ``on_tick`` receives each closed timeline interval (about once a second:
    throughput, p50/p99, errors, in-flight and, at a fixed rate, the target
    rate, lag, late and skipped operations) for a live line;
    :func:`dbprobe.report.console.format_live` formats one. ``on_report``
    receives the report before user code runs again after the load (a
    scenario file's teardown), so that it can be written first.
    """

    on_seed_progress: Callable[[int, int], None] | None = None
    on_run_start: Callable[[str], None] | None = None
    on_progress: Callable[[float, int], None] | None = None
    on_tick: Callable[[TimelinePoint], None] | None = None
    on_report: Callable[[Report], None] | None = None


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
        await asyncio.wait_for(task, DISPOSE_GRACE_S)
    raise Interrupted


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
    """Connect and seed if needed (interruptible), yield, and always dispose the engine.

    Without a scale nothing is seeded: the report says scale ``none``.
    """
    started_at = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    scale = load_scale(options.scale) if options.scale is not None else None
    db = await open_database(options.target, options.pool, options.isolation)
    try:
        if scale is None:
            yield PreparedTarget(db, "none", options.seed, "", started_at, started)
            return
        seeded: SeedResult = await run_until_stopped(
            ensure_seeded(
                db, scale, options.seed, on_progress=hooks.on_seed_progress, force=options.force
            ),
            stop,
        )
        yield PreparedTarget(db, scale.name, options.seed, seeded.checksum, started_at, started)
    finally:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(db.dispose(), DISPOSE_GRACE_S)


def assemble_report(
    probe: str,
    prepared: PreparedTarget,
    *,
    config: RunConfig,
    operations: Sequence[OperationReport],
    findings: Sequence[Finding],
    resources: Resources,
    interrupted: bool,
    argv: Sequence[str],
    sections: Sequence[Section] = (),
    calibration: Sequence[CalibrationRound] = (),
    plans: Sequence[StatementPlan] = (),
    loop: str | EllipsisType | None = ...,
) -> Report:
    """The report of a run: the header every probe shares, and the probe's own results.

    ``loop`` is the event loop the load ran on, when it ran in other processes
    (:attr:`Measured.loop`: None when they ran different ones); not given, the
    one running here.
    """
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
            loop=running_loop_kind() if loop is ... else loop,
        ),
        target=TargetInfo(
            backend=db.backend.value,
            url=db.target.masked,
            server_version=db.server_version,
            scale=prepared.scale,
            seed=prepared.seed,
            isolation=db.isolation.value,
        ),
        config=replace(config, seed_checksum=prepared.checksum),
        operations=tuple(operations),
        findings=tuple(findings),
        resources=resources,
        sections=tuple(sections),
        calibration=tuple(calibration),
        plans=tuple(plans),
    )


@dataclass(frozen=True)
class Measured:
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
    calibration: tuple[CalibrationRound, ...] = ()
    schedule: ScheduleAccount | None = None  # a fixed-rate run: how it kept to its schedule
    loop: str | None = None  # the event loop the load ran on (None: processes differed)


@dataclass(frozen=True)
class TargetConnector:
    """Connects a load process to the target as the parent did (module-level: it pickles)."""

    options: TargetOptions

    async def __call__(self) -> Database:
        o = self.options
        return await open_database(o.target, o.pool, o.isolation)


async def measure_here(
    db: Database,
    workload: Workload,
    plan: LoadPlan,
    retry: RetryPolicy,
    *,
    seed: int,
    n_plus_one_threshold: int,
    stop: asyncio.Event,
    hooks: ProbeHooks,
    samples: StatementSamples | None = None,
) -> Measured:
    """Run ``workload`` in this process: its phases one after another, the machine's
    reference measured in every round; ``samples`` keeps a statement of each
    fingerprint for ``--explain``."""
    results: list[WorkloadResult] = []
    sampler = ResourceSampler()
    rss_mb = rss_mb_sampler()
    started_unix_s = time.time()
    phases = workload.phases(plan, seed)
    calibrator = await Calibrator.open(db)
    # The measurement starts from a collected heap: garbage left by whatever
    # ran before (an earlier run in this process, a test suite) would
    # otherwise be collected inside this run's operations and slow them.
    gc.collect()
    try:
        for number, phase in enumerate(phases):

            def progress(fraction: float, done: int, number: int = number) -> None:
                sampler.sample()
                if hooks.on_progress is not None:
                    hooks.on_progress((number + fraction) / len(phases), done)

            results.append(
                await run_workload(
                    db,
                    phase.operations,
                    phase.plan,
                    retry=retry,
                    seed=seed,
                    stop=stop,
                    on_progress=progress,
                    n_plus_one_threshold=n_plus_one_threshold,
                    on_tick=hooks.on_tick,
                    rss_mb=rss_mb,
                    calibrator=calibrator,
                    round_index=phase.round_index,
                    samples=samples,
                )
            )
            if results[-1].interrupted:
                break
    finally:
        await calibrator.aclose()
    outcome = outcome_of(
        results,
        index=0,
        resources=sampler.finish(),
        fallback_start_unix_s=started_unix_s,
        calibration=tuple(calibrator.rounds),
    )
    return Measured(
        operations=outcome.operations,
        findings=outcome.findings,
        timeline=outcome.timeline,
        generator=outcome.generator,
        resources=outcome.resources,
        measured_s=outcome.measured_s,
        measured_from_unix_s=outcome.measured_from_unix_s,
        interrupted=outcome.interrupted,
        calibration=outcome.calibration,
        schedule=outcome.schedule,
        loop=outcome.loop,
    )


async def measure_in_processes(
    job: ProcessJob, plan: LoadPlan, *, stop: asyncio.Event, hooks: ProbeHooks
) -> Measured:
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
            loop=o.loop,
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
    return Measured(
        operations=merge_operation_reports([o.operations for o in outcomes]),
        findings=tuple(merge_findings([o.findings for o in outcomes])),
        timeline=merge_timelines([o.timeline for o in outcomes if o.timeline is not None]),
        generator=combine_generator_loads([o.generator for o in outcomes], parallel=True),
        resources=merge_resources([o.resources for o in outcomes]),
        measured_s=max(ends) - min(starts),
        measured_from_unix_s=min(starts),
        interrupted=any(o.interrupted for o in outcomes),
        parts=parts,
        calibration=tuple(c for o in outcomes for c in o.calibration),
        schedule=combine_schedule_accounts(
            [o.schedule for o in outcomes if o.schedule is not None], parallel=True
        ),
        loop=merge_loops(o.loop for o in outcomes),
    )
