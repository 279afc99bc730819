"""The pool section and findings from fixed numbers: JSON shape, console text, messages."""

from __future__ import annotations

import dataclasses
import io

from rich.console import Console

from dbprobe.instrument.pool_trace import Holder, LeakedConnection
from dbprobe.metrics import LatencySummary
from dbprobe.probes.pool.model import TimelineRow
from dbprobe.probes.pool.section import PoolSection, pool_exhaustion_finding
from dbprobe.report.section_views import read_section
from dbprobe.report.sections_console import format_section_views
from dbprobe.result.findings import Severity
from dbprobe.result.model import Section


def _summary(count: int, p50: float, top: float, mean: float) -> LatencySummary:
    return LatencySummary(
        count=count,
        min_ms=p50,
        p50_ms=p50,
        p90_ms=p50,
        p95_ms=top,
        p99_ms=top,
        p999_ms=top,
        max_ms=top,
        mean_ms=mean,
        stddev_ms=0.0,
    )


def _section(**change: object) -> PoolSection:
    section = PoolSection(
        pool_size=2,
        max_overflow=0,
        pool_timeout_s=0.3,
        threads=6,
        hold_ms_target=1000,
        hold_method="pg_sleep",
        checkout_wait_ms=_summary(38, 301.0, 304.1, 270.4),
        hold_ms=_summary(6, 1003.5, 1006.6, 1000.0),
        statement_ms=_summary(6, 1002.5, 1005.1, 1002.7),
        checkouts=6,
        timeouts=32,
        peak_checked_out=2,
        capacity_per_s=2.0,
        measured_per_s=1.984,
        waits_began_at_demand=6,
        timeouts_began_at_demand=6,
        recovery_s=None,
        recovered=None,
        timeline=(
            TimelineRow(0, 6, 2, 4, 12),
            TimelineRow(1, 6, 2, 4, 12),
            TimelineRow(2, 0, 2, 0, 8),
        ),
        holders=(Holder("app/service.py:42", 6, 6018.9, 1005.6),),
    )
    return dataclasses.replace(section, **change)  # type: ignore[arg-type]


def _text(section: PoolSection) -> str:
    """The section on the console, as the report renders it: from its JSON."""
    console = Console(record=True, width=160, file=io.StringIO())
    console.print(*format_section_views([read_section(section.name, section.to_json())]))
    return console.export_text()


def test_section_is_a_report_section_under_the_key_pool() -> None:
    section: Section = _section()
    assert section.name == "pool"


def test_json_keeps_checkout_wait_hold_and_statement_apart() -> None:
    data = _section().to_json()
    assert data["checkout_wait_ms"] == {
        "p50": 301.0,
        "p90": 301.0,
        "p95": 304.1,
        "p99": 304.1,
        "p999": 304.1,
        "max": 304.1,
        "mean": 270.4,
        "count": 38,
    }
    assert data["statement_ms"]["p50"] == 1002.5
    assert data["hold_ms"]["count"] == 6
    assert (data["timeouts"], data["peak_checked_out"], data["overflow_used"]) == (32, 2, 0)
    assert (data["capacity_per_s"], data["measured_per_s"]) == (2.0, 1.984)
    assert data["timeline"][0] == {
        "second": 0,
        "demand": 6,
        "checked_out": 2,
        "waiting": 4,
        "timeouts": 12,
    }
    assert data["holders"] == [
        {
            "location": "app/service.py:42",
            "checkouts": 6,
            "held_ms_total": 6018.9,
            "held_ms_max": 1005.6,
        }
    ]
    assert data["leaks"] == []


def test_overflow_used_is_the_peak_beyond_pool_size() -> None:
    assert _section(max_overflow=4, peak_checked_out=6).overflow_used == 4
    assert _section(max_overflow=4, peak_checked_out=1).overflow_used == 0


def test_console_shows_the_waits_table_and_every_second_of_the_timeline() -> None:
    text = _text(_section())
    assert "checkout wait" in text
    assert "statement" in text
    assert "pool timeline, per second" in text
    lines = [line.split("│") for line in text.splitlines() if line.startswith("│")]
    timeline = [
        [cell.strip() for cell in cells[1:6]] for cells in lines if len(cells) == 8
    ]  # second, demand, checked out, waiting, timeouts (+ bar)
    assert timeline == [
        ["0", "6", "2", "4", "12"],
        ["1", "6", "2", "4", "12"],
        ["2", "0", "2", "0", "8"],
    ]
    assert "capacity 2.0/s (2 connections ÷ mean hold 1000 ms); measured 2.0/s" in text
    assert "32 of 38 checkouts timed out" in text
    assert "waits began at demand 6; timeouts began at demand 6" in text
    assert "app/service.py:42" in text


def test_a_long_timeline_is_shown_a_few_seconds_a_row() -> None:
    rows = tuple(TimelineRow(s, 10, s % 3, 0, 1) for s in range(120))
    text = _text(_section(timeline=rows))
    assert "│ 0-1 " in text
    assert "│ 118-119 │" in text
    assert len(_section(timeline=rows).to_json()["timeline"]) == 120  # JSON keeps every second


def test_recovery_is_stated_when_ramping() -> None:
    assert "recovered 0.35 s after demand fell within the pool" in _text(
        _section(recovery_s=0.35, recovered=True)
    )
    assert "not recovered" in _text(_section(recovery_s=None, recovered=False))


def test_timeouts_make_a_pool_exhaustion_warning_with_the_numbers() -> None:
    activity = [{"pid": 7, "state": "active", "wait_event": "PgSleep"}]
    finding = pool_exhaustion_finding(_section(), activity)
    assert finding is not None
    assert (finding.kind, finding.severity, finding.operation) == (
        "pool_exhaustion",
        Severity.WARNING,
        "hold",
    )
    assert finding.message.startswith(
        "32 of 38 checkouts timed out after 0.3 s: 2 of 2 connections (size 2 + overflow 0)"
    )
    assert "timeouts began at demand 6" in finding.message
    assert finding.evidence.timeouts == 32
    assert finding.evidence.checkout_wait_ms_max == 304.1
    assert finding.evidence.capacity_per_s == 2.0
    assert finding.evidence.pg_stat_activity == tuple(activity)


def test_no_timeouts_no_pool_exhaustion_finding() -> None:
    assert pool_exhaustion_finding(_section(timeouts=0)) is None


def test_leaks_are_listed_in_json_and_console_and_make_findings() -> None:
    open_leak = LeakedConnection("tests/x.py:10", 12.5, reclaimed_by_gc=False)
    gc_leak = LeakedConnection("tests/x.py:20", 3.0, reclaimed_by_gc=True)
    section = _section(leaks=(open_leak, gc_leak))
    assert section.to_json()["leaks"] == [
        {
            "location": "tests/x.py:10",
            "held_ms": 12.5,
            "reclaimed_by_gc": False,
            "still_checked_out": True,
        },
        {
            "location": "tests/x.py:20",
            "held_ms": 3.0,
            "reclaimed_by_gc": True,
            "still_checked_out": False,
        },
    ]
    finding = gc_leak.finding()
    assert finding.kind == "leaked_connection"
    assert finding.message.startswith(
        "connection checked out at tests/x.py:20 was never returned: the garbage "
        "collector reclaimed it after 3 ms"
    )
    assert "tests/x.py:10 was still checked out when the trace ended" in _text(section)
