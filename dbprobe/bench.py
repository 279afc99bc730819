"""Timing a coroutine inside the running event loop: the engine of ``dbprobe_bench``.

pytest-benchmark cannot time a coroutine, so suites wrap each call in
``asyncio.run()`` and measure event-loop start-up instead of their query. Here
each round is awaited in the caller's own loop and timed around the ``await``
alone; the statements each round issues are recorded and checked for N+1
patterns like any probe operation.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from dbprobe.errors import ConfigError
from dbprobe.instrument.nplusone import (
    DEFAULT_THRESHOLD,
    FindingTally,
    find_n_plus_one,
    find_unused_eager_loads,
)
from dbprobe.instrument.statements import count_statements
from dbprobe.load.calibration import RunQueueWait, WaitTally, cpu_loop_ms
from dbprobe.load.loops import running_loop_kind
from dbprobe.metrics import LatencyHistogram, LatencySummary
from dbprobe.metrics.sparse import SparseHistogram
from dbprobe.result.findings import Finding
from dbprobe.result.model import RoundFigures

__all__ = ["BenchStats", "bench"]

# Consecutive groups a benchmark's rounds are cut into for the regression gate.
_GATE_SAMPLES = 10


@dataclass(frozen=True)
class BenchStats:
    """The result of one benchmark: latency percentiles, statements per call, findings.

    Attributes:
        name: what was timed (the test's node id in the pytest plugin).
        rounds, warmup, concurrency: as asked for.
        latency: percentiles of the timed rounds, in ms.
        statements_mean, statements_max: SQL statements per call.
        findings: N+1 and unused-eager-load findings over all rounds.
        histogram: the encoded HdrHistogram of the rounds (microseconds).
        timed: False when timing was disabled (``--dbprobe-disable``): one plain call.
        samples: the rounds cut into consecutive groups, each with the machine's
            reference measured before it: the regression gate's samples
            (:mod:`dbprobe.gate.compare`).
        iqr_ms: the interquartile range (p75 - p25) of the timed rounds, as
            pytest-benchmark reports it beside the standard deviation.
        loop: the event loop the calls ran on ("asyncio" or "uvloop").
    """

    name: str
    rounds: int
    warmup: int
    concurrency: int
    latency: LatencySummary
    statements_mean: float
    statements_max: int
    findings: tuple[Finding, ...]
    histogram: str
    timed: bool = True
    samples: tuple[RoundFigures, ...] = ()
    iqr_ms: float = 0.0
    loop: str | None = None

    @property
    def min_ms(self) -> float:
        return self.latency.min_ms

    @property
    def p50_ms(self) -> float:
        return self.latency.p50_ms

    @property
    def p95_ms(self) -> float:
        return self.latency.p95_ms

    @property
    def p99_ms(self) -> float:
        return self.latency.p99_ms

    @property
    def max_ms(self) -> float:
        return self.latency.max_ms

    @property
    def mean_ms(self) -> float:
        return self.latency.mean_ms

    @property
    def stddev_ms(self) -> float:
        return self.latency.stddev_ms


async def bench(
    fn: Callable[..., Awaitable[Any]],
    *args: Any,
    rounds: int = 50,
    warmup: int = 5,
    concurrency: int = 1,
    name: str | None = None,
    n_plus_one_threshold: int = DEFAULT_THRESHOLD,
    timed: bool = True,
    clock_ns: Callable[[], int] = time.perf_counter_ns,
    run_queue: RunQueueWait | None = None,
) -> BenchStats:
    """Await ``fn(*args)`` ``rounds`` times after ``warmup`` untimed calls, in this loop.

    ``concurrency`` tasks share the rounds. ``timed=False`` makes one plain
    call (pytest ``--dbprobe-disable``). Only the ``await`` is timed; setting up
    the statement recorder around it is not. Each of the gate's samples (a group
    of consecutive calls) carries the machine's references: the CPU loop, and
    the share of its time the process's threads waited for a CPU
    (``run_queue``, read from the kernel by default).
    """
    name = name or str(getattr(fn, "__qualname__", repr(fn)))
    threshold = n_plus_one_threshold
    if rounds < 1:
        raise ConfigError(f"rounds must be at least 1, got {rounds}")
    if warmup < 0:
        raise ConfigError(f"warmup must be 0 or more, got {warmup}")
    if concurrency < 1:
        raise ConfigError(f"concurrency must be at least 1, got {concurrency}")
    if not timed:
        rounds, warmup, concurrency = 1, 0, 1

    for _ in range(warmup):
        await fn(*args)
    histogram = LatencyHistogram()
    tally = FindingTally()
    counts: list[int] = []
    groups = min(_GATE_SAMPLES, rounds)
    size = -(-rounds // groups)  # rounds per group, rounded up
    group_hist = [SparseHistogram() for _ in range(groups)]
    group_ns = [0] * groups
    group_cpu: list[float | None] = [None] * groups
    group_wait = [WaitTally() for _ in range(groups)]
    run_queue = run_queue or RunQueueWait()
    reading: list[int | None] = [None, None]  # the group being read, and since when (ns)

    def read_wait(next_group: int | None) -> None:
        # At each group's first call and at the end: the wait since the last
        # reading belongs to the group that was running.
        waited, now = run_queue.since_last(), clock_ns()
        group, since = reading
        if group is not None and since is not None and waited is not None:
            group_wait[group].add(waited, now - since)
        reading[:] = [next_group, now]

    async def worker(n: int) -> None:
        for _ in range(n):
            group = min(groups - 1, len(counts) // size)
            if group_cpu[group] is None:
                # The machine's reference, taken between calls, never inside a timing.
                group_cpu[group] = cpu_loop_ms(clock_ns)
                read_wait(group)
            with count_statements() as recorder:
                started = clock_ns()
                await fn(*args)
                elapsed = clock_ns() - started
            histogram.record_ns(elapsed)
            group_hist[group].record_ns(elapsed)
            group_ns[group] += elapsed
            counts.append(recorder.count)
            tally.add(
                find_n_plus_one(recorder.statements.values(), operation=name, threshold=threshold)
                + find_unused_eager_loads(
                    recorder.eager_loaded(),
                    recorder.reads,
                    operation=name,
                    locations=recorder.eager_locations,
                )
            )

    share, extra = divmod(rounds, concurrency)
    if concurrency == 1:
        await worker(rounds)
    else:
        await asyncio.gather(*(worker(share + (i < extra)) for i in range(concurrency)))
    read_wait(None)
    p25_ms, p75_ms = histogram.percentiles_ms(25.0, 75.0)
    return BenchStats(
        name=name,
        rounds=rounds,
        warmup=warmup,
        concurrency=concurrency,
        latency=histogram.summary(),
        statements_mean=sum(counts) / len(counts),
        statements_max=max(counts),
        findings=tuple(tally.findings()),
        histogram=histogram.encode(),
        timed=timed,
        iqr_ms=p75_ms - p25_ms,
        loop=running_loop_kind(),
        samples=tuple(
            RoundFigures(
                ns / 1e9 / concurrency,
                tuple((value, hist.counts[value]) for value in sorted(hist.counts)),
                cpu,
                cpu_wait=wait.share,
            )
            for hist, ns, cpu, wait in zip(group_hist, group_ns, group_cpu, group_wait, strict=True)
            if hist.total
        )
        if timed
        else (),
    )
