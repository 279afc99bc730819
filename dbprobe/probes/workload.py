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
from dataclasses import replace

from dbprobe.database.engine import Database
from dbprobe.database.url import Backend
from dbprobe.errors import ConfigError
from dbprobe.gate.slo import SloCheck, evaluate_slos
from dbprobe.instrument.explain import StatementSamples, explain_samples
from dbprobe.instrument.indexes import DEFAULT_MIN_ROWS
from dbprobe.instrument.server_share import StatementTime, server_ms_by_operation
from dbprobe.instrument.server_time import read_statement_times
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
from dbprobe.load.loops import running_loop_choice
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


async def _server_reading(db: Database, plan: LoadPlan) -> dict[int, StatementTime] | str | None:
    """pg_stat_statements before the run, or why the server's time cannot be split out.

    None on SQLite (no server). With several processes each has its own
    statements, and only this one's are known here: not split either.
    """
    if db.target.backend is not Backend.POSTGRESQL:
        return None
    if plan.processes > 1:
        return "the server's time is split out in one-process runs only (--processes 1)"
    return await read_statement_times(db.engine)


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
    after: Callable[[Database], Awaitable[list[Finding]]] | None = None,
    explain: bool = False,
    explain_min_rows: int = DEFAULT_MIN_ROWS,
    explain_analyze: bool = False,
) -> Report:
    """Connect, seed if needed, then run each phase (a set of operations) under ``plan``.

    A mixed workload (uow) is one phase of weighted operations; a catalogue
    (repo) is one phase per entry, so that each is measured on its own.
    ``prepare`` replaces the connect-and-seed step, ``around`` wraps the load
    (user scenarios' setup and teardown; it yields a list to add findings to),
    and ``connect`` is how each process connects when ``plan.processes > 1``
    (``build`` and ``connect`` must then pickle). More than ``max_error_rate``
    of the operations giving up is an ``error_rate`` finding. ``after`` runs
    once the report is made and handed to ``hooks.on_report`` (user scenarios'
    teardown): its findings are added, and a stop while it runs marks the run
    interrupted. ``explain`` explains each statement fingerprint once after
    the measured run (:mod:`dbprobe.instrument.explain`), keeps the plans in
    the report and adds the index findings they prove (tables of at least
    ``explain_min_rows`` rows); it needs one process, whose statements it sees.
    ``explain_analyze`` explains under ``EXPLAIN (ANALYZE, BUFFERS)`` on PostgreSQL.
    """
    if explain and plan.processes > 1:
        raise ConfigError(
            "--explain needs one process (--processes 1): it explains the statements "
            "this process captured"
        )
    samples = StatementSamples() if explain else None
    context = prepare() if prepare is not None else prepared_target(options, stop=stop, hooks=hooks)
    async with context as prepared:
        db = prepared.db
        server_before = await _server_reading(db, plan)
        if isinstance(server_before, dict) and samples is None:
            samples = StatementSamples()  # which statements each operation ran
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
                    samples=samples,
                )
            else:
                job = ProcessJob(
                    connect=connect or TargetConnector(options),
                    build=build,
                    plan=plan,
                    retry=retry,
                    seed=options.seed,
                    n_plus_one_threshold=n_plus_one_threshold,
                    loop=running_loop_choice(),
                )
                measured = await measure_in_processes(job, plan, stop=stop, hooks=hooks)
        # After the measured run, so that its timing is the run's alone; not after
        # an interrupt, which must end the run within seconds.
        explained = None
        if explain and samples is not None and not stop.is_set():
            explained = await explain_samples(
                db.engine, samples, min_rows=explain_min_rows, analyze=explain_analyze
            )
        # A catalogue ran its entries in a shuffled order: report them in its own.
        order = {op.name: i for i, op in enumerate(workload.operations)}
        ops = tuple(sorted(measured.operations, key=lambda op: order.get(op.name, len(order))))
        server_note = server_before if isinstance(server_before, str) else None
        if isinstance(server_before, dict) and samples is not None and not stop.is_set():
            after_run = await read_statement_times(db.engine)
            if isinstance(after_run, str):
                server_note = after_run
            else:
                server_ms = server_ms_by_operation(
                    server_before, after_run, samples.executions, samples.committed
                )
                ops = tuple(replace(op, server_ms=server_ms.get(op.name)) for op in ops)
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
        if explained is not None:
            findings += explained.findings
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
        report = assemble_report(
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
            plans=explained.plans if explained is not None else (),
            loop=measured.loop,
        )
        if server_note is not None:
            report = replace(report, target=replace(report.target, server_time_note=server_note))
        if after is None:
            return report
        # The measurement is kept before user code runs again: a teardown that
        # never returns once lost the whole report.
        if hooks.on_report is not None:
            hooks.on_report(report)
        more = await after(db)
        if stop.is_set():  # interrupted while tearing down: end now, as after a run
            report = replace(report, run=replace(report.run, interrupted=True))
        if more:
            report = replace(report, findings=(*report.findings, *more))
        return report
