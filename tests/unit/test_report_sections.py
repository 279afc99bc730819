"""Every probe's own sections, in every format: console, Markdown and HTML.

A report read back from a file carries its sections as RawSection (JSON
only), a report just run carries the probe's own objects; both must show the
same figures. The fixtures (``fixtures/reports/``, written by dbprobe) cover
the first path, the sections built here in memory the second.

Each format is flattened to its words (table rules, pipes, tags and
backquotes removed, whitespace collapsed), so that one expected phrase, e.g.
a table row ``checkout wait 61 214.53 ...``, is looked for in all three.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import html
import io
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

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
from dbprobe.report.console import print_report
from dbprobe.report.html import render_html
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

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "reports"
_PNG = b"\x89PNG\r\n\x1a\n"
_RULES = re.compile(r"[│┃┏┓┗┛━─┡┩╇┳┻╋┼┬┴├┤└┘┌┐╭╮╰╯]")


# --------------------------------------------------------------------------- the three formats


def _console(report: Report) -> str:
    console = Console(record=True, width=300, file=io.StringIO())
    print_report(report, console)
    return console.export_text()


def _flat_console(report: Report) -> str:
    return " ".join(_RULES.sub(" ", _console(report)).split())


def _flat_markdown(report: Report) -> str:
    text = format_markdown(report).replace("\\|", "¦").replace("|", " ").replace("¦", "|")
    return " ".join(text.replace("`", "").replace("**", "").split())


def _flat_html(report: Report) -> str:
    text = re.sub(r"<[^>]+>", " ", _page(report))
    return " ".join(html.unescape(text).split())


_PAGES: dict[int, tuple[Report, str]] = {}


def _page(report: Report) -> str:
    # Drawing the plots takes a while: each report's page is rendered once.
    # The report is kept with its page, so that its id is not reused.
    cached = _PAGES.get(id(report))
    if cached is None or cached[0] is not report:
        cached = _PAGES[id(report)] = (report, render_html(report))
    return cached[1]


FORMATS: dict[str, Callable[[Report], str]] = {
    "console": _flat_console,
    "markdown": _flat_markdown,
    "html": _flat_html,
}
#: Digits of latencies in the operations table of each format.
DIGITS = {"console": 2, "markdown": 3, "html": 3}


def _assert_shows(report: Report, phrases: list[str], fmt: str) -> None:
    flat = FORMATS[fmt](report)
    missing = [p for p in phrases if " ".join(p.split()) not in flat]
    assert not missing, f"{fmt} lacks {missing}:\n{flat}"


def _images(page: str) -> dict[str, bytes]:
    return {
        alt: base64.b64decode(data)
        for data, alt in re.findall(
            r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)">', page
        )
    }


_REPORTS: dict[str, Report] = {}


def _fixture(name: str) -> Report:
    if name not in _REPORTS:
        _REPORTS[name] = read_report(FIXTURES / f"{name}.json")
    return _REPORTS[name]


def _json(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- expected figures
# Built from the JSON each report file holds, so that the test states which
# figures a section shows and how they are written, not copies of them.


def _pool_phrases(data: Mapping[str, Any]) -> list[str]:
    keys = ("p50", "p90", "p95", "p99", "p999", "max", "mean")
    phrases = [
        f"{label} {data[key]['count']} " + " ".join(f"{data[key][k]:.2f}" for k in keys)
        for label, key in (
            ("checkout wait", "checkout_wait_ms"),
            ("hold", "hold_ms"),
            ("statement", "statement_ms"),
        )
    ]
    connections = data["pool_size"] + data["max_overflow"]
    attempts = data["checkouts"] + data["timeouts"]
    phrases += [
        f"size {data['pool_size']} + overflow {data['max_overflow']} = {connections} connections",
        f"{data['timeouts']} of {attempts} checkouts timed out",
        f"peak checked out {data['peak_checked_out']} of {connections}",
        f"overflow used {data['overflow_used']}",
        f"measured {data['measured_per_s']:.1f}/s",
    ]
    phrases += [
        f"{r['second']} {r['demand']} {r['checked_out']} {r['waiting']} {r['timeouts']}"
        for r in data["timeline"]
    ]
    phrases += [
        f"{h['location']} {h['checkouts']} {h['held_ms_total']:.0f} {h['held_ms_max']:.0f}"
        for h in data["holders"]
    ]
    return phrases


def _deadlock_phrases(data: Mapping[str, Any]) -> list[str]:
    lat = data["latency_ms"]
    finished = data["transfers"] + data["give_ups"]
    attempts = ", ".join(f"{k}: {n}" for k, n in data["commits_by_attempt"].items())
    phrases = [
        f"pattern {data['pattern']}, lock order {data['lock_order']}, "
        f"isolation {data['isolation']}, {data['accounts']} accounts",
        f"committed transfers {data['transfers']} of {finished}",
        f"deadlocks (40P01) {data['deadlocks']} ({data['deadlock_rate']:.3f} per transfer)",
        f"retries / give-ups {data['retries']} / {data['give_ups']}",
        f"committed on attempt {attempts}",
        f"latency p50 / p99 / max {lat['p50']:.2f} / {lat['p99']:.2f} / {lat['max']:.2f} ms",
    ]
    inv = data["invariant"]
    if inv["holds"]:
        phrases.append(
            f"ledger invariant holds: {inv['transfers_checked']} transfers, sum {inv['sum_after']}"
        )
    else:
        phrases.append(
            f"ledger invariant VIOLATED: {inv['accounts_mismatched']} accounts off by "
            f"{inv['amount_lost_cents']} cents; sum {inv['sum_before']} -> {inv['sum_after']}"
        )
        phrases += [
            f"{m['account_id']} {m['before_cents']} {m['expected_cents']} {m['actual_cents']} "
            f"{m['difference_cents']:+d}"
            for m in inv["mismatches"]
        ]
    if data["deadlock_details"]:
        phrases.append(data["deadlock_details"][0].splitlines()[0])
    return phrases


def _isolation_phrases(data: Mapping[str, Any]) -> list[str]:
    levels = [lv["name"] for lv in data["levels"]]
    phrases = ["test anomaly " + " ".join(levels)]
    for test in data["tests"]:
        cells = []
        for level in levels:
            cell = data["matrix"][level][test["name"]]
            cell = "error" if cell.startswith("error") else cell
            how = data["prevented_by"][level].get(test["name"])
            cells.append(f"{cell} ({how})" if how else cell)
        phrases.append(f"{test['name']} {test['title']} " + " ".join(cells))
    phrases += [f"{lv['name']}: {lv['description']}" for lv in data["levels"]]
    return phrases


def _select_phrases(data: Mapping[str, Any]) -> list[str]:
    return [f"ids drawn from {data['accounts']} accounts"] + [
        f"{f['layer']} {f['throughput_per_s']:.1f} {f['p50_ms']:.3f} {f['mean_ms']:.3f} "
        f"{f['statements_per_op']:.1f} {f['relative_throughput']:.1%} "
        f"+{f['added_us_per_select']:,.0f} µs"
        for f in data["layers"]
    ]


def _timeline_phrases(data: Mapping[str, Any]) -> list[str]:
    (point, *_rest) = data["points"]
    # Seconds are whole for intervals of a second or more (a repo run's phases are shorter).
    digits = 0 if point["interval_s"] >= 1 else 2
    row = (
        f"{point['t_s']:.{digits}f} {point['throughput_per_s']:.1f} {point['p50_ms']:.2f} "
        f"{point['p99_ms']:.2f} {point['errors']} {point['in_flight_max']}"
    )
    if "target_rate_per_s" in point:
        row += (
            f" {point['target_rate_per_s']:.1f} {point['lag_max_ms']:.1f} {point['late']} "
            f"{point['skipped']}"
        )
    return [row]


def _load_phrases(data: Mapping[str, Any]) -> list[str]:
    phrases = [f"measured {data['measured_s']:.1f} s"]
    if data["mode"] == "open":
        phrases.append(f"open loop: {data['arrivals']} arrivals at {data['rate_per_s']:g}/s")
        g = data["generator"]
        phrases.append(f"wake-up lag p99 {g['wakeup_lag_p99_ms']:.1f} ms")
    else:
        phrases.append("closed loop")
    if data["processes"] > 1:
        phrases.append(f"{data['processes']} processes")
    return phrases


def _merge_phrases(data: Mapping[str, Any]) -> list[str]:
    phrases = [
        f"merged {len(data['reports'])} reports, measured together for "
        f"{data['common_window_s']:.1f} s"
    ]
    for part in data["reports"]:
        started = dt.datetime.fromisoformat(part["started_at"]).isoformat(timespec="seconds")
        ops = ", ".join(f"{name} {n}" for name, n in part["operations"].items())
        phrases.append(f"{part['host']} {started} {part['measured_s']:.1f} {ops}")
    return phrases


SECTION_PHRASES: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    "pool": _pool_phrases,
    "deadlock": _deadlock_phrases,
    "isolation": _isolation_phrases,
    "select": _select_phrases,
    "timeline": _timeline_phrases,
    "load": _load_phrases,
    "merge": _merge_phrases,
}


def _phrases(report: Report) -> list[str]:
    """The key figures of every section ``report`` carries, as its JSON states them."""
    phrases: list[str] = []
    for section in report.sections:
        phrases += SECTION_PHRASES[section.name](section.to_json())
    return phrases


# --------------------------------------------------------------------------- report files

FIXTURE_NAMES = sorted(p.stem for p in FIXTURES.glob("*.json"))


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@pytest.mark.parametrize("name", FIXTURE_NAMES)
def test_every_section_of_a_report_file_shows_its_figures(name: str, fmt: str) -> None:
    report = _fixture(name)
    assert all(isinstance(s, RawSection) for s in report.sections)
    _assert_shows(report, _phrases(report), fmt)


def test_the_fixtures_hold_every_section_kind_a_probe_writes() -> None:
    names = {s.name for n in FIXTURE_NAMES for s in _fixture(n).sections}
    assert names == set(SECTION_PHRASES)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_the_isolation_report_is_the_matrix_not_an_empty_workload(fmt: str) -> None:
    report = _fixture("isolation")
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
    pool = FORMATS[fmt](_fixture("pool"))
    assert "isolation read_committed" not in pool  # the pool probe holds, it does not transact
    assert "scale tiny" not in pool  # nor reads the seeded data
    assert "commit p50" not in pool  # no commit was timed
    assert "10 workers" in pool
    uow = FORMATS[fmt](_fixture("uow"))
    assert "commit p50" in uow
    assert "scale tiny" in uow
    assert "4 workers, isolation serializable" in uow
    scenarios = dataclasses.replace(
        _fixture("run"),
        target=dataclasses.replace(_fixture("run").target, scale="none"),
    )
    assert "scale" not in FORMATS[fmt](scenarios)  # user scenarios on their own engine
    plugin = FORMATS[fmt](_fixture("pytest"))
    assert "workers" not in plugin
    assert "isolation" not in plugin


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_a_fixed_rate_run_shows_service_latency_lag_late_skipped_and_unstarted(fmt: str) -> None:
    report = _fixture("uow_rate")
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
    report = _fixture("uow_rate")
    flat = FORMATS[fmt](report)
    assert "waited for the write lock" in flat
    for op in report.operations:
        if op.lock_waits:
            assert f"{op.name} {op.lock_waits} {op.lock_wait_ms_total / 1000:.2f}" in flat


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_an_n_plus_one_finding_names_the_file_and_line(fmt: str) -> None:
    report = _fixture("run")
    locations = [f.location for f in report.findings if f.location]
    assert locations
    flat = FORMATS[fmt](report)
    for location in locations:
        assert location in flat


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_failed_attempts_are_listed_by_class(fmt: str) -> None:
    report = _fixture("pool")
    (op,) = report.operations
    flat = FORMATS[fmt](report)
    for cls, n in op.error_classes.items():
        assert f"{op.name}: {cls} x{n}" in flat


@pytest.mark.parametrize("name", [n for n in FIXTURE_NAMES if "timeline" in _json(n)])
def test_html_has_a_time_series_plot_for_every_run_with_a_timeline(name: str) -> None:
    images = _images(_page(_fixture(name)))
    fixed_rate = any(op.open_loop for op in _fixture(name).operations)
    alt = "throughput, p50/p99 latency and errors per second" + (
        ", target rate and schedule lag" if fixed_rate else ""
    )
    assert alt in images
    assert images[alt].startswith(_PNG)


def test_html_plots_the_pool_timeline() -> None:
    images = _images(_page(_fixture("pool")))
    assert images["pool connections per second: demand, checked out, waiting, timeouts"].startswith(
        _PNG
    )


def test_html_is_still_one_self_contained_file_with_the_sections() -> None:
    for name in FIXTURE_NAMES:
        page = _page(_fixture(name)).lower()
        for external in ('src="http', 'href="http', "url(http", "@import", "<script", "<link"):
            assert external not in page, (name, external)


# --------------------------------------------------------------------------- sections just run


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
        generator=GeneratorLoad(0.9, 3.2, wakeups=120, wakeup_lag_p99_ms=4.25),
        late_after_ms=10.0,
    )
    return timeline, load


_CONFIGS: dict[str, ProbeConfig] = {
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
    _assert_shows(report, _phrases(report), fmt)


@pytest.mark.parametrize("kind", sorted(LIVE))
def test_a_report_renders_the_same_just_run_and_read_back(kind: str, tmp_path: Path) -> None:
    live = LIVE[kind]()
    write_report(live, tmp_path / "r.json")
    again = read_report(tmp_path / "r.json")
    assert format_markdown(again) == format_markdown(live)
    assert _console(again) == _console(live)
    assert _flat_html(again) == _flat_html(live)


def test_live_sections_show_their_specific_figures() -> None:
    # Spelled out once, so that a figure wrongly read from the JSON cannot pass unseen.
    flat = _flat_markdown(LIVE["pool"]())
    assert "checkout wait 38 101.25 101.25 300.50 300.50 300.50 300.50 120.75" in flat
    assert "app/service.py:42 20 2010 104" in flat
    flat = _flat_markdown(LIVE["deadlock"]())
    assert "deadlocks (40P01) 12 (0.300 per transfer)" in flat
    assert "ledger invariant VIOLATED" in flat
    flat = _flat_markdown(LIVE["isolation"]())
    assert "P4 Lost Update allowed prevented (abort)" in flat
    assert "serializable G1a: T2 failed at step 2" in flat
    flat = _flat_markdown(LIVE["fixed_rate"]())
    assert "open loop: uniform arrivals at 50/s, profile steady, latency limit 500 ms" in flat
    assert "2 50.0 4.50 22.25 0 3 50.0 14.5 2 4" in flat


@pytest.mark.parametrize(
    ("low", "high"), [(200.0, 210.0), (150.0, 900.0), (5.0, 95.0), (0.05, 300.0)]
)
def test_a_log_latency_axis_has_labelled_ticks_however_narrow_its_range(
    low: float, high: float
) -> None:
    # The pool's holds all last about --hold-ms: a histogram within one decade,
    # where a log axis has no major tick, was drawn without a single label.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from dbprobe.report.plots import _plain_log_axis

    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([low, high], [0.0, 1.0])
    _plain_log_axis(ax, "x")
    ax.set_xlim(low, high)
    fig.canvas.draw()
    labels = ax.get_xticklabels(which="both")
    # Labels of ticks outside the range are not drawn.
    shown = [t.get_text() for t in labels if t.get_text() and low <= t.get_position()[0] <= high]
    wanted = 2 if high / low < 10 else 3  # a decade or more: at least three
    assert len(shown) >= wanted, [(t.get_position()[0], t.get_text()) for t in labels]
    # Plain numbers, not 2x10^2.
    assert all(re.fullmatch(r"[0-9.]+", text) for text in shown), shown


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_sqlite_deadlock_runs_show_busy_counts_not_a_deadlock_rate(fmt: str) -> None:
    sqlite = dataclasses.replace(_deadlock(), backend="sqlite", deadlocks=0, busy=7)
    flat = FORMATS[fmt](_live(sqlite, probe="deadlock"))
    assert "SQLITE_BUSY (all kinds) 7" in flat
    assert "40P01" not in flat  # one writer at a time: SQLite cannot deadlock
