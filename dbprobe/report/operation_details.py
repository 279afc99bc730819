"""The parts of the operations table that depend on the run, and what follows it (pure).

Which columns mean something depends on the run: commit latency only where a
commit was timed, service time, schedule lag, late, skipped and unstarted
only at a fixed rate, cancelled attempts only when there were some. The
SQLite write-lock waits and the failed attempts by error class follow the
table. The console, Markdown and HTML renderers all take them from here, so
the three show the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dbprobe.report.blocks import Block, Bullets, Tone, cell, table
from dbprobe.result.model import OperationReport, Report

__all__ = [
    "OPEN_LOOP_NOTE",
    "OperationColumn",
    "cancelled_columns",
    "commit_columns",
    "failed_attempts",
    "lock_waits",
    "open_loop_columns",
]

OPEN_LOOP_NOTE = (
    "at a fixed rate, latency runs from each operation's intended start (corrected for "
    "coordinated omission); svc p99: service time from the actual start; lag p99: how far "
    "behind schedule operations started; late: started behind schedule; skipped: over the "
    "latency limit, not run; unstarted: due before the end but never started"
)


def _never(_op: OperationReport) -> bool:
    return False


@dataclass(frozen=True)
class OperationColumn:
    """A column of the operations table.

    ``unit`` is added to the header where the format names units in headers
    (Markdown, HTML); ``tone`` says how a cell is to be read (a skipped count
    above zero deserves a look).
    """

    header: str
    unit: str
    value: Callable[[OperationReport], str]
    tone: Callable[[OperationReport], Tone] = lambda _op: Tone.PLAIN


def _ms(
    summary_of: Callable[[OperationReport], float | None], digits: int
) -> Callable[[OperationReport], str]:
    def value(op: OperationReport) -> str:
        v = summary_of(op)
        return "—" if v is None else f"{v:.{digits}f}"

    return value


def commit_columns(report: Report, digits: int) -> list[OperationColumn]:
    """``commit p50``, where an operation's commit was timed (the pool's holds have none)."""
    if not any(op.commit_latency_ms.count for op in report.operations):
        return []
    return [
        OperationColumn(
            "commit p50",
            "ms",
            _ms(
                lambda op: op.commit_latency_ms.p50_ms if op.commit_latency_ms.count else None,
                digits,
            ),
        )
    ]


def _counted(name: str, count: Callable[[OperationReport], int]) -> OperationColumn:
    return OperationColumn(
        name, "", lambda op: str(count(op)), lambda op: Tone.WARN if count(op) else Tone.PLAIN
    )


def cancelled_columns(report: Report) -> list[OperationColumn]:
    """``cancelled``, where attempts were still running when the run stopped (an interrupt,
    or the grace after --duration ran out): an operation that hung shows here, not as
    an error."""
    if not any(op.cancelled for op in report.operations):
        return []
    return [_counted("cancelled", lambda op: op.cancelled)]


def open_loop_columns(report: Report, digits: int) -> list[OperationColumn]:
    """Service time, schedule lag, late, skipped (and unstarted, if any) of a fixed-rate run."""
    if not any(op.open_loop for op in report.operations):
        return []
    columns = [
        OperationColumn(
            "svc p99",
            "ms",
            _ms(lambda op: op.service_latency_ms.p99_ms if op.service_latency_ms else None, digits),
        ),
        OperationColumn(
            "lag p99",
            "ms",
            _ms(lambda op: op.schedule_lag_ms.p99_ms if op.schedule_lag_ms else None, digits),
        ),
        _counted("late", lambda op: op.late),
        _counted("skipped", lambda op: op.skipped),
    ]
    if any(op.unstarted for op in report.operations):
        columns.append(_counted("unstarted", lambda op: op.unstarted))
    return columns


def lock_waits(report: Report) -> Block | None:
    """SQLite writers that waited for another's write lock: contention no error shows."""
    waits = [op for op in report.operations if op.lock_waits]
    if not waits:
        return None
    return table(
        "waited for the write lock (SQLite BEGIN IMMEDIATE, within the busy timeout)",
        ("operation", "waits", "waited s"),
        [
            (
                cell(op.name, code=True),
                cell(op.lock_waits),
                cell(f"{op.lock_wait_ms_total / 1000:.2f}"),
            )
            for op in waits
        ],
    )


def failed_attempts(report: Report) -> Block | None:
    """Attempts that rolled back, by error class, with an example message of each."""
    items = tuple(
        f"{op.name}: {cls} x{n}"
        + (f" — e.g. {op.error_samples[cls][0]}" if op.error_samples.get(cls) else "")
        for op in report.operations
        for cls, n in op.error_classes.items()
    )
    if not items:
        return None
    return Bullets("failed attempts (rolled back):", items)


def server_time(report: Report) -> Block | None:
    """Each operation's mean latency split into the server's execution of its statements
    (pg_stat_statements) and the rest: ORM, driver, network, pool wait; or why it is not."""
    split = [op for op in report.operations if op.server_ms is not None and op.commits]
    if split:
        rows = []
        for op in split:
            mean, server = op.latency_ms.mean_ms, op.server_ms or 0.0
            rows.append(
                (
                    cell(op.name, code=True),
                    cell(f"{mean:.2f}"),
                    cell(f"{server:.2f}"),
                    cell(f"{max(0.0, mean - server):.2f}"),
                )
            )
        return table(
            "time per committed operation in ms, mean: the server executing its statements "
            "(pg_stat_statements), the rest in the client (ORM, driver, network, pool wait)",
            ("operation", "latency", "server", "client"),
            rows,
        )
    if report.target.server_time_note:
        return Bullets("server time not split out:", (report.target.server_time_note,))
    return None
