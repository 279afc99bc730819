"""The machine's references, measured in every round beside the operations.

Slower figures mean slower code only if the machine was as fast as before.
No statistic can tell that from the figures themselves (a shift common to
every operation is just what a missing index, a slower driver or an N+1
everywhere looks like), so dbprobe measures the machine itself, in the same
rounds as the operations:

- ``cpu_ms``: a fixed, CPU-bound loop run on the measuring thread. It does
  the same work every time and touches no I/O, so it slows only when the
  machine gives the process less CPU (another process, a slower machine, a
  throttled CPU). It runs for about 5 ms, in five slices: long enough for
  the scheduler to take its share of CPU from it as it does from the
  operations (a loop of a millisecond mostly slips between preemptions and
  reads "fast" on a contended machine).
- ``select_1_ms``: a ``SELECT 1`` round trip on a connection of its own,
  outside the pool, the median of :data:`ROUND_TRIPS`: the driver's hand-off
  between the event loop and its I/O (aiosqlite's thread, the socket) and
  the server. Measured here, two runs of the same code in one process on an
  idle machine can differ by 40 % in every SQLite operation while the CPU
  loop stays put, and ``SELECT 1`` moves with them. But it runs on the
  operations' own event loop, so their load slows it too (a run whose
  operations each did 1.5 ms more Python work had it 116-191 % slower).
- ``cpu_wait``: the share of the round's wall-clock time the process's
  threads spent runnable but waiting for a CPU (the kernel's run-queue
  delay, ``/proc/self/task/*/schedstat``). The CPU loop misses another
  process competing for the CPUs: a process that has just slept is run
  first, and a 5 ms loop rarely loses its slice. But every hand-off between
  the event loop and a driver thread waits for one then. Measured here with
  an aiosqlite ``SELECT 1`` loop: 1 % idle, 34-45 % beside one or two
  CPU-bound processes, its latency 30-40 % longer, the CPU loop unchanged.
  A thread blocked on the GIL or on I/O is not runnable, so the run's own
  work barely moves it; only the CPUs being busy with others does.

When the CPU loop moved, the regression gate sets aside a change up to the
loop's own as the machine's, and says so; a moved round trip is a warning
beside the verdicts, never set aside (:mod:`dbprobe.gate.compare`).

The loop blocks the event loop for about 5 ms once per round (not per phase
of a catalogue: its phases share their round's reference): next to a
round's hundreds of milliseconds, a cost the measurement can carry.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import replace

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dbprobe.database.engine import Database, PoolOptions, build_engine
from dbprobe.result.model import CalibrationRound

__all__ = ["ROUND_TRIPS", "Calibrator", "RunQueueWait", "WaitTally", "cpu_loop_ms"]

#: ``SELECT 1`` round trips a round's reference takes the median of: one
#: alone is a fraction of a millisecond and as noisy as a single latency.
ROUND_TRIPS = 5

# Work of the CPU loop: fixed, so its time is the machine's speed (about 1 ms a
# slice here, five slices).
_LOOP_ITERATIONS = 20_000
_LOOP_SLICES = 5


def _work() -> int:
    total = 0
    for i in range(_LOOP_ITERATIONS):
        total += i * i % 7
    return total


def cpu_loop_ms(clock_ns: Callable[[], int] = time.perf_counter_ns) -> float:
    """The fixed loop's time in ms, for one slice's work: the mean over five slices.

    The mean, not the minimum or the median: the time the scheduler takes
    away is the very thing measured.
    """
    started = clock_ns()
    for _ in range(_LOOP_SLICES):
        _work()
    return (clock_ns() - started) / _LOOP_SLICES / 1e6


_TASKS = "/proc/self/task"


def _threads_run_queue_ns() -> dict[str, int] | None:
    """Each live thread's run-queue delay so far (ns), None where the kernel does not say."""
    try:
        tids = os.listdir(_TASKS)
    except OSError:
        return None
    delays: dict[str, int] = {}
    for tid in tids:
        try:
            with open(f"{_TASKS}/{tid}/schedstat", encoding="ascii") as f:
                # "time on CPU, time waiting on a run queue, timeslices" (ns)
                delays[tid] = int(f.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue  # the thread ended between the listing and the read
    return delays or None


class RunQueueWait:
    """The process's threads' time waiting for a CPU, read as it grows.

    Per thread, so that a thread that ends (a driver's, the thread pool's)
    takes its total with it without making the sum go back.
    """

    def __init__(self, read: Callable[[], dict[str, int] | None] = _threads_run_queue_ns) -> None:
        self._read = read
        self._last: dict[str, int] | None = None

    def restart(self) -> None:
        """Forget the last reading: the next :meth:`since_last` only takes a new one."""
        self._last = None

    def since_last(self) -> int | None:
        """The threads' added wait (ns) since the last reading; None on the first, or unknown."""
        now = self._read()
        last, self._last = self._last, now
        if now is None or last is None:
            return None
        return sum(max(0, delay - last.get(tid, 0)) for tid, delay in now.items())


class WaitTally:
    """Time spent waiting for a CPU over wall-clock time, added up reading by reading."""

    __slots__ = ("waited_ns", "wall_ns")

    def __init__(self) -> None:
        self.waited_ns = 0
        self.wall_ns = 0

    def add(self, waited_ns: int, wall_ns: int) -> None:
        self.waited_ns += waited_ns
        self.wall_ns += wall_ns

    @property
    def share(self) -> float | None:
        return self.waited_ns / self.wall_ns if self.wall_ns > 0 else None


class Calibrator:
    """Measures a :class:`CalibrationRound` on demand, on a connection of its own,
    and accounts the time the run's threads waited for a CPU to the round it fell in."""

    def __init__(
        self,
        engine: AsyncEngine | None,
        connection: AsyncConnection | None,
        *,
        run_queue: RunQueueWait | None = None,
        clock_ns: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        self._engine = engine
        self._connection = connection
        self._measured: list[tuple[int | None, CalibrationRound]] = []
        self._by_key: dict[int, CalibrationRound] = {}
        self._run_queue = run_queue or RunQueueWait()
        self._clock_ns = clock_ns
        self._last_ns: int | None = None
        self._waits: dict[int, WaitTally] = {}  # by round key
        # Set while a round trip is under way: a measurement cancelled there
        # (the phase ended) leaves the connection's transaction to roll back.
        self._interrupted = False

    @classmethod
    async def open(cls, db: Database) -> Calibrator:
        """Connect beside ``db``'s pool; without a connection, only the CPU loop is measured."""
        engine = build_engine(db.target, PoolOptions(size=1), db.isolation)
        try:
            connection = await engine.connect()
        except Exception:
            # The reference is context, never a reason to fail a run.
            await engine.dispose()
            return cls(None, None)
        return cls(engine, connection)

    @property
    def rounds(self) -> tuple[CalibrationRound, ...]:
        """The rounds measured so far, in order, each with its CPU wait where accounted."""
        out = []
        for key, c in self._measured:
            tally = self._waits.get(key) if key is not None else None
            out.append(replace(c, cpu_wait=tally.share if tally else None))
        return tuple(out)

    def restart_wait(self) -> None:
        """A phase starts: the time since the last one ended is no round's."""
        self._run_queue.restart()
        self._last_ns = None

    def account_wait(self, key: int | None) -> tuple[int, int] | None:
        """Add the CPU wait since the last call to round ``key`` (None: to no round).

        Called every few milliseconds while a phase runs, so each round gets
        the wait that fell in it, give or take one interval. Returns what was
        added, (ns waited, ns of wall-clock time), for the phase's own rounds.
        """
        waited = self._run_queue.since_last()
        now = self._clock_ns()
        last, self._last_ns = self._last_ns, now
        if key is None or waited is None or last is None:
            return None
        self._waits.setdefault(key, WaitTally()).add(waited, now - last)
        return waited, now - last

    async def measure(self, key: int | None = None) -> CalibrationRound:
        """The CPU loop and the round trip now (``key``: the round they are of)."""
        cpu = cpu_loop_ms()
        select_1 = None
        if self._connection is not None:
            try:
                if self._interrupted:
                    await self._connection.rollback()
                self._interrupted = True
                trips = []
                for _ in range(ROUND_TRIPS):
                    started = time.perf_counter_ns()
                    await self._connection.execute(text("SELECT 1"))
                    trips.append((time.perf_counter_ns() - started) / 1e6)
                await self._connection.rollback()
                self._interrupted = False
                select_1 = statistics.median(trips)
            except Exception:
                select_1 = None  # the reference is context, never a reason to fail a run
        measured = CalibrationRound(cpu, select_1)
        self._measured.append((key, measured))
        return measured

    async def reference_for(self, key: int) -> CalibrationRound:
        """The reference of round ``key``: measured the first time it is asked for.

        The phases of a catalogue's round ask with the round's number, and so
        share one measurement.
        """
        if key not in self._by_key:
            self._by_key[key] = await self.measure(key)
        return self._by_key[key]

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            if self._connection is not None:
                await self._connection.close()
        with contextlib.suppress(Exception):
            if self._engine is not None:
                await self._engine.dispose()
