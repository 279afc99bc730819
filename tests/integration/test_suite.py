"""``dbprobe suite`` on a real SQLite file: every probe, one combined result in every format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dbprobe.database.engine import PoolOptions
from dbprobe.database.url import Target
from dbprobe.errors import ConfigError, UnknownBaselineError
from dbprobe.gate.store import HistoryStore
from dbprobe.load.harness import TargetOptions
from dbprobe.result.jsonio import read_report
from dbprobe.suite import (
    SUITE_PROBES,
    SuiteSettings,
    judge_suite,
    run_suite,
    save_suite_baseline,
    write_suite,
)
from tests import synthetic

pytestmark = pytest.mark.asyncio


async def test_the_suite_runs_each_probe_and_writes_every_format(
    sqlite_target: Target, tmp_path: Path
) -> None:
    options = TargetOptions(sqlite_target, scale="tiny", seed=1, pool=PoolOptions(size=2))
    settings = SuiteSettings(threads=2, duration_s=0.5, warmup_s=0.0, repo_transactions=12)
    reports = await run_suite(options, settings)
    assert [r.run.probe for r in reports] == [p.name for p in SUITE_PROBES] == ["uow", "repo"]
    assert {r.target.scale for r in reports} == {"tiny"}
    assert len(reports[1].operations) >= 20  # the repo catalogue, entry by entry

    store = HistoryStore(tmp_path / "history.sqlite3")
    saved = save_suite_baseline(store, "main", reports)
    assert [b.name for b in saved] == ["main/uow", "main/repo"]
    judged = judge_suite(reports, store=store, baseline="main")
    # Each run against itself: nothing can have regressed.
    assert [v.baseline_label for v in judged.verdicts] == ["main/uow", "main/repo"]
    assert all(v.comparison is not None and not v.comparison.regressions() for v in judged.views)
    assert judged.exit_status == 0

    files = write_suite(judged.views, tmp_path / "out")
    assert [p.name for p in files.reports] == ["uow.json", "repo.json"]
    written = read_report(files.reports[0])
    assert [(o.name, o.histogram) for o in written.operations] == [
        (o.name, o.histogram) for o in reports[0].operations
    ]
    markdown = files.markdown.read_text(encoding="utf-8")
    assert markdown.startswith("## dbprobe suite\n\n| probe | operations | error findings |")
    assert files.html is not None
    page = files.html.read_text(encoding="utf-8")
    assert 'id="uow"' in page
    assert 'id="repo"' in page
    assert 'src="http' not in page
    pytest_json = json.loads(files.pytest_benchmark.read_text(encoding="utf-8"))
    names = [b["fullname"] for b in pytest_json["benchmarks"]]
    assert "uow::read_program[sqlite-tiny]" in names
    assert any(n.startswith("repo::") for n in names)
    custom = json.loads(files.custom.read_text(encoding="utf-8"))
    assert {e["unit"] for e in custom} == {"ms"}
    assert len(custom) == len(pytest_json["benchmarks"])


async def test_the_suite_refuses_an_unknown_probe_or_baseline(
    sqlite_target: Target, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="unknown probe 'pool' for the suite; it runs uow, repo"):
        await run_suite(TargetOptions(sqlite_target, scale="tiny"), only=["pool"])
    store = HistoryStore(tmp_path / "history.sqlite3")
    with pytest.raises(UnknownBaselineError, match="no baseline named 'main/uow'"):
        judge_suite([synthetic.report({"read": [1.0] * 20})], store=store, baseline="main")
