"""Reports just run render their sections as reports read back from files do.

A run's sections are the probes' own objects (PoolSection, DeadlockSection...),
not RawSection: built here in memory, they must show the same figures in the
three formats, and render exactly as once written and read back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from dbprobe.instrument.pool_trace import Holder
from dbprobe.load.health import GeneratorLoad
from dbprobe.load.sections import LoadSection, TimelineSection
from dbprobe.load.timeline import Timeline, TimelinePoint
from dbprobe.metrics import LatencySummary
from dbprobe.probes.deadlock.ledger import PairFlow, check_ledger
from dbprobe.probes.deadlock.section import DeadlockSection
from dbprobe.probes.isolation.hermitage import select_tests
from dbprobe.probes.isolation.matrix import IsolationSection, LevelInfo
from dbprobe.probes.isolation.verdicts import Outcome, PreventedBy, Verdict
from dbprobe.probes.pool.model import TimelineRow
from dbprobe.probes.pool.section import PoolSection
from dbprobe.probes.select.probe import LayerFigures, SelectSection
from dbprobe.report.markdown import format_markdown
from dbprobe.result.config import (
    DeadlockConfig,
    IsolationConfig,
    LoadShape,
    PoolConfig,
    ProbeConfig,
    ProfileConfig,
    SelectConfig,
)
from dbprobe.result.jsonio import read_report, write_report
from dbprobe.result.model import RawSection, Report, Section
from tests import synthetic
from tests.report_text import FORMATS, assert_shows, console_text, flat_html, flat_markdown, phrases


def _summary(count: int, p50: float, p99: float, mean: float) -> LatencySummary:
    return LatencySummary(count, p50, p50, p50, p99, p99, p99, p99, mean, 0.0)


def _pool() -> PoolSection:
    return PoolSection(
        pool_size=2,
        max_overflow=1,
        pool_timeout_s=0.3,
        threads=6,
        hold_ms_target=100,
        hold_method="pg_sleep",
        checkout_wait_ms=_summary(38, 101.25, 300.5, 120.75),
        hold_ms=_summary(20, 100.5, 104.25, 101.0),
        statement_ms=_summary(20, 100.125, 103.5, 100.75),
        checkouts=20,
        timeouts=18,
        peak_checked_out=3,
        capacity_per_s=29.7,
        measured_per_s=19.8,
        waits_began_at_demand=6,
        timeouts_began_at_demand=6,
        recovery_s=None,
        recovered=None,
        timeline=(TimelineRow(0, 6, 3, 3, 8), TimelineRow(1, 6, 3, 3, 10)),
        holders=(Holder("app/service.py:42", 20, 2010.0, 104.0),),
    )


def _deadlock() -> DeadlockSection:
    before = {1: 1_000, 2: 1_000, 3: 1_000}
    check = check_ledger(before, {1: 970, 2: 1_100, 3: 1_030}, [PairFlow(1, 2, 1, 100)])
    return DeadlockSection(
        backend="postgresql",
        pattern="naive",
        lock_order="random",
        isolation="read_committed",
        accounts=3,
        transfers=40,
        attempts=52,
        deadlocks=12,
        serialization_failures=0,
        lock_timeouts=0,
        busy=None,
        retries=10,
        give_ups=2,
        commits_by_attempt={1: 32, 2: 6, 3: 2},
        latency_ms=_summary(40, 3.5, 40.25, 6.0),
        write_lock_wait_ms=None,
        write_lock_wait_total_ms=None,
        invariant=check,
        deadlock_details=("Process 1 waits for ShareLock on transaction 9; blocked by process 2.",),
    )


def _isolation() -> IsolationSection:
    allowed = Verdict(Outcome.ALLOWED, "both committed 10 + 1", step=7)
    aborted = Verdict(Outcome.PREVENTED, "T2 was aborted", PreventedBy.ABORT, step=4)
    clean = Verdict(Outcome.PREVENTED, "no read showed it", PreventedBy.VISIBILITY)
    error = Verdict(Outcome.ERROR, "T2 failed at step 2", step=2)
    return IsolationSection(
        backend="postgresql",
        levels=(
            LevelInfo("read_committed", "READ COMMITTED"),
            LevelInfo("serializable", "SERIALIZABLE"),
        ),
        tests=select_tests(["G1a", "P4"]),
        verdicts={
            "read_committed": {"G1a": clean, "P4": allowed},
            "serializable": {"G1a": error, "P4": aborted},
        },
    )


def _select() -> SelectSection:
    return SelectSection(
        16,
        (
            LayerFigures("driver", 20000.0, 0.05, 0.08, 0.0, 1.0, 0.0),
            LayerFigures("orm", 1250.0, 1.5, 1.6, 1.0, 0.0625, 750.0),
        ),
    )


def _timeline_and_load() -> tuple[TimelineSection, LoadSection]:
    points = tuple(
        TimelinePoint(
            t_s=float(t),
            interval_s=1.0,
            commits=48 + t,
            errors=t % 2,
            throughput_per_s=48.0 + t,
            p50_ms=2.5 + t,
            p99_ms=20.25 + t,
            max_ms=30.0,
            in_flight_max=3,
            started=50,
            late=t,
            skipped=2 * t,
            lag_max_ms=12.5 + t,
            target_rate_per_s=50.0,
        )
        for t in range(3)
    )
    timeline = TimelineSection(Timeline(1.0, 1_767_614_400.0, points))
    load = LoadSection(
        plan=LoadShape(50.0, "uniform", ProfileConfig("steady"), 500.0, 1),
        measured_from_unix_s=1_767_614_400.0,
        measured_s=3.0,
        generator=GeneratorLoad(
            0.9,
            3.2,
            wakeups=120,
            wakeup_lag_p99_ms=4.25,
            lag_samples=300,
            loop_lag_p50_ms=0.25,
            loop_lag_p99_ms=3.5,
        ),
        late_after_ms=10.0,
    )
    return timeline, load


_CONFIGS: dict[str, ProbeConfig | None] = {
    "uow": synthetic.run_config().probe,
    "pool": PoolConfig(2, 1, 0.3, 6, 100.0, 2.0, ramp=False, trace_holders=True),
    "deadlock": DeadlockConfig(6, None, 2.0, 3, "naive", "random", 3),
    "select": SelectConfig(2, None, 1.0, 0.2, "all", 3, 16),
    "isolation": IsolationConfig(("read_committed", "serializable"), ("G1a", "P4"), 200, 10.0),
}


def _live(*sections: Section, probe: str = "uow") -> Report:
    base = synthetic.report({"op": [1.0, 2.0, 3.0]}, probe=probe)
    config = dataclasses.replace(base.config, probe=_CONFIGS[probe])
    operations = () if probe == "isolation" else base.operations
    return dataclasses.replace(base, config=config, operations=operations, sections=sections)


LIVE: dict[str, Callable[[], Report]] = {
    "pool": lambda: _live(_pool(), probe="pool"),
    "deadlock": lambda: _live(_deadlock(), probe="deadlock"),
    "isolation": lambda: _live(_isolation(), probe="isolation"),
    "select": lambda: _live(_select(), probe="select"),
    "fixed_rate": lambda: _live(*_timeline_and_load()),
}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("kind", sorted(LIVE))
def test_a_report_just_run_shows_the_figures_of_its_live_sections(kind: str, fmt: str) -> None:
    report = LIVE[kind]()
    assert not any(isinstance(s, RawSection) for s in report.sections)
    assert_shows(report, phrases(report), fmt)


@pytest.mark.parametrize("kind", sorted(LIVE))
def test_a_report_renders_the_same_just_run_and_read_back(kind: str, tmp_path: Path) -> None:
    live = LIVE[kind]()
    write_report(live, tmp_path / "r.json")
    again = read_report(tmp_path / "r.json")
    assert format_markdown(again) == format_markdown(live)
    assert console_text(again) == console_text(live)
    assert flat_html(again) == flat_html(live)


def test_live_sections_show_their_specific_figures() -> None:
    # Spelled out once, so that a figure wrongly read from the JSON cannot pass unseen.
    flat = flat_markdown(LIVE["pool"]())
    assert "checkout wait 38 101.25 101.25 300.50 300.50 300.50 300.50 120.75" in flat
    assert "app/service.py:42 20 2010 104" in flat
    flat = flat_markdown(LIVE["deadlock"]())
    assert "deadlocks (40P01) 12 (0.300 per transfer)" in flat
    assert "ledger invariant VIOLATED" in flat
    flat = flat_markdown(LIVE["isolation"]())
    assert "P4 Lost Update allowed prevented (abort)" in flat
    assert "serializable G1a: T2 failed at step 2" in flat
    flat = flat_markdown(LIVE["fixed_rate"]())
    assert "open loop: uniform arrivals at 50/s, profile steady, latency limit 500 ms" in flat
    assert "2 50.0 4.50 22.25 0 3 50.0 14.5 2 4" in flat
    assert "event loop 28 % of a core, event-loop lag p50 0.2 / p99 3.5 ms" in flat


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_sqlite_deadlock_runs_show_busy_counts_not_a_deadlock_rate(fmt: str) -> None:
    sqlite = dataclasses.replace(_deadlock(), backend="sqlite", deadlocks=0, busy=7)
    flat = FORMATS[fmt](_live(sqlite, probe="deadlock"))
    assert "SQLITE_BUSY (all kinds) 7" in flat
    assert "40P01" not in flat  # one writer at a time: SQLite cannot deadlock
