"""The pool probe's arithmetic (pure): demand by second, the timeline, capacity, recovery.

Times are seconds since the load began, given by the caller: nothing here reads
a clock, so every function runs on fixed inputs in tests.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "TimelineRecorder",
    "TimelineResult",
    "TimelineRow",
    "capacity_per_s",
    "demand_at",
    "demand_profile",
    "recovery_start_s",
]

#: A ramp needs a second to go up, one at the top and one to come down.
MIN_RAMP_SECONDS = 3


def demand_profile(threads: int, duration_s: float, *, ramp: bool) -> tuple[int, ...]:
    """Concurrent workers wanted in each second of the run (one entry per started second).

    Without ``ramp`` every second wants ``threads``. With it, demand steps up
    from 1 to ``threads`` over the first half and back down to 1 over the
    second half, symmetrically, so that the peak is held for one or two
    seconds and the way down can be compared with the way up.
    """
    seconds = max(1, math.ceil(duration_s))
    if not ramp:
        return (threads,) * seconds
    span = max(1, math.ceil(seconds / 2) - 1)  # steps from the first second to the peak
    return tuple(
        1 + round((threads - 1) * min(second, seconds - 1 - second) / span)
        for second in range(seconds)
    )


def demand_at(profile: Sequence[int], t_s: float) -> int:
    """Demand in effect at ``t_s``; 0 once the profile has ended (no new work starts)."""
    second = max(0, math.floor(t_s))
    return profile[second] if second < len(profile) else 0


def recovery_start_s(profile: Sequence[int], connections: int) -> float | None:
    """When demand falls back within what the pool can serve, after its peak.

    Recovery is timed from here: while demand still exceeds the pool's
    connections, waiting is the expected consequence of the load, not a slow
    recovery. If the peak never exceeded the pool, from the first step down.
    None when demand never falls (no ramp).
    """
    if not profile:
        return None
    peak = max(profile)
    last_peak = len(profile) - 1 - list(reversed(profile)).index(peak)
    limit = connections if peak > connections else peak - 1
    for second in range(last_peak + 1, len(profile)):
        if profile[second] <= limit:
            return float(second)
    return None


def capacity_per_s(connections: int, mean_hold_ms: float) -> float | None:
    """Checkouts per second the pool can serve: connections ÷ mean hold time (Little's law)."""
    if mean_hold_ms <= 0:
        return None
    return connections / (mean_hold_ms / 1000)


@dataclass(frozen=True)
class TimelineRow:
    """One second of the run: the demand, and the peaks reached within that second.

    ``checked_out`` and ``waiting`` are the highest levels during the second
    (a level carried in from the previous second counts); ``timeouts`` is the
    number of checkouts that gave up during it.
    """

    second: int
    demand: int
    checked_out: int
    waiting: int
    timeouts: int


@dataclass(frozen=True)
class TimelineResult:
    """The timeline, and how long waiting took to drain once demand fell.

    ``recovery_s`` is None when there was no fall to recover from, or when
    workers were still waiting at the end (``recovered`` says which).
    """

    rows: tuple[TimelineRow, ...]
    recovery_s: float | None
    recovered: bool | None


class TimelineRecorder:
    """Per-second peaks of checked-out connections and waiting workers, and timeouts.

    Fed with level changes in time order (the event loop's own order); memory
    is one row per second however many checkouts happen. ``recover_from_s``
    (see :func:`recovery_start_s`) makes it note the first moment from then on
    at which no worker waits.
    """

    def __init__(self, profile: Sequence[int], *, recover_from_s: float | None = None) -> None:
        self._profile = tuple(profile)
        self._rows: list[list[int]] = []  # [checked_out peak, waiting peak, timeouts]
        self._checked_out = 0
        self._waiting = 0
        self._waiting_since_s = 0.0
        self._recover_from_s = recover_from_s
        self._drained_at_s: float | None = None

    def _row(self, t_s: float) -> list[int]:
        second = max(0, math.floor(t_s))
        while len(self._rows) <= second:
            # A second without events still saw the levels carried into it.
            self._rows.append([self._checked_out, self._waiting, 0])
        return self._rows[second]

    def checked_out(self, t_s: float, level: int) -> None:
        row = self._row(t_s)
        self._checked_out = level
        row[0] = max(row[0], level)

    def waiting(self, t_s: float, level: int) -> None:
        row = self._row(t_s)
        self._note_drain(t_s, level)
        self._waiting = level
        self._waiting_since_s = t_s
        row[1] = max(row[1], level)

    def timeout(self, t_s: float) -> None:
        self._row(t_s)[2] += 1

    def _note_drain(self, t_s: float, level: int) -> None:
        start = self._recover_from_s
        if start is None or self._drained_at_s is not None or t_s < start:
            return
        if self._waiting == 0:
            # Nobody was waiting already when demand fell (or since the last
            # change after it): recovered at once, or at that change.
            self._drained_at_s = max(start, self._waiting_since_s)
        elif level == 0:
            self._drained_at_s = t_s

    def result(self, end_s: float) -> TimelineResult:
        """The rows up to ``end_s`` (at least one per second of the profile), and recovery."""
        self._row(max(end_s, len(self._profile)) - 1e-9)
        self._note_drain(max(end_s, self._waiting_since_s), self._waiting)
        rows = tuple(
            TimelineRow(
                second=second,
                demand=self._profile[second] if second < len(self._profile) else 0,
                checked_out=checked_out,
                waiting=waiting,
                timeouts=timeouts,
            )
            for second, (checked_out, waiting, timeouts) in enumerate(self._rows)
        )
        start = self._recover_from_s
        if start is None or end_s < start:  # no fall, or the run ended before it
            return TimelineResult(rows, None, None)
        if self._drained_at_s is None:
            return TimelineResult(rows, None, False)
        return TimelineResult(rows, self._drained_at_s - start, True)
