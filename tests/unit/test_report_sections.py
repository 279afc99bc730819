"""Every probe's own sections, in every format (console, Markdown, HTML), from report files.

A report read back from a file carries its sections as RawSection (JSON
only): the fixtures (``fixtures/reports/``, one report of every probe, written
by dbprobe) must show every section's figures in all three formats.
Reports just run, whose sections are the probes' own objects, are
``test_report_sections_live.py``'s.
"""

from __future__ import annotations

import dataclasses

import pytest

from dbprobe.result.model import RawSection
from tests.report_text import (
    DIGITS,
    FIXTURES,
    FORMATS,
    PNG,
    SECTION_PHRASES,
    assert_shows,
    fixture,
    fixture_json,
    images,
    page,
    phrases,
)

FIXTURE_NAMES = sorted(p.stem for p in FIXTURES.glob("*.json"))

# With test_report_fixtures in one worker, so that each fixture's page is drawn once.
pytestmark = pytest.mark.xdist_group("report_fixture_pages")


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_section_of_a_report_file_shows_its_figures(name: str, fmt: str) -> None:
    report = fixture(name)
    assert all(isinstance(s, RawSection) for s in report.sections)
    assert_shows(report, phrases(report), fmt)


def test_the_fixtures_hold_every_section_kind_a_probe_writes() -> None:
    names = {s.name for n in FIXTURE_NAMES for s in fixture(n).sections}
    assert names == set(SECTION_PHRASES)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_the_isolation_report_is_the_matrix_not_an_empty_workload(fmt: str) -> None:
    report = fixture("isolation")
    flat = FORMATS[fmt](report)
    assert "P4 Lost Update allowed prevented (abort) prevented (abort)" in flat
    assert "G0 Write Cycles (dirty writes) prevented (lock_wait) prevented (abort)" in flat
    # A matrix of transactions has no workers, no seeded scale, no level of its own.
    for meaningless in ("workers", "scale", "isolation read_committed", "No findings"):
        assert meaningless not in flat, meaningless
    assert "p50" not in flat  # no empty operations table
    assert "tx/s" not in flat


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_fields_that_mean_nothing_for_a_probe_are_not_shown(fmt: str) -> None:
    pool = FORMATS[fmt](fixture("pool"))
    assert "isolation read_committed" not in pool  # the pool probe holds, it does not transact
    assert "scale tiny" not in pool  # nor reads the seeded data
    assert "commit p50" not in pool  # no commit was timed
    assert "10 workers" in pool
    uow = FORMATS[fmt](fixture("uow"))
    assert "commit p50" in uow
    assert "scale tiny" in uow
    assert "4 workers, isolation serializable" in uow
    scenarios = dataclasses.replace(
        fixture("run"),
        target=dataclasses.replace(fixture("run").target, scale="none"),
    )
    assert "scale" not in FORMATS[fmt](scenarios)  # user scenarios on their own engine
    plugin = FORMATS[fmt](fixture("pytest"))
    assert "workers" not in plugin
    assert "isolation" not in plugin


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_fixed_rate_run_shows_service_latency_lag_late_skipped_and_unstarted(fmt: str) -> None:
    report = fixture("uow_rate")
    flat = FORMATS[fmt](report)
    digits = DIGITS[fmt]
    for header in ("svc p99", "lag p99", "late", "skipped", "unstarted"):
        assert header in flat
    for op in report.operations:
        assert op.service_latency_ms is not None
        assert op.schedule_lag_ms is not None
        assert f"{op.service_latency_ms.p99_ms:.{digits}f}" in flat
        assert f"{op.schedule_lag_ms.p99_ms:.{digits}f}" in flat
    assert "intended start" in flat
    assert "target/s lag max late skipped" in flat  # the timeline's fixed-rate columns


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_sqlite_lock_waits_are_shown_per_operation(fmt: str) -> None:
    report = fixture("uow_rate")
    flat = FORMATS[fmt](report)
    assert "waited for the write lock" in flat
    for op in report.operations:
        if op.lock_waits:
            assert f"{op.name} {op.lock_waits} {op.lock_wait_ms_total / 1000:.2f}" in flat


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_an_n_plus_one_finding_names_the_file_and_line(fmt: str) -> None:
    report = fixture("run")
    locations = [f.location for f in report.findings if f.location]
    assert locations
    flat = FORMATS[fmt](report)
    for location in locations:
        assert location in flat


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_failed_attempts_are_listed_by_class(fmt: str) -> None:
    report = fixture("pool")
    (op,) = report.operations
    flat = FORMATS[fmt](report)
    for cls, n in op.error_classes.items():
        assert f"{op.name}: {cls} x{n}" in flat


@pytest.mark.parametrize("name", [n for n in FIXTURE_NAMES if "timeline" in fixture_json(n)])
def test_html_has_a_time_series_plot_for_every_run_with_a_timeline(name: str) -> None:
    drawn = images(page(fixture(name)))
    fixed_rate = any(op.open_loop for op in fixture(name).operations)
    alt = "throughput, p50/p99 latency and errors per second" + (
        ", target rate and schedule lag" if fixed_rate else ""
    )
    assert alt in drawn
    assert drawn[alt].startswith(PNG)


def test_html_plots_the_pool_timeline() -> None:
    drawn = images(page(fixture("pool")))
    assert drawn["pool connections per second: demand, checked out, waiting, timeouts"].startswith(
        PNG
    )


def test_html_is_still_one_self_contained_file_with_the_sections() -> None:
    for name in FIXTURE_NAMES:
        text = page(fixture(name)).lower()
        for external in ('src="http', 'href="http', "url(http", "@import", "<script", "<link"):
            assert external not in text, (name, external)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_section_this_dbprobe_cannot_read_is_shown_as_its_keys_and_values(fmt: str) -> None:
    # Written by another dbprobe version: a new kind, and a known kind in another shape.
    newer = RawSection("calibration", {"cpu_ms": 12.5, "reference": {"select_1_ms": 0.25}})
    older = RawSection("pool", {"pool_size": 5, "checkouts": 40})
    report = dataclasses.replace(fixture("uow"), sections=(newer, older))
    flat = FORMATS[fmt](report)
    for phrase in ("cpu_ms 12.5", "reference.select_1_ms 0.25", "pool_size 5", "checkouts 40"):
        assert phrase in flat


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_the_retries_that_followed_a_deadlock_are_shown_where_the_report_has_them(
    fmt: str,
) -> None:
    data = fixture_json("deadlock")["deadlock"] | {"deadlock_retries": 2, "deadlock_give_ups": 0}
    report = dataclasses.replace(fixture("deadlock"), sections=(RawSection("deadlock", data),))
    assert "retries / give-ups 2 / 0 (2 / 0 after a deadlock)" in FORMATS[fmt](report)
