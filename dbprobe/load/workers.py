"""The load engine: concurrent workers running weighted operations, closed or open loop.

Each worker is one asyncio task that opens its own session per transaction,
runs an operation (retrying retryable failures with backoff and full jitter)
and records the outcome. The run ends after a number of transactions per
worker, after a duration, or when ``stop`` is set (Ctrl-C, SIGTERM);
in-flight transactions are then cancelled and counted as such (at the end of
a duration, after ``LoadPlan.grace_s`` to finish), and everything recorded so
far is returned.

Closed loop (the default): each worker picks an operation by weight, runs it,
and starts the next one as soon as it is done. When the database stalls, the
workers stall with it and stop issuing work, so the stall is one slow sample
per worker: the closed loop under-reports exactly the latency that matters
("coordinated omission").

Open loop (``LoadPlan.rate_per_s``): operations *arrive* on a seeded schedule
(Poisson or uniform, shaped by a load profile; :mod:`dbprobe.load.arrivals`) and
are served by up to ``workers`` concurrent workers, each taking the next
arrival when it is free, as pgbench ``-R`` and wrk2 do. Latency is measured
from the arrival's *intended* start, so time spent waiting behind a stall is
counted; the service time (from the actual start) and the schedule lag
(actual minus intended start) are kept beside it. With ``latency_limit_ms``
an arrival already later than that when a worker takes it is skipped and
counted (pgbench ``-L``). Arrivals due before the end of a timed run that no
worker reached are counted as ``unstarted``.

An open-loop warm-up follows a schedule of its own (``LoadPlan.warmup_schedule``).
When its time is up, the arrivals it has not started are dropped
(``warmup_dropped``), not served into the measured window, and the measured
schedule starts afresh at the start of the measurement: the first measured
second is a normal second, not the tail of the warm-up's backlog.
"""

from __future__ import annotations

import asyncio
import random
import time
from bisect import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate

from dbprobe.database.engine import Database
from dbprobe.errors import ErrorClass, classify_error
from dbprobe.instrument import count_statements, install_statement_counter
from dbprobe.instrument.explain import StatementSamples
from dbprobe.instrument.nplusone import (
    DEFAULT_THRESHOLD,
    find_n_plus_one,
    find_unused_eager_loads,
    is_missing_greenlet,
    missing_greenlet_finding,
)
from dbprobe.instrument.statements import failed_load
from dbprobe.load.arrivals import ArrivalSchedule, apportion
from dbprobe.load.calibration import Calibrator, WaitTally
from dbprobe.load.health import GeneratorLoad
from dbprobe.load.operations import Operation, OperationContext, OperationStats
from dbprobe.load.plan import LoadPlan, RetryPolicy
from dbprobe.load.rate import ScheduleAccount
from dbprobe.load.rounds import RoundRecorder
from dbprobe.load.timeline import Timeline, TimelinePoint, TimelineRecorder
from dbprobe.metrics import LatencyHistogram
from dbprobe.result.findings import Finding
from dbprobe.result.model import CalibrationRound

__all__ = ["LATE_AFTER_MS", "WorkloadResult", "run_workload"]

# Cancelled workers get this long to unwind (rollback, close) before we stop
# waiting for them; a run must end within seconds of Ctrl-C.
_CANCEL_GRACE_S = 1.0

#: An open-loop operation that started more than this after its intended start
#: is counted as late: well above the event loop's timer granularity (~1 ms),
#: so a late operation means the schedule slipped, not the clock.
LATE_AFTER_MS = 10.0

# The loop-lag probe's timer: short enough to sample a run of a second
# often, long enough to cost nothing (a wake-up every 10 ms).
_LAG_PROBE_S = 0.01
_LAG_PROBE_NS = int(_LAG_PROBE_S * 1e9)
_CALIBRATION_POLL_S = 0.02

# A worker skipping arrivals (--latency-limit) awaits nothing between them: it
# lets the event loop run (signals, the progress tick) after this many in a row.
_YIELD_EVERY = 1000


@dataclass(frozen=True)
class WorkloadResult:
    """What a run recorded, in operation order; ``measured_s`` excludes the warm-up.

    ``timeline`` holds the measured run interval by interval; ``generator``
    what the event loop itself spent (see :mod:`dbprobe.load.health`);
    ``schedule`` how a fixed-rate run kept to its schedule (:mod:`dbprobe.load.rate`).
    """

    operations: tuple[OperationStats, ...]
    measured_s: float
    interrupted: bool
    timeline: Timeline | None = None
    generator: GeneratorLoad | None = None
    open_loop: bool = False
    schedule: ScheduleAccount | None = None  # open loop: how the measured window kept to it
    warmup_dropped: int = 0  # open loop: warm-up arrivals dropped when the warm-up ended


async def _run_once(
    op: Operation,
    stats: OperationStats,
    ctx_factory: Callable[[], OperationContext],
    retry: RetryPolicy,
    rng: random.Random,
    clock_ns: Callable[[], int],
    db: Database,
    n_plus_one_threshold: int,
    intended_ns: int | None = None,
    samples: StatementSamples | None = None,
    on_give_up: Callable[[BaseException, ErrorClass], None] | None = None,
) -> int:
    """Run ``op`` to its commit or its last failure.

    Returns the latency recorded (ns), or -1 when the operation gave up. With
    ``intended_ns`` (open loop), latency runs from the intended start and the
    service time from the actual one is recorded apart. ``on_give_up`` is told
    the last failure of an operation that gave up, and its class.
    """
    started = clock_ns()
    retry_no = 0
    while True:
        ctx = ctx_factory()
        stats.attempts += 1
        with count_statements(locations="repeated") as tally:
            try:
                await op.run(ctx)
            except asyncio.CancelledError:
                stats.statements_total += tally.count
                stats.lock_waits += tally.lock_waits
                stats.lock_wait_ns += tally.lock_wait_ns
                raise
            # SystemExit and KeyboardInterrupt raised by an operation are its own
            # errors (a real Ctrl-C reaches dbprobe as a signal that stops the run,
            # never as an exception inside an operation): let through, asyncio
            # would end the whole run with them and write no report.
            # GeneratorExit is left alone: it closes the coroutine.
            except (Exception, SystemExit, KeyboardInterrupt) as exc:
                stats.statements_total += tally.count
                stats.lock_waits += tally.lock_waits
                stats.lock_wait_ns += tally.lock_wait_ns
                kind = classify_error(exc)
                stats.record_failure(exc, kind, db.target)
                if is_missing_greenlet(exc):
                    finding = missing_greenlet_finding(failed_load(tally), operation=op.name)
                    stats.findings.add([finding], execution=False)
                if kind.retryable and retry_no < retry.retries:
                    retry_no += 1
                    stats.retries += 1
                    stats.retried[kind] += 1
                    await asyncio.sleep(retry.backoff_s(retry_no, rng))
                    continue
                stats.errors += 1
                stats.gave_up[kind] += 1
                if on_give_up is not None:
                    on_give_up(exc, kind)
                return -1
        stats.commits += 1
        # Detection runs on the committed attempt only: a failed attempt's
        # statements stop wherever the error struck.
        # Each detector runs only when it could find something: this is the
        # measuring loop, and most operations issue a few statements, eagerly
        # loading nothing.
        found: list[Finding] = []
        if tally.count >= n_plus_one_threshold:
            found += find_n_plus_one(
                tally.statements.values(), operation=op.name, threshold=n_plus_one_threshold
            )
        if tally.eager or tally.eager_joined:
            found += find_unused_eager_loads(tally.eager_loaded(), tally.reads, operation=op.name)
        stats.findings.add(found)
        stats.statements_total += tally.count
        stats.lock_waits += tally.lock_waits
        stats.lock_wait_ns += tally.lock_wait_ns
        stats.statements_committed += tally.count
        stats.statements_max = max(stats.statements_max, tally.count)
        # Latency runs from the first attempt to the last commit, retries and
        # backoff included, as pgbench reports it: it is what the caller waits.
        ended = clock_ns()
        if intended_ns is None:
            latency = ended - started
        else:
            latency = ended - intended_ns
            if stats.service_latency is not None:
                stats.service_latency.record_ns(ended - started)
        stats.latency.record_ns(latency)
        if ctx.commit_ns is not None:
            stats.commit_latency.record_ns(ctx.commit_ns)
        # After the clock is read: sampling for --explain is no part of the latency.
        if samples is not None:
            samples.add(op.name, tally.statements.values())
        return latency


class _ScheduleTally:
    """Counts of a fixed-rate run's measured arrivals as workers take them."""

    def __init__(self, measure_from_ns: int) -> None:
        self._from_ns = measure_from_ns
        self.started = self.skipped = self.unstarted = self.waited = 0
        self.warmup_dropped = 0
        self._last_intended_ns = self._last_taken_ns = measure_from_ns

    def taken(self, intended_ns: int, now_ns: int, waited: bool) -> None:
        self.waited += waited
        self._last_intended_ns = max(self._last_intended_ns, intended_ns)
        self._last_taken_ns = max(self._last_taken_ns, now_ns)

    def account(self, measured_s: float, *, timed: bool) -> ScheduleAccount:
        # A timed run is judged over its window; a counted one by when its last
        # arrival was due against when it was taken.
        return ScheduleAccount(
            started=self.started,
            skipped=self.skipped,
            unstarted=self.unstarted,
            waited=self.waited,
            scheduled_s=measured_s if timed else (self._last_intended_ns - self._from_ns) / 1e9,
            achieved_s=measured_s if timed else (self._last_taken_ns - self._from_ns) / 1e9,
        )


def _new_stats(name: str, open_loop: bool) -> OperationStats:
    if not open_loop:
        return OperationStats(name)
    return OperationStats(name, service_latency=LatencyHistogram(), schedule_lag=LatencyHistogram())


async def run_workload(
    db: Database,
    operations: Sequence[Operation],
    plan: LoadPlan,
    *,
    retry: RetryPolicy,
    seed: int,
    stop: asyncio.Event,
    on_progress: Callable[[float, int], None] | None = None,
    clock_ns: Callable[[], int] = time.perf_counter_ns,
    n_plus_one_threshold: int = DEFAULT_THRESHOLD,
    on_tick: Callable[[TimelinePoint], None] | None = None,
    rss_mb: Callable[[], float] | None = None,
    schedule_phase: float = 0.0,
    calibrator: Calibrator | None = None,
    round_index: int | None = None,
    samples: StatementSamples | None = None,
) -> WorkloadResult:
    """Run ``operations`` under ``plan`` and return what was recorded.

    ``on_progress(fraction_done, transactions_done)`` is called about ten
    times a second from the event loop; ``on_tick(point)`` once per closed
    timeline interval (about once a second), for a live display. ``rss_mb``
    samples the process's memory for the timeline. ``schedule_phase`` (0..1)
    offsets a uniform arrival schedule, so that processes sharing a rate
    interleave. The measurement is cut into ``plan.rounds`` rounds (equal
    slices of the duration, or of the transactions) and ``calibrator``, if
    given, measures the machine's reference once in each. ``round_index``
    says which round of a catalogue this run is (its plan has one round):
    the reference is then that round's, shared with the round's other phases.
    ``samples``, if given, keeps the first execution of every statement
    fingerprint the committed operations issued, for ``--explain``.
    """
    install_statement_counter()
    ops = list(operations)
    # Weighted choice as random.choices does it (same draws, same picks), without
    # building a list per pick: bisect on the cumulative weights.
    weights = [op.weight for op in ops]
    cumulative = list(accumulate(weights))
    total_weight = cumulative[-1] + 0.0
    last = len(cumulative) - 1
    open_loop = plan.rate_per_s is not None
    measured_list = [_new_stats(op.name, open_loop) for op in ops]
    # Warm-up outcomes are recorded and thrown away; one set serves all workers.
    warmup_list = [_new_stats(op.name, open_loop) for op in ops]
    done = [0]  # measured transactions finished, all workers
    settled = [0]  # open loop: arrivals taken by a worker (run or skipped)

    begin = clock_ns()
    begin_unix_s = time.time()
    cpu_begin_s = time.thread_time()
    measure_from = begin + int(plan.warmup_s * 1e9)
    deadline = measure_from + int(plan.duration_s * 1e9) if plan.duration_s is not None else None
    total = plan.transactions_per_worker * plan.workers if plan.transactions_per_worker else None

    rate_at: Callable[[float], float] | None = None
    if plan.rate_per_s is not None:
        peak = plan.rate_per_s

        def rate_at(t_s: float) -> float:
            return plan.profile.rate_at(t_s, peak, plan.duration_s)

    timeline = TimelineRecorder(measure_from, rate_at=rate_at, rss_mb=rss_mb)
    wakeup = LatencyHistogram() if open_loop else None
    loop_lag = LatencyHistogram()
    rounds = plan.rounds
    if deadline is not None:
        round_ns = max(1, (deadline - measure_from) // rounds)

        def round_of(started: int, finished_before: int) -> int:
            return min(rounds - 1, max(0, (started - measure_from) // round_ns))

    else:
        count = total or 1

        def round_of(started: int, finished_before: int) -> int:
            return min(rounds - 1, finished_before * rounds // count)

    recorder = RoundRecorder(len(ops), rounds, round_of)

    async def closed_worker(index: int) -> None:
        # One Random per worker, derived from the run's seed: the sequence of
        # operations a worker picks is reproducible whatever the scheduling.
        rng = random.Random(seed * 1_000_003 + index)
        mine = 0

        def make_ctx() -> OperationContext:
            return OperationContext(db, rng, index)

        while True:
            now = clock_ns()
            if deadline is not None and now >= deadline:
                return
            if plan.transactions_per_worker is not None and mine >= plan.transactions_per_worker:
                return
            k = bisect(cumulative, rng.random() * total_weight, 0, last)
            is_measured = now >= measure_from
            stats = measured_list[k] if is_measured else warmup_list[k]
            if is_measured:
                timeline.begin(now)
                round_index = recorder.round_of(now, done[0])
            latency = await _run_once(
                ops[k],
                stats,
                make_ctx,
                retry,
                rng,
                clock_ns,
                db,
                n_plus_one_threshold,
                samples=samples,
            )
            if is_measured:
                ended = clock_ns()
                timeline.end(ended, latency)
                if latency >= 0:
                    recorder.record(k, round_index, now, ended, latency)
                mine += 1
                done[0] += 1

    # The warm-up follows a schedule of its own; the measurement's starts afresh at
    # measure_from, so that no backlog of the warm-up spills into it.
    warmup = plan.warmup_schedule(seed, phase=schedule_phase)
    schedule = plan.arrival_schedule(seed, phase=schedule_phase) if open_loop else None
    pick = random.Random(f"dbprobe-mix:{seed}")
    warmup_pick = random.Random(f"dbprobe-warmup-mix:{seed}")
    limit_ns = int(plan.latency_limit_ms * 1e6) if plan.latency_limit_ms is not None else None
    late_ns = int(LATE_AFTER_MS * 1e6)
    tally = _ScheduleTally(measure_from)

    def count_unstarted(count: int) -> None:
        """Measured arrivals due before the end that no worker started, shared among the
        operations by weight."""
        tally.unstarted += count
        for stats, share in zip(measured_list, apportion(count, weights), strict=True):
            stats.unstarted += share

    async def serve(
        index: int, rng: random.Random, arrivals: ArrivalSchedule, *, measured: bool
    ) -> None:
        """Take arrivals of one schedule, each when free: a FIFO queue served by workers."""
        assert wakeup is not None
        origin = measure_from if measured else begin
        mix = pick if measured else warmup_pick
        stats_list = measured_list if measured else warmup_list

        def make_ctx() -> OperationContext:
            return OperationContext(db, rng, index)

        unyielded = 0
        while True:
            offset = arrivals.next_ns()
            if offset < 0:
                return
            intended = origin + offset
            now = clock_ns()
            if not measured and max(now, intended) >= measure_from:
                # The warm-up is over: what it left undone is dropped, not served
                # into the measured window (where it once showed as 0 tx/s, then
                # a backlog of seconds).
                tally.warmup_dropped += 1 + arrivals.drain()
                return
            if deadline is not None and now >= deadline:
                # This arrival and the rest were due before the end, but no worker
                # was free for them in time: counted at once, shared among the
                # operations by weight, never one by one (at a rate of 1e9/s that
                # loop never ended).
                count_unstarted(1 + arrivals.drain())
                return
            k = bisect(cumulative, mix.random() * total_weight, 0, last)
            stats = stats_list[k]
            # Already late when a worker took it: no worker was free at its time.
            waited = now - intended > late_ns
            if intended > now:
                await asyncio.sleep((intended - now) / 1e9)
                now = clock_ns()
                if measured:
                    # A free worker woke up late: only a busy event loop does that.
                    wakeup.record_ns(max(0, now - intended))
            lag = now - intended if now > intended else 0
            if measured:
                settled[0] += 1
                tally.taken(intended, now, waited)
            if limit_ns is not None and lag > limit_ns:
                stats.skipped += 1
                if measured:
                    tally.skipped += 1
                    timeline.skip(now)
                unyielded += 1
                if unyielded >= _YIELD_EVERY:
                    unyielded = 0
                    await asyncio.sleep(0)
                continue
            unyielded = 0
            assert stats.schedule_lag is not None
            stats.schedule_lag.record_ns(lag)
            late = lag > late_ns
            if late:
                stats.late += 1
            if measured:
                tally.started += 1
                timeline.begin(now, lag, late)
                round_index = recorder.round_of(now, done[0])
            latency = await _run_once(
                ops[k],
                stats,
                make_ctx,
                retry,
                rng,
                clock_ns,
                db,
                n_plus_one_threshold,
                intended,
                samples=samples,
            )
            if measured:
                ended = clock_ns()
                timeline.end(ended, latency)
                if latency >= 0:
                    recorder.record(k, round_index, now, ended, latency)
                done[0] += 1

    async def open_worker(index: int) -> None:
        # Each free worker takes the next arrival, with no queue object and no
        # dispatcher task: first of the warm-up's schedule, then of the measurement's.
        assert schedule is not None
        rng = random.Random(seed * 1_000_003 + index)
        if warmup is not None:
            await serve(index, rng, warmup, measured=False)
        await serve(index, rng, schedule, measured=True)

    def fraction() -> float:
        now = clock_ns()
        if deadline is not None:
            return min(1.0, max(0.0, (now - begin) / (deadline - begin)))
        finished = settled[0] if open_loop else done[0]
        return finished / total if total else 0.0

    async def watch_loop_lag() -> None:
        # How late the event loop runs a timer, measured all through the run:
        # a loop busy with dbprobe's own work (or starved of CPU) delays every
        # task, workers included, and the latencies then describe the client.
        while True:
            asked = clock_ns()
            await asyncio.sleep(_LAG_PROBE_S)
            woke = clock_ns()
            if woke >= measure_from:
                loop_lag.record_ns(max(0, woke - asked - _LAG_PROBE_NS))

    references: dict[int, CalibrationRound] = {}
    # The CPU wait of this phase's own rounds: a catalogue's phase is one operation's
    # round, its own wait undiluted by the round's other phases.
    waits: dict[int, WaitTally] = {}

    def account_wait(calibrator: Calibrator, now: int) -> tuple[int, int] | None:
        """The CPU wait since the last reading, to the round it fell in; that round and
        the calibrator's key for it (the catalogue's round for a catalogue's phase)."""
        if now < measure_from:
            calibrator.account_wait(None)  # the warm-up's: no round's
            return None
        r = recorder.round_of(now, done[0])
        key = r if round_index is None else round_index
        if (added := calibrator.account_wait(key)) is not None:
            waits.setdefault(r, WaitTally()).add(*added)
        return r, key

    async def calibrate(calibrator: Calibrator) -> None:
        # The references once in each round, while the operations of that round
        # run; the CPU wait at every poll, to the round it fell in.
        while True:
            at = account_wait(calibrator, clock_ns())
            if at is not None and at[0] not in references:
                references[at[0]] = await calibrator.reference_for(at[1])
            await asyncio.sleep(_CALIBRATION_POLL_S)

    worker = open_worker if open_loop else closed_worker
    workers = [
        asyncio.create_task(worker(i), name=f"dbprobe-worker-{i}") for i in range(plan.workers)
    ]
    helpers = [asyncio.create_task(watch_loop_lag(), name="dbprobe-loop-lag")]
    if calibrator is not None:
        # The first reading now, so that a phase shorter than a poll has its wait too.
        calibrator.restart_wait()
        calibrator.account_wait(None)
        helpers.append(asyncio.create_task(calibrate(calibrator), name="dbprobe-calibration"))
    give_up_at = deadline + int(plan.grace_s * 1e9) if deadline is not None else None
    interrupted = False
    try:
        # Poll rather than wait on `stop`: the same tick drives the progress
        # display, and a stop is seen within 0.1 s.
        while pending := [t for t in workers if not t.done()]:
            if stop.is_set():
                interrupted = True
                break
            if give_up_at is not None and clock_ns() >= give_up_at:
                # Operations still running after the grace are cancelled and counted
                # (attempts - commits - failures): one that never returns once kept
                # a run going past --duration for ever.
                break
            if any(t.done() and not t.cancelled() and t.exception() for t in workers):
                break  # a bug in a probe: stop the others and raise it below
            await asyncio.wait(pending, timeout=0.1)
            timeline.tick(clock_ns())
            # Taken even with no one to show them to, so they do not pile up in a soak.
            for point in timeline.take_new():
                if on_tick is not None:
                    on_tick(point)
            if on_progress is not None:
                on_progress(fraction(), done[0])
    finally:
        ended = clock_ns()
        cpu_s = time.thread_time() - cpu_begin_s
        if calibrator is not None:
            account_wait(calibrator, ended)  # the last reading: the phase's end
        for task in (*workers, *helpers):
            task.cancel()
        await asyncio.wait([*workers, *helpers], timeout=_CANCEL_GRACE_S)
    for task in workers:
        if task.done() and not task.cancelled() and (failure := task.exception()) is not None:
            raise failure
    if schedule is not None and give_up_at is not None and not interrupted:
        # Every worker was still busy when the grace ran out (an operation that never
        # returns): the arrivals none of them reached were due all the same.
        count_unstarted(schedule.drain())
    measured_end = min(ended, deadline or ended)
    measured_s = max(0.0, (measured_end - measure_from) / 1e9)

    def round_ns_of(r: int, first: int | None, last: int | None) -> int:
        if deadline is not None:
            start = measure_from + r * round_ns
            return max(0, min(start + round_ns, measured_end) - start)
        return last - first if first is not None and last is not None else 0

    for k, stats in enumerate(measured_list):
        stats.rounds = recorder.figures(
            k,
            round_ns_of,
            references,
            {r: share for r, tally in waits.items() if (share := tally.share) is not None},
        )
    generator = GeneratorLoad(
        loop_cpu_s=cpu_s,
        wall_s=(ended - begin) / 1e9,
        wakeups=wakeup.count if wakeup is not None else 0,
        wakeup_lag_p50_ms=wakeup.value_at_percentile_ms(50.0) if wakeup and wakeup.count else 0.0,
        wakeup_lag_p99_ms=wakeup.value_at_percentile_ms(99.0) if wakeup and wakeup.count else 0.0,
        wakeup_lag_max_ms=wakeup.summary().max_ms if wakeup and wakeup.count else 0.0,
        lag_samples=loop_lag.count,
        loop_lag_p50_ms=loop_lag.value_at_percentile_ms(50.0) if loop_lag.count else 0.0,
        loop_lag_p99_ms=loop_lag.value_at_percentile_ms(99.0) if loop_lag.count else 0.0,
    )
    return WorkloadResult(
        tuple(measured_list),
        measured_s,
        interrupted,
        timeline=timeline.finish(max(ended, measure_from), begin_unix_s + plan.warmup_s),
        generator=generator,
        open_loop=open_loop,
        schedule=tally.account(measured_s, timed=deadline is not None) if open_loop else None,
        warmup_dropped=tally.warmup_dropped,
    )
