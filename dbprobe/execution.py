"""Running a probe end to end: connect, seed if needed, load, and build the report.

This is the I/O shell around the pure parts (options, runner bookkeeping,
report building); the CLI and the pytest plugin both call it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import platform
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any, TypeVar

from sqlalchemy import func, select

from dbprobe.domain.models import Program, TrainingSession, User
from dbprobe.engine import Database, Isolation, PoolOptions, Target, open_database
from dbprobe.instrument.nplusone import DEFAULT_THRESHOLD
from dbprobe.probes import repo, uow
from dbprobe.report.build import operation_findings, operation_reports
from dbprobe.report.model import (
    Finding,
    OperationReport,
    Report,
    Resources,
    RunInfo,
    Section,
    TargetInfo,
    ToolInfo,
)
from dbprobe.resources import ResourceSampler
from dbprobe.runner import LoadPlan, Operation, RetryPolicy, WorkloadResult, run_workload
from dbprobe.seedgen import load_scale
from dbprobe.seeding import SeedResult, ensure_seeded
from dbprobe.slo import SloCheck, evaluate_slos

__all__ = ["Interrupted", "ProbeHooks", "TargetOptions", "run_until_stopped", "run_uow"]

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
    """Callbacks for the console: seeding progress, run start, run progress."""

    on_seed_progress: Callable[[int, int], None] | None = None
    on_run_start: Callable[[str], None] | None = None
    on_progress: Callable[[float, int], None] | None = None


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
) -> Report:
    """Connect, seed if needed, then run each phase (a set of operations) under ``plan``.

    A mixed workload (uow) is one phase of weighted operations; a catalogue
    (repo) is one phase per entry, so that each is measured on its own.
    """
    results: list[WorkloadResult] = []
    async with prepared_target(options, stop=stop, hooks=hooks) as prepared:
        db = prepared.db
        phases = await run_until_stopped(build(db), stop)
        sampler = ResourceSampler()
        if hooks.on_run_start is not None:
            hooks.on_run_start(f"{probe} on {db.target.masked} ({db.server_version})")
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
                    seed=options.seed,
                    stop=stop,
                    on_progress=progress,
                    n_plus_one_threshold=n_plus_one_threshold,
                )
            )
            if results[-1].interrupted:
                break
    ops = tuple(op for r in results for op in operation_reports(r))
    findings: list[Finding] = evaluate_slos(slos, ops)
    findings += [f for r in results for f in operation_findings(r)]
    return assemble_report(
        probe,
        prepared,
        config=config
        | {"pool_size": options.pool.size, "n_plus_one_threshold": n_plus_one_threshold},
        operations=ops,
        findings=findings,
        resources=sampler.finish(),
        interrupted=any(r.interrupted for r in results),
        argv=argv,
    )


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

    async def build(db: Database) -> Sequence[Sequence[Operation]]:
        world = await _uow_world(db, probe_options.hot_set)
        return [uow.build_operations(probe_options, world)]

    return await _probe(
        "uow",
        options,
        probe_options.as_config(),
        build,
        probe_options.plan,
        probe_options.retry,
        n_plus_one_threshold=n_plus_one_threshold,
        slos=slos,
        stop=stop or asyncio.Event(),
        argv=argv,
        hooks=hooks or ProbeHooks(),
    )


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

    async def build(db: Database) -> Sequence[Sequence[Operation]]:
        entries = repo.select_entries(repo.catalogue(await repo.repo_world(db)), only)
        return [[Operation(entry.name, 1, entry.run)] for entry in entries]

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
        build,
        plan,
        retry,
        n_plus_one_threshold=n_plus_one_threshold,
        slos=slos,
        stop=stop or asyncio.Event(),
        argv=argv,
        hooks=hooks or ProbeHooks(),
    )
