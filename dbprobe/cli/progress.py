"""Progress while seeding and measuring: a live status in a terminal, plain lines elsewhere.

In a terminal (and without ``-P``) a live status shows, refreshed in place:
elapsed and remaining time, transactions done, and the last second's
throughput, p50/p99, errors and operations in flight (at a fixed rate also the
target, the schedule lag and the skipped operations), as Locust's console and
pgbench's ``-P`` do. Outside a terminal (a CI log), or with ``-P S``, one
plain line every S seconds goes to stderr instead, so the log keeps a record
of the run. ``format_*`` are pure (the clock is given); :class:`ConsoleProgress`
writes.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console, RenderableType
from rich.live import Live
from rich.text import Text

from dbprobe.cli.shared_options import DEFAULT_PROGRESS_S
from dbprobe.load.harness import ProbeHooks
from dbprobe.load.timeline import TimelinePoint
from dbprobe.report.console import format_live

__all__ = [
    "ConsoleProgress",
    "ProgressState",
    "format_live_status",
    "format_progress_line",
    "progress_for",
]

_BAR_WIDTH = 16


@dataclass
class ProgressState:
    """What the progress display knows: the phase, how far it is, the latest second.

    ``commits``, ``errors`` and ``interval_s`` add up the timeline intervals
    since the last plain line, so that its tx/s and errors cover all of it
    (pgbench's ``-P`` averages over its interval too).
    """

    phase: str = ""
    started_s: float = 0.0
    fraction: float = 0.0
    done: int = 0
    seed_rows: tuple[int, int] | None = None
    point: TimelinePoint | None = None
    commits: int = 0
    errors: int = 0
    interval_s: float = 0.0

    def add_point(self, point: TimelinePoint) -> None:
        self.point = point
        self.commits += point.commits
        self.errors += point.errors
        self.interval_s += point.interval_s

    def restart_interval(self) -> None:
        self.commits = self.errors = 0
        self.interval_s = 0.0


def _clock_text(seconds: float) -> str:
    whole = max(0, round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def _times(state: ProgressState, now_s: float) -> str:
    elapsed = now_s - state.started_s
    if 0 < state.fraction < 1:
        left = _clock_text(elapsed * (1 - state.fraction) / state.fraction)
    else:
        left = "0:00:00" if state.fraction >= 1 else "?"
    return f"{_clock_text(elapsed)} elapsed, {left} left"


def _seed_rate(state: ProgressState, now_s: float) -> float | None:
    """Rows a second so far; None before the first batch (no rate to tell)."""
    assert state.seed_rows is not None
    elapsed = now_s - state.started_s
    loaded = state.seed_rows[0]
    return loaded / elapsed if loaded > 0 and elapsed > 0 else None


def format_live_status(state: ProgressState, now_s: float) -> str:
    """The terminal's live status: one line of progress, one of the last second's figures."""
    fraction = min(max(state.fraction, 0.0), 1.0)
    filled = round(fraction * _BAR_WIDTH)
    bar = "━" * filled
    if filled < _BAR_WIDTH:
        bar += "╺" + "─" * (_BAR_WIDTH - filled - 1)
    head = f"{state.phase} {bar} {fraction * 100:3.0f}%  "
    if state.seed_rows is not None:
        loaded, expected = state.seed_rows
        rate = _seed_rate(state, now_s)
        if rate is None:
            return head + f"{loaded:,} of {expected:,} rows"
        return head + f"{loaded:,} of {expected:,} rows, {rate:,.0f} rows/s, {_times(state, now_s)}"
    lines = [head + f"{_times(state, now_s)}, {state.done:,} tx"]
    if state.point is not None:
        # The last second's figures, and at a fixed rate the schedule's (third line).
        figures, _, schedule = format_live(state.point).partition("; ")
        lines.append(f"  {figures}")
        if schedule:
            lines.append(f"  {schedule}")
    return "\n".join(lines)


def format_progress_line(state: ProgressState, now_s: float) -> str:
    """One plain line for a log: ``progress: 10 s, 50%, 1,234 tx, 123.4 tx/s, p50 ...``.

    Throughput and errors cover the interval since the previous line; p50 and
    p99 are those of its last second (percentiles of intervals do not add up).
    """
    elapsed = now_s - state.started_s
    if state.seed_rows is not None:
        loaded, expected = state.seed_rows
        text = f"seeding: {elapsed:.0f} s, {loaded:,} of {expected:,} rows"
        rate = _seed_rate(state, now_s)
        if rate is None:
            return text
        return text + f", {rate:,.0f} rows/s, {max(expected - loaded, 0) / rate:.0f} s left"
    text = f"progress: {elapsed:.0f} s, {state.fraction * 100:.0f}%, {state.done:,} tx"
    point = state.point
    if point is not None:
        rate = state.commits / state.interval_s if state.interval_s > 0 else 0.0
        text += (
            f", {rate:,.1f} tx/s, p50 {point.p50_ms:.1f} ms, p99 {point.p99_ms:.1f} ms, "
            f"{state.errors} errors, {point.in_flight_max} in flight"
        )
        if point.target_rate_per_s is not None:
            text += (
                f", target {point.target_rate_per_s:,.0f}/s, lag max {point.lag_max_ms:.1f} ms, "
                f"{point.skipped} skipped"
            )
    return text


class _LiveView:
    """Rendered by rich at each refresh, so the clocks move between callbacks."""

    def __init__(self, state: ProgressState, clock: Callable[[], float]) -> None:
        self._state = state
        self._clock = clock

    def __rich__(self) -> RenderableType:
        if not self._state.phase:
            return Text("")
        return Text(format_live_status(self._state, self._clock()))


class ConsoleProgress:
    """The progress display of a run on ``err``: live in a terminal, else plain lines.

    ``interval_s`` is ``-P``: plain lines every S seconds even in a terminal.
    Without it a terminal gets the live status and anything else a line every
    ``default_interval_s``. ``quiet`` shows nothing but the "running" line.
    """

    def __init__(
        self,
        err: Console,
        *,
        quiet: bool,
        interval_s: float | None,
        default_interval_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._err = err
        self._quiet = quiet
        self._clock = clock
        self._state = ProgressState(started_s=clock())
        live = not quiet and interval_s is None and err.is_terminal
        self._interval_s = None if quiet or live else (interval_s or default_interval_s)
        self._live = (
            Live(
                _LiveView(self._state, clock),
                console=err,
                transient=True,
                refresh_per_second=4,
            )
            if live
            else None
        )
        self._last_line_s = self._state.started_s

    def __enter__(self) -> ConsoleProgress:
        if self._live is not None:
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()

    def _maybe_line(self) -> None:
        if self._interval_s is None:
            return
        now = self._clock()
        if now - self._last_line_s >= self._interval_s:
            # On the S-second grid from the start, as pgbench -P: a callback a little
            # late does not push every later line back.
            while now - self._last_line_s >= self._interval_s:
                self._last_line_s += self._interval_s
            self._err.print(format_progress_line(self._state, now), highlight=False, soft_wrap=True)
            self._state.restart_interval()

    def seed_progress(self, loaded: int, expected: int) -> None:
        if not self._state.phase:
            self._state.phase = "seeding"
            self._state.started_s = self._last_line_s = self._clock()
        self._state.seed_rows = (loaded, expected)
        self._state.fraction = min(loaded, expected) / expected if expected else 1.0
        self._maybe_line()

    def run_start(self, what: str) -> None:
        now = self._clock()
        self._state.phase = "measuring"
        self._state.started_s = self._last_line_s = now
        self._state.seed_rows = None
        self._state.fraction = 0.0
        self._state.done = 0
        self._state.point = None
        self._state.restart_interval()
        # Always said, even with --quiet: a supervisor (or a test) can tell that
        # measurement has begun.
        self._err.print(f"running {what}", highlight=False)

    def run_progress(self, fraction: float, done: int) -> None:
        self._state.fraction = fraction
        self._state.done = done
        self._maybe_line()

    def run_tick(self, point: TimelinePoint) -> None:
        self._state.add_point(point)
        self._maybe_line()

    def hooks(self) -> ProbeHooks:
        return ProbeHooks(
            self.seed_progress, self.run_start, self.run_progress, on_tick=self.run_tick
        )


def progress_for(args: argparse.Namespace, err: Console) -> ConsoleProgress:
    """The progress display a command's options ask for (-q, -P S)."""
    return ConsoleProgress(
        err,
        quiet=getattr(args, "quiet", False),
        interval_s=getattr(args, "progress", None),
        default_interval_s=DEFAULT_PROGRESS_S,
    )
