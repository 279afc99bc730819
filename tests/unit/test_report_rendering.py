"""The Markdown and HTML reports: structure, self-containment, what they show."""

from __future__ import annotations

import base64
import random
import re
from pathlib import Path
from types import ModuleType

import pytest

from dbprobe.errors import HtmlUnavailableError, ReportFileError, UnknownBaselineError
from dbprobe.gate.compare import compare_reports
from dbprobe.gate.store import HistoryStore
from dbprobe.gate.trend import history
from dbprobe.report.html import render_html, render_suite_html
from dbprobe.report.markdown import format_markdown, format_suite_markdown
from dbprobe.report.render import Format, render_report_file
from dbprobe.report.view import ReportView
from dbprobe.result.findings import Finding, FindingKind, NPlusOneEvidence, Severity
from dbprobe.result.jsonio import write_report
from dbprobe.result.model import Report
from tests import synthetic

_PNG = b"\x89PNG\r\n\x1a\n"


def _pair() -> tuple[Report, Report]:
    rng = random.Random(31)
    names = ("read_program", "list|pipes", "reschedule_session", "create_program")
    # 600 latencies a round: steady enough rounds for a verdict of "unchanged".
    base = {n: synthetic.lognormal_ms(rng, 6000, median_ms=1 + i) for i, n in enumerate(names)}
    cur = {n: list(v) for n, v in base.items()}
    cur["create_program"] = [v * 1.7 for v in cur["create_program"]]
    finding = Finding(
        FindingKind.N_PLUS_ONE,
        Severity.WARNING,
        "read_program",
        "N+1: Program.microcycles lazy-loaded 12 times; <load it> with selectinload",
        NPlusOneEvidence(
            fingerprint="SELECT ... FROM microcycles WHERE ? = microcycles.program_id",
            executions=12,
            distinct_parameters=12,
            relationship="Program.microcycles",
            suggestion=".options(selectinload(Program.microcycles))",
            location=None,
            time_ms=3.0,
        ),
    )
    return synthetic.report(base), synthetic.report(cur, findings=(finding,), host="ci-2")


@pytest.fixture(scope="module")
def view() -> ReportView:
    baseline, current = _pair()
    return ReportView(current, baseline, compare_reports(baseline, current, baseline_label="main"))


def _tables(markdown: str) -> list[list[str]]:
    """Consecutive lines that start with a pipe."""
    tables: list[list[str]] = []
    current: list[str] = []
    for line in markdown.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    if current:
        tables.append(current)
    return tables


def _cells(row: str) -> list[str]:
    # Split on pipes that are not escaped.
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip())[1:-1]]


def test_markdown_is_pipe_tables_with_the_verdicts(view: ReportView) -> None:
    text = format_markdown(view)
    tables = _tables(text)
    assert len(tables) == 2  # comparison, operations
    for table in tables:
        header, delimiter, *rows = table
        width = len(_cells(header))
        assert re.fullmatch(r"\|( -{3}:? \|)+", delimiter)
        assert len(_cells(delimiter)) == width
        assert rows
        for row in rows:
            assert row.endswith(" |")
            assert len(_cells(row)) == width, row
    comparison = {_cells(r)[0]: _cells(r) for r in tables[0][2:]}
    assert comparison["`create_program`"][-1] == "🔴 regressed (critical)"
    assert comparison["`read_program`"][-1] == "⚪ unchanged"
    assert "`list\\|pipes`" in comparison  # the pipe in a name does not split the cell
    assert "1 regression (1 critical), 3 unchanged" in text
    assert "> ⚠️ the runs are from different hosts (ci-1 vs ci-2)" in text
    assert "- ⚠️ **warning** `n_plus_one` `read_program`: N+1: Program.microcycles" in text


def test_markdown_without_a_baseline_has_the_operations_and_says_no_findings() -> None:
    baseline, _ = _pair()
    text = format_markdown(baseline)
    assert text.startswith("### dbprobe uow on sqlite (SQLite 3.40.1), scale tiny, seed 1\n")
    assert len(_tables(text)) == 1
    assert "No findings." in text
    assert "Compared with" not in text


@pytest.fixture(scope="module")
def page(view: ReportView) -> str:
    return render_html(view)


def test_html_is_one_file_that_references_nothing_outside_itself(page: str) -> None:
    lowered = page.lower()
    for external in ('src="http', "src='http", 'href="http', "href='http", "url(http", "@import",
                     "<script", "<link", "<iframe", 'src="//', 'href="//'):  # fmt: skip
        assert external not in lowered, external
    assert re.findall(r'src="([^"]+)"', page)  # every src is inline data
    assert all(
        src.startswith("data:image/png;base64,") for src in re.findall(r'src="([^"]+)"', page)
    )


def test_html_holds_the_plots_findings_and_comparison(page: str) -> None:
    images = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)">', page)
    assert [alt for _, alt in images] == [
        "latency by percentile, per operation",
        "latency histogram, per operation",
        "throughput per operation",
    ]
    for data, _ in images:
        assert base64.b64decode(data).startswith(_PNG)
    assert (
        "N+1: Program.microcycles lazy-loaded 12 times; &lt;load it&gt; with selectinload" in page
    )
    assert "<strong>regressed (critical)</strong>" in page
    assert '<tr class="regressed"><td><code>create_program</code>' in page
    assert "Comparison with the baseline" in page


def test_html_and_markdown_show_the_history_when_given(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite3")
    rng = random.Random(2)
    for i in range(12):
        slow = 1.4 if i >= 6 else 1.0
        store.record(
            synthetic.report(
                {"read": [v * slow for v in synthetic.lognormal_ms(rng, 200, sigma=0.2)]},
                started_at=synthetic.T0.replace(hour=i),
            ),
            label=f"c{i}",
        )
    trend = history(store, "uow", "read")
    assert [p.label for p in trend.step_runs()] == ["c6"]
    report = store.run_report(store.runs()[-1].id)
    view = ReportView(report, trends=(trend,))
    page = render_html(view)
    assert 'alt="history of the operation"' in page
    assert "dashed lines mark step changes" in page
    assert "| `read` | p50 | 12 |" in format_markdown(view)
    assert re.search(r"\| worse by 4\d% at run c6 \|", format_markdown(view))


def test_without_matplotlib_the_html_report_is_a_clear_usage_error(view: ReportView) -> None:
    def missing() -> ModuleType:
        raise HtmlUnavailableError("the HTML report needs matplotlib; pip install 'dbprobe[html]'")

    with pytest.raises(HtmlUnavailableError, match=r"pip install 'dbprobe\[html\]'"):
        render_html(view, plots_loader=missing)


def test_suite_documents_put_a_summary_first(view: ReportView) -> None:
    _baseline, _ = _pair()
    views = [view, ReportView(synthetic.report({"x": [1.0] * 20}, probe="repo"))]
    text = format_suite_markdown(views)
    summary = _tables(text)[0]
    assert _cells(summary[0]) == ["probe", "operations", "error findings", "against baseline"]
    assert _cells(summary[2]) == ["uow", "4", "0", "1 regression (1 critical), 3 unchanged"]
    assert _cells(summary[3]) == ["repo", "1", "0", "no baseline"]
    page = render_suite_html(views)
    assert '<a href="#uow">uow</a>' in page
    assert 'id="repo"' in page
    assert page.count("<h2>Operations</h2>") == 2


def test_render_report_file_compares_with_a_file_or_a_saved_baseline(tmp_path: Path) -> None:
    baseline, current = _pair()
    write_report(baseline, tmp_path / "base.json")
    write_report(current, tmp_path / "run.json")
    md = render_report_file(
        tmp_path / "run.json", fmt=Format.MARKDOWN, baseline=str(tmp_path / "base.json")
    )
    assert "**Compared with baseline `base.json`**" in md
    store = HistoryStore(tmp_path / "h.sqlite3")
    store.save_baseline("main", baseline)
    page = render_report_file(tmp_path / "run.json", baseline="main", store=store)
    assert page.startswith("<!DOCTYPE html>")
    assert "Baseline <code>main</code>" in page
    with pytest.raises(UnknownBaselineError, match="no baseline named 'mian'"):
        render_report_file(tmp_path / "run.json", baseline="mian", store=store)
    (tmp_path / "bad.json").write_text(
        '{"schema": "dbprobe.report/1", "run": {}}', encoding="utf-8"
    )
    with pytest.raises(ReportFileError, match="malformed"):
        render_report_file(tmp_path / "bad.json")
