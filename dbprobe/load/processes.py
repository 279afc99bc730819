"""Running one load plan in several processes, each with its own event loop and connections.

One Python process saturates a CPU core long before PostgreSQL runs out of
capacity: an event loop drives only so many operations a second, whatever
the database could take. With ``processes=P`` the plan runs in P worker
processes (``multiprocessing``, *spawn*: nothing is inherited but what is sent,
and the same happens on every platform). Each connects on its own, builds
its own operations, and runs :func:`~dbprobe.load.workers.run_workload` with
``workers`` workers, its share of the rate (``rate / P``; a uniform schedule
offset by ``i / P`` of a gap so arrivals interleave) and its own seed
(:func:`process_seed`), on the event loop its parent runs (``ProcessJob.loop``).
A barrier starts every phase in all processes at once, so their measured
windows coincide. Each sends back the report
objects of what it measured (encoded HdrHistograms, counts, findings, its
timeline), which :mod:`dbprobe.report.merge` combines exactly.

The parent sends Ctrl-C / SIGTERM on as an event (the children ignore
SIGINT themselves, so a terminal's Ctrl-C reaches them only through it) and
relays progress and timeline points for the live display.

What is sent to a child must pickle: the connector and the operation
builder are module-level dataclasses, never closures. A script that calls
the API with ``processes > 1`` needs the usual ``if __name__ == "__main__":``
guard, as with any spawned multiprocessing.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import pickle
import queue as queue_module
import signal
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Barrier, Event
from typing import Any

import psutil

from dbprobe.database.engine import Database
from dbprobe.errors import DbprobeError
from dbprobe.load.calibration import Calibrator
from dbprobe.load.health import GeneratorLoad
from dbprobe.load.loops import loop_factory, running_loop_kind
from dbprobe.load.phases import Workload
from dbprobe.load.plan import LoadPlan, RetryPolicy
from dbprobe.load.rate import ScheduleAccount, combine_schedule_accounts
from dbprobe.load.resources import ResourceSampler
from dbprobe.load.results import (
    operation_findings,
    operation_reports,
    results_generator,
    results_timeline,
)
from dbprobe.load.timeline import Timeline, TimelinePoint, combine_points
from dbprobe.load.workers import WorkloadResult, run_workload
from dbprobe.result.findings import Finding
from dbprobe.result.merge import join_consecutive, merge_findings
from dbprobe.result.model import CalibrationRound, OperationReport, Resources

__all__ = ["ProcessJob", "ProcessOutcome", "outcome_of", "process_seed", "run_processes"]

# How long a process may take to start (spawn, import, connect, build) or to
# finish a phase before the others stop waiting for it at the barrier.
_BARRIER_TIMEOUT_S = 120.0
_POLL_S = 0.05
_STOP_GRACE_S = 10.0
_MB = 1024 * 1024

Connector = Callable[[], Awaitable[Database]]
Builder = Callable[[Database], Awaitable[Workload]]


def process_seed(seed: int, index: int) -> int:
    """The load seed of process ``index``: process 0 keeps the run's seed."""
    return seed + 7919 * index


@dataclass(frozen=True)
class ProcessJob:
    """What every process runs (it must pickle: see the module docstring)."""

    connect: Connector
    build: Builder
    plan: LoadPlan  # the whole run's plan; each process runs plan.per_process()
    retry: RetryPolicy
    seed: int
    n_plus_one_threshold: int
    #: The loop every process runs (a choice of LOOP_CHOICES): the parent's, so
    #: that the parts measure what a single process would have.
    loop: str = "auto"


@dataclass(frozen=True)
class ProcessOutcome:
    """What one process measured, as report objects (exact to merge)."""

    index: int
    pid: int
    operations: tuple[OperationReport, ...]
    findings: tuple[Finding, ...]
    timeline: Timeline | None
    generator: GeneratorLoad
    resources: Resources
    measured_s: float
    measured_from_unix_s: float
    interrupted: bool
    calibration: tuple[CalibrationRound, ...] = ()
    schedule: ScheduleAccount | None = None  # a fixed-rate run: how it kept to its schedule
    loop: str | None = None  # the event loop it ran on


def outcome_of(
    results: Sequence[WorkloadResult],
    *,
    index: int,
    resources: Resources,
    fallback_start_unix_s: float,
    calibration: tuple[CalibrationRound, ...] = (),
) -> ProcessOutcome:
    """The outcome of consecutive runs in this process (called on its event loop)."""
    timeline = results_timeline(results)
    generator = results_generator(results)
    return ProcessOutcome(
        index=index,
        pid=os.getpid(),
        operations=join_consecutive(
            [(op, r.measured_s) for r in results for op in operation_reports(r)]
        ),
        # A catalogue's entry runs in every round: its tallies add up over them.
        findings=tuple(merge_findings([operation_findings(r) for r in results])),
        timeline=timeline,
        generator=generator,
        resources=Resources(
            resources.rss_mb_start,
            resources.rss_mb_peak,
            resources.cpu_percent,
            generator.loop_cpu_percent,
            1,
        ),
        measured_s=sum(r.measured_s for r in results),
        measured_from_unix_s=timeline.start_unix_s if timeline else fallback_start_unix_s,
        interrupted=any(r.interrupted for r in results),
        calibration=calibration,
        schedule=combine_schedule_accounts(
            [r.schedule for r in results if r.schedule is not None], parallel=False
        ),
        loop=running_loop_kind(),
    )


def rss_mb_sampler() -> Callable[[], float]:
    process = psutil.Process()

    def rss_mb() -> float:
        return float(process.memory_info().rss) / _MB

    return rss_mb


# --- in the child -------------------------------------------------------------------------


async def _watch(stop_event: Event, stop: asyncio.Event) -> None:
    # A multiprocessing Event has no awaitable wait, and one blocked in a
    # thread could not be cancelled: poll it.
    while not stop_event.is_set():  # noqa: ASYNC110
        await asyncio.sleep(_POLL_S)
    stop.set()


async def _child_run(
    job: ProcessJob, index: int, processes: int, barrier: Barrier, stop_event: Event, out: Any
) -> ProcessOutcome:
    plan = job.plan.per_process()
    db = await job.connect()
    stop = asyncio.Event()
    watcher = asyncio.create_task(_watch(stop_event, stop))
    results: list[WorkloadResult] = []
    started_unix_s = time.time()
    calibrator = await Calibrator.open(db)
    try:
        # The run's seed, not this process's: every process runs the same phases.
        phases = (await job.build(db)).phases(plan, job.seed)
        sampler = ResourceSampler()
        rss_mb = rss_mb_sampler()
        for number, phase in enumerate(phases):
            try:
                # Every process starts each phase together: their measured
                # windows coincide, so their throughputs add up.
                await asyncio.to_thread(barrier.wait, _BARRIER_TIMEOUT_S)
            except threading.BrokenBarrierError:
                break  # a sibling failed or the run was stopped
            if stop.is_set():
                break

            def progress(fraction: float, done: int, number: int = number) -> None:
                sampler.sample()
                out.put(("progress", index, (number + fraction) / len(phases), done))

            def tick(point: TimelinePoint) -> None:
                out.put(("tick", index, point))

            results.append(
                await run_workload(
                    db,
                    phase.operations,
                    phase.plan,
                    retry=job.retry,
                    seed=process_seed(job.seed, index),
                    stop=stop,
                    on_progress=progress,
                    on_tick=tick,
                    rss_mb=rss_mb,
                    n_plus_one_threshold=job.n_plus_one_threshold,
                    schedule_phase=index / processes,
                    calibrator=calibrator,
                    round_index=phase.round_index,
                )
            )
            if results[-1].interrupted:
                break
        return outcome_of(
            results,
            index=index,
            resources=sampler.finish(),
            fallback_start_unix_s=started_unix_s,
            calibration=tuple(calibrator.rounds),
        )
    finally:
        watcher.cancel()
        await calibrator.aclose()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(db.dispose(), 1.0)


def _child_main(
    job: ProcessJob, index: int, processes: int, barrier: Barrier, stop_event: Event, out: Any
) -> None:
    # Ctrl-C in a terminal reaches the whole process group; the parent decides
    # and tells us through stop_event, so that every part's report survives.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with asyncio.Runner(loop_factory=loop_factory(job.loop)) as runner:
            outcome = runner.run(_child_run(job, index, processes, barrier, stop_event, out))
    except BaseException as exc:
        with contextlib.suppress(Exception):
            barrier.abort()
        try:
            pickle.dumps(exc)
            sendable: BaseException | None = exc
        except Exception:
            sendable = None
        out.put(("failed", index, sendable, "".join(traceback.format_exception(exc))))
        return
    out.put(("done", index, outcome))


# --- in the parent ------------------------------------------------------------------------


class _TickMerger:
    """Live points of P processes: the k-th point of each, combined, once all P have sent it."""

    def __init__(self, processes: int, on_tick: Callable[[TimelinePoint], None] | None) -> None:
        self._pending: list[list[TimelinePoint]] = [[] for _ in range(processes)]
        self._on_tick = on_tick

    def add(self, index: int, point: TimelinePoint) -> None:
        self._pending[index].append(point)
        while all(self._pending):
            combined = combine_points([points.pop(0) for points in self._pending])
            if self._on_tick is not None:
                self._on_tick(combined)


async def run_processes(
    job: ProcessJob,
    processes: int,
    *,
    stop: asyncio.Event,
    on_progress: Callable[[float, int], None] | None = None,
    on_tick: Callable[[TimelinePoint], None] | None = None,
) -> list[ProcessOutcome]:
    """Run ``job`` in ``processes`` spawned processes; their outcomes in process order.

    A process that fails makes the others stop; its error is raised here (a
    DbprobeError as itself, anything else as RuntimeError with the child's
    traceback).
    """
    try:
        pickle.dumps(job)
    except Exception as exc:
        raise TypeError(
            f"processes > 1 needs a job that pickles (module-level classes, no closures): {exc}"
        ) from exc
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    stop_event = ctx.Event()
    barrier = ctx.Barrier(processes)
    children: list[SpawnProcess] = [
        ctx.Process(
            target=_child_main,
            args=(job, index, processes, barrier, stop_event, out),
            name=f"dbprobe-load-{index}",
            daemon=True,
        )
        for index in range(processes)
    ]
    for child in children:
        child.start()
    outcomes: dict[int, ProcessOutcome] = {}
    progress = [0.0] * processes
    done = [0] * processes
    ticks = _TickMerger(processes, on_tick)
    failure: tuple[int, BaseException | None, str] | None = None
    dead_since: dict[int, float] = {}
    loop = asyncio.get_running_loop()

    def handle(message: tuple[Any, ...]) -> None:
        nonlocal failure
        kind, index = message[0], message[1]
        if kind == "progress":
            progress[index], done[index] = message[2], message[3]
            if on_progress is not None:
                on_progress(sum(progress) / processes, sum(done))
        elif kind == "tick":
            ticks.add(index, message[2])
        elif kind == "done":
            outcomes[index] = message[2]
        elif kind == "failed" and failure is None:
            failure = (index, message[2], message[3])

    try:
        while len(outcomes) < processes and failure is None:
            if stop.is_set():
                stop_event.set()
            try:
                while True:
                    handle(out.get_nowait())
            except queue_module.Empty:
                pass
            for index, child in enumerate(children):
                if index in outcomes or child.exitcode is None:
                    continue
                # Its last message may still be in the pipe: give it a moment.
                first_seen = dead_since.setdefault(index, loop.time())
                if loop.time() - first_seen > 2.0 and failure is None:
                    failure = (index, None, f"exited with status {child.exitcode} and no result")
            await asyncio.sleep(_POLL_S)
    finally:
        if failure is not None or len(outcomes) < processes:
            stop_event.set()
            with contextlib.suppress(Exception):
                barrier.abort()
        deadline = loop.time() + _STOP_GRACE_S
        for child in children:
            # join() in a thread: the event loop keeps serving while they exit,
            # and draining the queue keeps a child from blocking on a full pipe.
            while child.is_alive() and loop.time() < deadline:
                with contextlib.suppress(queue_module.Empty):
                    while True:
                        handle(out.get_nowait())
                await asyncio.to_thread(child.join, _POLL_S)
            if child.is_alive():
                child.terminate()
                await asyncio.to_thread(child.join, 1.0)
        out.close()
    if failure is not None:
        index, error, text = failure
        if isinstance(error, DbprobeError):
            raise error
        raise RuntimeError(f"load process {index} failed:\n{text}")
    return [outcomes[i] for i in range(processes)]
