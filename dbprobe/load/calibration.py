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

When the CPU loop moved, the regression gate sets aside a change up to the
loop's own as the machine's, and says so; a moved round trip is a warning
beside the verdicts, never set aside (:mod:`dbprobe.gate.compare`).

The loop blocks the event loop for about 5 ms once per round (not per phase
of a catalogue: its phases share their round's reference): next to a
round's hundreds of milliseconds, a cost the measurement can carry.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dbprobe.database.engine import Database, PoolOptions, build_engine
from dbprobe.result.model import CalibrationRound

__all__ = ["ROUND_TRIPS", "Calibrator", "cpu_loop_ms"]

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


class Calibrator:
    """Measures a :class:`CalibrationRound` on demand, on a connection of its own."""

    def __init__(self, engine: AsyncEngine | None, connection: AsyncConnection | None) -> None:
        self._engine = engine
        self._connection = connection
        self.rounds: list[CalibrationRound] = []
        self._by_key: dict[int, CalibrationRound] = {}

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

    async def measure(self) -> CalibrationRound:
        cpu = cpu_loop_ms()
        select_1 = None
        if self._connection is not None:
            try:
                trips = []
                for _ in range(ROUND_TRIPS):
                    started = time.perf_counter_ns()
                    await self._connection.execute(text("SELECT 1"))
                    trips.append((time.perf_counter_ns() - started) / 1e6)
                await self._connection.rollback()
                select_1 = statistics.median(trips)
            except Exception:
                select_1 = None  # the reference is context, never a reason to fail a run
        measured = CalibrationRound(cpu, select_1)
        self.rounds.append(measured)
        return measured

    async def reference_for(self, key: int) -> CalibrationRound:
        """The reference of round ``key``: measured the first time it is asked for.

        The phases of a catalogue's round ask with the round's number, and so
        share one measurement.
        """
        if key not in self._by_key:
            self._by_key[key] = await self.measure()
        return self._by_key[key]

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            if self._connection is not None:
                await self._connection.close()
        with contextlib.suppress(Exception):
            if self._engine is not None:
                await self._engine.dispose()
