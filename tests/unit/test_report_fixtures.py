"""Report files written by an earlier dbprobe load, render and compare unchanged.

``fixtures/reports/`` holds one report per probe (and the variants that carry
every finding kind), written by the dbprobe of the commit that added them. The
JSON contract (``dbprobe.report/1``) promises that such files stay readable:
parsed and written again they give back exactly the same JSON, and every
renderer and the regression gate accept them.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from rich.console import Console

from dbprobe.gate.compare import Verdict, compare_reports
from dbprobe.report.console import print_report
from dbprobe.report.exports import pytest_benchmark_json
from dbprobe.report.html import render_html
from dbprobe.report.markdown import format_markdown
from dbprobe.report.merge import merge_reports
from dbprobe.result.jsonio import read_report, report_from_dict, report_to_dict, write_report
from tests.report_text import fixture, page

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "reports"
FILES = sorted(FIXTURES.glob("*.json"))
# With the section tests in one worker: each fixture's HTML page, whose plots
# take seconds to draw, is then drawn once for all of them (tests/report_text.py).
pytestmark = pytest.mark.xdist_group("report_fixture_pages")
PROBES = {"uow", "repo", "select", "pool", "deadlock", "isolation", "run", "pytest"}


def test_there_is_a_report_of_every_probe() -> None:
    probes = {json.loads(p.read_text("utf-8"))["run"]["probe"] for p in FILES}
    assert probes == PROBES


def test_the_fixtures_carry_every_finding_kind_dbprobe_writes() -> None:
    kinds = {f["kind"] for p in FILES for f in json.loads(p.read_text("utf-8"))["findings"]}
    assert kinds == {
        "anomaly",
        "deadlock",
        "generator_saturated",
        "improvement",
        "leaked_connection",
        "lost_update",
        "merge_window_mismatch",
        "missing_greenlet",
        "n_plus_one",
        "pool_exhaustion",
        "regression",
        "seq_scan",
        "service_interruption",
        "slo_violation",
        "teardown_failed",
        "unindexed_foreign_key",
        "unused_eager_load",
    }


def test_a_report_written_with_explain_keeps_its_plans_typed() -> None:
    report = read_report(FIXTURES / "repo_explain.json")
    assert len(report.plans) == 6
    lazy = [p for p in report.plans if "WHERE ? = session_exercises.session_id" in p.fingerprint]
    (plan,) = lazy
    assert plan.operations == ("session_exercises_lazy",)
    assert [(n.node_type, n.relation, n.seq_read) for n in plan.nodes] == [
        ("Sort", None, False),
        ("Seq Scan", "session_exercises", True),
    ]
    # Reports without plans (every other fixture) read with none.
    assert read_report(FIXTURES / "repo.json").plans == ()
    console = Console(record=True, width=200)
    print_report(report, console)
    assert "6 of 6 statements explained" in console.export_text()
    markdown = format_markdown(report)
    html = render_html(report)
    assert "Seq Scan on session_exercises (rows 7) [Filter: (? = session_id)]" in markdown
    assert "Seq Scan on session_exercises (rows 7) [Filter: (? = session_id)]" in html


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_an_old_report_parses_and_writes_back_the_same_json(path: Path) -> None:
    written = json.loads(path.read_text("utf-8"))
    again = json.loads(json.dumps(report_to_dict(read_report(path))))
    assert again == written


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_an_old_report_keeps_its_run_header_key_for_key_without_an_event_loop(path: Path) -> None:
    # Written before the event loop was recorded: none is made up on the way back.
    written = json.loads(path.read_text("utf-8"))["run"]
    again = report_to_dict(read_report(path))["run"]
    assert "loop" not in written
    assert read_report(path).run.loop is None
    assert list(again.items()) == list(written.items())


@pytest.mark.parametrize("name", ["uow", "pytest", "merged"])
def test_an_old_report_writes_back_byte_for_byte(name: str, tmp_path: Path) -> None:
    # One report of each writer of a run header: a probe, the pytest plugin, a merge.
    path = FIXTURES / f"{name}.json"
    write_report(read_report(path), tmp_path / "again.json")
    assert (tmp_path / "again.json").read_bytes() == path.read_bytes()


def test_the_event_loop_a_run_recorded_is_read_back(tmp_path: Path) -> None:
    report = read_report(FIXTURES / "uow.json")
    report = dataclasses.replace(report, run=dataclasses.replace(report.run, loop="uvloop"))
    write_report(report, tmp_path / "uvloop.json")
    run = json.loads((tmp_path / "uvloop.json").read_text("utf-8"))["run"]
    assert run["loop"] == "uvloop"
    assert list(run)[list(run).index("python") + 1] == "loop"  # beside the Python it ran on
    assert read_report(tmp_path / "uvloop.json").run.loop == "uvloop"
    run["loop"] = 3
    with pytest.raises(ValueError, match='"loop" must be a string'):
        report_from_dict({**json.loads((tmp_path / "uvloop.json").read_text("utf-8")), "run": run})


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_an_old_report_renders_in_every_format(path: Path) -> None:
    report = fixture(path.stem)
    console = Console(record=True, width=200)
    print_report(report, console)
    text = console.export_text()
    markdown = format_markdown(report)
    html = page(report)
    for op in report.operations:
        assert op.name in text
        assert op.name in markdown
        assert op.name in html
    for finding in report.findings:
        # The console and Markdown show each finding's message whole.
        assert " ".join(finding.message.split()) in " ".join(text.split())
        assert finding.message.replace("|", "\\|") in markdown
    benchmarks = pytest_benchmark_json([report])["benchmarks"]
    # Operations that never committed have no latency to export.
    timed = [op.name for op in report.operations if op.latency_ms.count]
    assert [b["name"] for b in benchmarks] == timed


@pytest.mark.parametrize(
    "path", [p for p in FILES if read_report(p).operations], ids=lambda p: p.stem
)
def test_an_old_report_compared_with_itself_has_no_regression(path: Path) -> None:
    report = read_report(path)
    comparison = compare_reports(report, report, allow_mismatch=True)
    assert [r.operation for r in comparison.results] == [op.name for op in report.operations]
    assert {r.verdict for r in comparison.results} <= {Verdict.UNCHANGED, Verdict.INSUFFICIENT}
    assert comparison.regressions() == ()


def test_old_reports_of_one_probe_merge() -> None:
    parts = [read_report(FIXTURES / "uow.json"), read_report(FIXTURES / "uow_gate.json")]
    merged = merge_reports(parts)
    for op in merged.operations:
        assert op.count == sum(p.operation(op.name).count for p in parts)
