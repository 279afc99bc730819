"""Baselines and the regression gate from the command line."""

from __future__ import annotations

import json
import re
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
    header, row = history.stdout.strip().splitlines()
    assert header.startswith("uow read_program: p50 in ms, 1 recorded run (oldest first), from ")
    assert " ms  n=" in row, row
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


def test_commands_that_write_say_what_they_wrote_after_the_table(tmp_path: Path) -> None:
    run = tmp_path / "run.json"
    saved = _run(["uow", "--scale", "tiny", "--threads", "2", "--transactions", "15",
                  "--json", str(run), "--save-baseline", "main"], tmp_path)  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    operations = json.loads(run.read_text())["operations"]
    lines = saved.stdout.strip().splitlines()
    assert lines[-1] == f"saved baseline main: {len(operations)} operations"
    # The comparison's verdicts come after the run's table, whose figures they judge.
    again = _run(["uow", "--scale", "tiny", "--threads", "2", "--transactions", "15",
                  "--compare", "main"], tmp_path)  # fmt: skip
    # The layout is under test, not the verdicts (tests/cli/test_gate_verdicts.py):
    # 15 transactions on a busy machine may yet honestly see a change.
    assert again.returncode in (0, 1), again.stderr
    lines = again.stdout.strip().splitlines()
    table_end = max(i for i, line in enumerate(lines) if operations[-1]["name"] in line
                    and "%" not in line)  # fmt: skip
    (summary,) = [i for i, line in enumerate(lines) if re.match(r"(no|\d+) regression", line)]
    assert summary == len(lines) - 1
    names = tuple(f"{op['name']} p50 " for op in operations)
    verdicts = [i for i, line in enumerate(lines) if line.startswith(names)]
    assert len(verdicts) == len(operations)
    assert min(verdicts) > table_end
    page = tmp_path / "run.html"
    report = _run(["report", str(run), "--html", str(page), "--markdown", str(tmp_path / "r.md")],
                  tmp_path)  # fmt: skip
    assert report.returncode == 0, report.stderr
    assert report.stdout.splitlines() == [f"wrote {tmp_path / 'r.md'}", f"wrote {page}"]


def test_suite_prints_one_table_of_every_probe_with_its_verdict(tmp_path: Path) -> None:
    suite = ["suite", "--scale", "tiny", "--threads", "2", "--duration", "0.5", "--warmup", "0",
             "--repo-transactions", "2", "--no-html", "--out", str(tmp_path / "out")]  # fmt: skip
    first = _run([*suite, "--save-baseline", "main"], tmp_path)
    assert first.returncode == 0, first.stderr
    counts = {
        probe: len(json.loads((tmp_path / "out" / f"{probe}.json").read_text())["operations"])
        for probe in ("uow", "repo")
    }
    rows = _suite_rows(first.stdout)
    assert rows == {p: [str(n), "0", "no baseline"] for p, n in counts.items()}, first.stdout
    assert first.stdout.strip().splitlines()[-2:] == [
        f"saved baseline main/{p}: {n} operations" for p, n in counts.items()
    ]
    again = _run([*suite, "--compare", "main"], tmp_path)
    assert again.returncode in (0, 1), again.stderr
    for probe, (operations, _, verdict) in _suite_rows(again.stdout).items():
        assert operations == str(counts[probe])
        # The comparison's summary line: "no regression, 3 unchanged", "1 regression (...)".
        assert "regression" in verdict, again.stdout


def _suite_rows(stdout: str) -> dict[str, list[str]]:
    """The suite table's rows by probe: operations, error findings, verdict (cells joined
    across wrapped lines)."""
    rows: dict[str, list[str]] = {}
    probe = None
    for line in stdout.splitlines():
        cells = [c.strip() for c in line.strip().strip("│").split("│")]
        if len(cells) != 4:
            continue
        if cells[0] in ("uow", "repo"):
            probe = cells[0]
            rows[probe] = cells[1:]
        elif probe is not None and not cells[0] and any(cells):
            rows[probe][2] += " " + cells[3]
    return rows
