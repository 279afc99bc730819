"""The probes' own sections from the command line: report files and saved baselines.

``dbprobe report`` and ``dbprobe baseline show`` render reports read back from
JSON, whose sections carry data only; they must show what the probe measured.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.cli import run_with_env

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "reports"


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DBPROBE_DB_URL", "DBPROBE_HISTORY")}
    env["DBPROBE_DATA_DIR"] = str(tmp_path / "data")
    env["COLUMNS"] = "200"
    return run_with_env(args, env, timeout=120)


def test_baseline_show_prints_the_pool_split_and_timeline(tmp_path: Path) -> None:
    saved = _run(["baseline", "save", "pool", str(FIXTURES / "pool.json")], tmp_path)
    assert saved.returncode == 0, saved.stderr
    shown = _run(["baseline", "show", "pool"], tmp_path)
    assert shown.returncode == 0, shown.stderr
    text = " ".join(shown.stdout.replace("│", " ").split())
    assert "checkout wait 61 214.53 301.31 301.57 302.33 305.66 305.66 240.99" in text
    assert "pool timeline, per second" in text
    assert "28 of 61 checkouts timed out" in text
    markdown = _run(["baseline", "show", "pool", "--markdown"], tmp_path)
    assert "| checkout wait | 61 | 214.53 |" in markdown.stdout


def test_report_renders_the_isolation_matrix_and_the_deadlock_ledger(tmp_path: Path) -> None:
    md, page = tmp_path / "isolation.md", tmp_path / "isolation.html"
    done = _run(
        ["report", str(FIXTURES / "isolation.json"), "--markdown", str(md), "--html", str(page)],
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "| `P4` | Lost Update | allowed | prevented (abort) | prevented (abort) |" in (
        md.read_text("utf-8")
    )
    assert "? workers" not in md.read_text("utf-8")
    assert ">allowed</td>" in page.read_text("utf-8")
    shown = _run(["report", str(FIXTURES / "deadlock.json")], tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "| ledger invariant | holds: 12 transfers, sum 400000 |" in shown.stdout


def test_isolation_writes_its_matrix_to_markdown_and_html(tmp_path: Path) -> None:
    md, page = tmp_path / "iso.md", tmp_path / "iso.html"
    done = _run(
        ["isolation", "--test", "P4", "--test", "G1a",
         "--busy-timeout-ms", "50", "--markdown", str(md), "--html", str(page), "--quiet"],
        tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # SQLite is serializable whichever way a transaction begins.
    text = md.read_text("utf-8")
    assert "| test | anomaly | deferred | immediate |" in text
    assert "| `P4` | Lost Update | prevented" in text
    assert "<h2>Isolation anomalies</h2>" in page.read_text("utf-8")


def test_merge_writes_the_merged_report_to_markdown(tmp_path: Path) -> None:
    md = tmp_path / "merged.md"
    parts = [str(FIXTURES / "uow.json"), str(FIXTURES / "uow_gate.json")]
    done = _run(["merge", *parts, "--markdown", str(md), "--quiet"], tmp_path)
    assert done.returncode in (0, 1), done.stderr  # 1: the parts were not measured together
    assert "merged 2 reports, measured together for" in md.read_text("utf-8")
