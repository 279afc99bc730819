"""The progress display of a run: what the live status and the plain lines say, and when.

A fake clock drives :class:`ConsoleProgress`, so the number of lines is exact.
"""

from __future__ import annotations

import io

from rich.console import Console

from dbprobe.cli.progress import (
    ConsoleProgress,
    ProgressState,
    format_live_status,
    format_progress_line,
)
from dbprobe.load.timeline import TimelinePoint


def _point(t_s: float, commits: int = 40, errors: int = 1, **extra: object) -> TimelinePoint:
    return TimelinePoint(
        t_s=t_s,
        interval_s=1.0,
        commits=commits,
        errors=errors,
        throughput_per_s=float(commits),
        p50_ms=1.25,
        p99_ms=7.5,
        max_ms=9.0,
        in_flight_max=4,
        **extra,  # type: ignore[arg-type]
    )


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_live_status_shows_times_transactions_and_the_last_seconds_figures() -> None:
    state = ProgressState(phase="measuring", started_s=10.0, fraction=0.25, done=128)
    state.add_point(_point(6.0))

    lines = format_live_status(state, now_s=17.0).splitlines()

    assert lines[0].startswith("measuring ━━━━╺")
    assert lines[0].endswith(" 25%  0:00:07 elapsed, 0:00:21 left, 128 tx")
    assert lines[1] == "  40 tx/s, p50 1.2 ms, p99 7.5 ms, 1 errors, 4 in flight"
    assert len(lines) == 2


def test_the_live_status_of_a_fixed_rate_run_adds_target_lag_and_skipped() -> None:
    state = ProgressState(phase="measuring", started_s=0.0, fraction=0.5, done=10)
    state.add_point(_point(1.0, target_rate_per_s=50.0, lag_max_ms=3.25, late=2, skipped=1))

    lines = format_live_status(state, now_s=2.0).splitlines()

    assert lines[2] == "  target 50/s, lag max 3.2 ms, 2 late, 1 skipped"


def test_a_progress_line_averages_throughput_and_errors_over_its_interval() -> None:
    state = ProgressState(phase="measuring", started_s=0.0, fraction=0.5, done=100)
    state.add_point(_point(0.0, commits=30, errors=0))
    state.add_point(_point(1.0, commits=50, errors=2))

    assert format_progress_line(state, now_s=2.0) == (
        "progress: 2 s, 50%, 100 tx, 40.0 tx/s, p50 1.2 ms, p99 7.5 ms, 2 errors, 4 in flight"
    )


def _progress(
    clock: _Clock, *, terminal: bool, interval_s: float | None, quiet: bool = False
) -> tuple[ConsoleProgress, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, force_terminal=terminal, width=100)
    progress = ConsoleProgress(
        console, quiet=quiet, interval_s=interval_s, default_interval_s=5.0, clock=clock
    )
    return progress, out


def _drive(progress: ConsoleProgress, clock: _Clock, seconds: int) -> None:
    """run_start, then progress ten times a second and a tick each second, for ``seconds``."""
    with progress:
        progress.run_start("uow on a test database")
        for tenth in range(1, seconds * 10 + 1):
            clock.now = 100.0 + tenth / 10
            if tenth % 10 == 0:
                progress.run_tick(_point(tenth / 10 - 1))
            progress.run_progress(tenth / (seconds * 10), tenth * 3)


def test_outside_a_terminal_a_line_is_printed_every_default_interval() -> None:
    clock = _Clock()
    progress, out = _progress(clock, terminal=False, interval_s=None)

    _drive(progress, clock, 12)

    lines = out.getvalue().splitlines()
    assert lines[0] == "running uow on a test database"
    assert [line.split(",")[0] for line in lines[1:]] == ["progress: 5 s", "progress: 10 s"]


def test_with_p_a_line_is_printed_every_s_seconds_even_in_a_terminal() -> None:
    clock = _Clock()
    progress, out = _progress(clock, terminal=True, interval_s=1.0)

    _drive(progress, clock, 3)

    lines = [line for line in out.getvalue().splitlines() if line.startswith("progress: ")]
    assert [line.split(",")[0] for line in lines] == [
        "progress: 1 s",
        "progress: 2 s",
        "progress: 3 s",
    ]
    assert all("tx/s" in line for line in lines)


def test_quiet_prints_only_that_the_run_started() -> None:
    clock = _Clock()
    progress, out = _progress(clock, terminal=False, interval_s=1.0, quiet=True)

    _drive(progress, clock, 3)

    assert out.getvalue() == "running uow on a test database\n"


def test_seeding_shows_rows_per_second_and_the_time_left() -> None:
    # seed --scale large loads 11 M rows: the bar says how fast, and how long to go.
    state = ProgressState(
        phase="seeding", started_s=10.0, fraction=0.25, seed_rows=(2_500_000, 10_000_000)
    )

    live = format_live_status(state, now_s=20.0)
    line = format_progress_line(state, now_s=20.0)

    assert live.startswith("seeding ━━━━╺")
    assert live.endswith(
        " 25%  2,500,000 of 10,000,000 rows, 250,000 rows/s, 0:00:10 elapsed, 0:00:30 left"
    )
    assert line == "seeding: 10 s, 2,500,000 of 10,000,000 rows, 250,000 rows/s, 30 s left"


def test_seeding_at_its_first_batch_shows_no_rate_yet() -> None:
    state = ProgressState(phase="seeding", started_s=10.0, fraction=0.0, seed_rows=(0, 1_000))
    assert format_progress_line(state, now_s=10.0) == "seeding: 0 s, 0 of 1,000 rows"
