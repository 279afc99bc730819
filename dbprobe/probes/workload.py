"""The probes made of weighted operations under a load plan: uow, repo and user scenarios.

They share one skeleton, :func:`run_workload_probe`: connect and seed, build
the operations, measure them (in one process or several), then the findings
every workload reports (SLOs, N+1s, a saturated generator, a rate not met,
service interruptions, too many errors) and the ``timeline`` and ``load``
sections. Each probe module supplies only what is its own: its operations and
its config.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from dbprobe.database.engine import Database
from dbprobe.gate.slo import SloCheck, evaluate_slos
from dbprobe.load.failures import DEFAULT_MAX_ERROR_RATE, error_rate_findings
from dbprobe.load.harness import (
    PreparedTarget,
    ProbeHooks,
    TargetConnector,
    TargetOptions,
    assemble_report,
    measure_here,
    measure_in_processes,
    prepared_target,
    run_until_stopped,
)
from dbprobe.load.health import generator_findings
from dbprobe.load.outages import service_interruptions
from dbprobe.load.phases import Workload
from dbprobe.load.plan import LoadPlan, RetryPolicy
from dbprobe.load.processes import ProcessJob
from dbprobe.load.rate import rate_findings
from dbprobe.load.sections import LoadSection, TimelineSection
from dbprobe.load.workers import LATE_AFTER_MS
from dbprobe.result.config import ProbeConfig, RunConfig
from dbprobe.result.findings import Finding
from dbprobe.result.model import Report, Section

__all__ = ["run_workload_probe"]


@contextlib.asynccontextmanager
async def _nothing_around(db: Database) -> AsyncIterator[list[Finding]]:
    yield []


async def run_workload_probe(
    probe: str,
    options: TargetOptions,
    config: ProbeConfig,
    build: Callable[[Database], Awaitable[Workload]],
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
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE,
) -> Report:
    """Connect, seed if needed, then run each phase (a set of operations) under ``plan``.

    A mixed workload (uow) is one phase of weighted operations; a catalogue
    (repo) is one phase per entry, so that each is measured on its own.
    ``prepare`` replaces the connect-and-seed step, ``around`` wraps the load
    (user scenarios' setup and teardown; it yields a list to add findings to),
    and ``connect`` is how each process connects when ``plan.processes > 1``
    (``build`` and ``connect`` must then pickle). More than ``max_error_rate``
    of the operations giving up is an ``error_rate`` finding.
    """
    context = prepare() if prepare is not None else prepared_target(options, stop=stop, hooks=hooks)
    async with context as prepared:
        db = prepared.db
        async with (around or _nothing_around)(db) as late_findings:
            workload = await run_until_stopped(build(db), stop)
            if hooks.on_run_start is not None:
                what = f"{probe} on {db.target.masked} ({db.server_version})"
                if plan.processes > 1:
                    what += f" in {plan.processes} processes"
                hooks.on_run_start(what)
            if plan.processes == 1:
                measured = await measure_here(
                    db,
                    workload,
                    plan,
                    retry,
                    seed=options.seed,
                    n_plus_one_threshold=n_plus_one_threshold,
                    stop=stop,
                    hooks=hooks,
                )
            else:
                job = ProcessJob(
                    connect=connect or TargetConnector(options),
                    build=build,
                    plan=plan,
                    retry=retry,
                    seed=options.seed,
                    n_plus_one_threshold=n_plus_one_threshold,
                )
                measured = await measure_in_processes(job, plan, stop=stop, hooks=hooks)
    # A catalogue ran its entries in a shuffled order: report them in its own.
    order = {op.name: i for i, op in enumerate(workload.operations)}
    ops = tuple(sorted(measured.operations, key=lambda op: order.get(op.name, len(order))))
    findings: list[Finding] = error_rate_findings(ops, max_error_rate)
    findings += evaluate_slos(slos, ops)
    findings += measured.findings
    findings += generator_findings(measured.generator)
    if plan.rate_per_s is not None:
        findings += rate_findings(
            measured.schedule,
            measured.generator,
            rate_per_s=plan.rate_per_s,
            workers=plan.workers * plan.processes,
        )
    findings += late_findings
    if measured.timeline is not None:
        findings += service_interruptions(measured.timeline.points, ops)
    sections: list[Section] = []
    if measured.timeline is not None:
        sections.append(TimelineSection(measured.timeline))
    sections.append(
        LoadSection(
            plan=plan.shape(),
            measured_from_unix_s=measured.measured_from_unix_s,
            measured_s=measured.measured_s,
            generator=measured.generator,
            late_after_ms=LATE_AFTER_MS,
            parts=measured.parts,
        )
    )
    return assemble_report(
        probe,
        prepared,
        config=RunConfig(
            config,
            pool_size=options.pool.size,
            n_plus_one_threshold=n_plus_one_threshold,
            load=plan.shape() if plan.open_loop or plan.processes > 1 else None,
            rounds=plan.rounds,
            max_error_rate=max_error_rate,
        ),
        operations=ops,
        findings=findings,
        resources=measured.resources,
        interrupted=measured.interrupted,
        argv=argv,
        sections=sections,
        calibration=measured.calibration,
    )
