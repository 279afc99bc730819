"""Baselines and the regression gate from the command line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.cli import run_dbprobe


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return run_dbprobe(args, tmp_path, timeout=120)


def test_save_list_compare_report_and_delete_a_baseline(tmp_path: Path) -> None:
    run = tmp_path / "run.json"
    first = _run(["uow", "--scale", "tiny", "--threads", "2", "--transactions", "15",
                  "--json", str(run), "--save-baseline", "main", "--record", "--quiet"], tmp_path)  # fmt: skip
    assert first.returncode == 0, first.stderr
    listing = _run(["baseline", "list"], tmp_path)
    assert listing.stdout.split()[:4] == ["main", "uow", "sqlite", "tiny"]
    # A run compared with itself has changed in nothing: exit 0, no regression; a
    # verdict is "unchanged" only where its rounds could have seen a 10 % change.
    same = _run(["compare", "main", str(run), "--markdown", str(tmp_path / "cmp.md")], tmp_path)
    assert same.returncode == 0, same.stderr
    assert "regressed" not in same.stdout
    assert same.stdout.strip().splitlines()[-1].startswith("no regression, ")
    assert (tmp_path / "cmp.md").read_text().count("| `") >= 3
    exported = tmp_path / "bench.json"
    report = _run(
        ["report", str(run), "--export", "github-action-benchmark", str(exported)], tmp_path
    )
    assert report.returncode == 0, report.stderr
    entries = json.loads(exported.read_text())
    assert {e["unit"] for e in entries} == {"ms"}
    # One entry per operation that committed (on a busy machine a writer of
    # the three can lose every one of its few attempts to SQLite's lock).
    committed = [op["name"] for op in json.loads(run.read_text())["operations"] if op["commits"]]
    assert committed
    assert sorted(e["name"].split("::")[1].split("[")[0] for e in entries) == sorted(committed)
    history = _run(["history", "uow", "read_program"], tmp_path)
    assert history.returncode == 0
    assert len(history.stdout.strip().splitlines()) == 1
    deleted = _run(["baseline", "delete", "main"], tmp_path)
    assert deleted.returncode == 0
    unknown = _run(["compare", "main", str(run)], tmp_path)
    assert unknown.returncode == 2
    assert len(unknown.stderr.strip().splitlines()) == 1


def test_corrupt_or_foreign_baseline_files_are_one_line_errors(tmp_path: Path) -> None:
    truncated = tmp_path / "truncated.json"
    truncated.write_text('{"schema": "dbprobe.report/1", "tool"')
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"schema": "someone.else/7"}))
    for bad in (truncated, foreign):
        proc = _run(["compare", str(bad), str(bad)], tmp_path)
        assert proc.returncode == 2
        (line,) = proc.stderr.strip().splitlines()
        assert str(bad) in line
        assert "Traceback" not in proc.stderr
    history_file = tmp_path / "history.sqlite3"
    history_file.write_text("not a database")
    proc = _run(["baseline", "list", "--history", str(history_file)], tmp_path)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
