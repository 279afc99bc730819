"""Reports of runs just made render every section, as the probe's own objects.

The unit tests render report files (sections read back as JSON); here the
sections are what the probe built in memory. Both paths must show the same.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from rich.console import Console

from dbprobe.database.engine import PoolOptions
from dbprobe.database.url import Target
from dbprobe.load.harness import TargetOptions
from dbprobe.load.plan import LoadPlan
from dbprobe.load.sections import LoadSection, TimelineSection, timeline_from_json
from dbprobe.probes import uow
from dbprobe.probes.isolation.matrix import IsolationSection
from dbprobe.probes.isolation.probe import IsolationOptions, run_isolation
from dbprobe.probes.isolation.verdicts import Verdict
from dbprobe.report.console import print_report
from dbprobe.report.html import render_html
from dbprobe.report.markdown import format_markdown
from dbprobe.report.section_views import section_views
from dbprobe.report.sections_console import format_section_views
from dbprobe.report.sections_html import format_section_views_html
from dbprobe.report.sections_markdown import format_section_views_markdown
from dbprobe.result.jsonio import read_report, write_report
from dbprobe.result.model import Report

pytestmark = pytest.mark.asyncio


def _console(report: Report) -> str:
    console = Console(record=True, width=300, file=io.StringIO())
    print_report(report, console)
    return console.export_text()


def _sections(report: Report) -> tuple[str, str, str]:
    """The report's sections in the three formats (plots left out)."""
    views = section_views(report)
    shown = (*views.own, *views.context)
    console = Console(record=True, width=300, file=io.StringIO())
    console.print(*format_section_views(shown))
    page = re.sub(r'src="data:image/png;base64,[^"]+"', 'src=""', format_section_views_html(shown))
    return console.export_text(), "\n\n".join(format_section_views_markdown(shown)), page


def _same_once_read_back(report: Report, tmp_path: Path) -> None:
    # The sections, not the whole page: the JSON rounds the run's own CPU and
    # memory figures, which a live report states unrounded.
    write_report(report, tmp_path / "run.json")
    assert _sections(read_report(tmp_path / "run.json")) == _sections(report)


async def test_a_fixed_rate_run_shows_its_timeline_and_load_in_every_format(
    sqlite_target: Target, tmp_path: Path
) -> None:
    options = TargetOptions(sqlite_target, scale="tiny", pool=PoolOptions(size=2))
    plan = LoadPlan(workers=2, duration_s=1, warmup_s=0, rate_per_s=40, arrivals="uniform")
    report = await uow.run_uow(options, uow.UowOptions(plan=plan, mix={"read_program": 1}))
    timeline = next(s for s in report.sections if isinstance(s, TimelineSection))
    assert any(isinstance(s, LoadSection) for s in report.sections)
    # Every format renders the section as its JSON states it (rounded to 3
    # decimals), so the expected row is formatted from that: formatting the
    # unrounded figure can differ in the last digit (0.4496 -> "0.4", 0.450 -> "0.5").
    first = timeline_from_json(timeline.to_json()).points[0]
    row = (
        f"{first.t_s:.0f} {first.throughput_per_s:.1f} {first.p50_ms:.2f} {first.p99_ms:.2f} "
        f"{first.errors} {first.in_flight_max} {first.target_rate_per_s:.1f} "
        f"{first.lag_max_ms:.1f} {first.late} {first.skipped}"
    )
    markdown = " ".join(format_markdown(report).replace("|", " ").split())
    console = " ".join(re.sub(r"[│┃]", " ", _console(report)).split())
    page = render_html(report)
    html_text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    for text in (markdown, console, html_text):
        assert row in text
        assert "open loop: uniform arrivals at 40/s" in text
    alt = "throughput, p50/p99 latency and errors per second, target rate and schedule lag"
    assert f'alt="{alt}"' in page
    _same_once_read_back(report, tmp_path)


async def test_an_isolation_run_shows_its_matrix_in_every_format(
    sqlite_target: Target, tmp_path: Path
) -> None:
    report = await run_isolation(
        TargetOptions(sqlite_target, scale="tiny"),
        IsolationOptions(tests=("G1a", "P4"), sqlite_busy_timeout_ms=50),
    )
    (section,) = report.sections
    assert isinstance(section, IsolationSection)
    assert [lv.name for lv in section.levels] == ["deferred", "immediate"]

    def shown(verdict: Verdict) -> str:
        how = f" ({verdict.prevented_by})" if verdict.prevented_by else ""
        return f"{verdict.outcome}{how}"

    p4 = " ".join(shown(section.verdicts[lv.name]["P4"]) for lv in section.levels)
    markdown = " ".join(format_markdown(report).replace("|", " ").replace("`", "").split())
    console = " ".join(re.sub(r"[│┃]", " ", _console(report)).split())
    assert f"P4 Lost Update {p4}" in markdown
    assert f"P4 Lost Update {p4}" in console
    assert "workers" not in markdown
    _same_once_read_back(report, tmp_path)
