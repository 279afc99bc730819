"""A run that failed does not look like one that passed: an ``error_rate`` finding, exit 1.

pgbench's convention is the anchor: a run whose transactions failed exits non-zero.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli import run_dbprobe

ALWAYS_RAISES = """
import dbprobe


@dbprobe.scenario(weight=1)
async def always_raises(ctx):
    raise RuntimeError("the payment service said no")
"""


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return run_dbprobe(args, tmp_path)


@pytest.fixture
def failing_scenario(tmp_path: Path) -> Path:
    path = tmp_path / "failing.py"
    path.write_text(ALWAYS_RAISES)
    return path


def test_a_scenario_that_always_raises_exits_1_with_an_error_rate_finding(
    tmp_path: Path, failing_scenario: Path
) -> None:
    out = tmp_path / "run.json"
    args = ["run", str(failing_scenario), "--threads", "2", "--transactions", "5",
            "--warmup", "0", "--json", str(out)]  # fmt: skip
    proc = _run(args, tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    data = json.loads(out.read_text())
    (op,) = data["operations"]
    assert (op["count"], op["errors"], op["commits"]) == (10, 10, 0)
    (finding,) = [f for f in data["findings"] if f["kind"] == "error_rate"]
    assert finding["severity"] == "error"
    evidence = finding["evidence"]
    assert (evidence["errors"], evidence["finished"]) == (10, 10)
    assert evidence["error_rate"] == 1.0
    assert evidence["max_error_rate"] == 0.01
    assert evidence["error_classes"] == {"other": 10}
    assert evidence["operations"] == {"always_raises": 10}
    assert "the payment service said no" in evidence["first_error"]
    assert finding["message"].startswith("10 of 10 operations failed (100.0 %")
    assert "error_rate" in proc.stdout  # printed like every finding
    assert data["config"]["max_error_rate"] == 0.01


def test_a_limit_the_run_stays_within_lets_it_pass(tmp_path: Path, failing_scenario: Path) -> None:
    out = tmp_path / "run.json"
    args = ["run", str(failing_scenario), "--threads", "1", "--transactions", "3",
            "--warmup", "0", "--max-error-rate", "100", "--quiet", "--json", str(out)]  # fmt: skip
    proc = _run(args, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(out.read_text())
    assert not [f for f in data["findings"] if f["kind"] == "error_rate"]
    assert data["config"]["max_error_rate"] == 1.0


@pytest.mark.parametrize(
    ("probe", "value", "fragment"),
    [
        ("uow", "abc", "expected a percentage"),
        ("uow", "-1", "between 0 and 100"),
        ("repo", "101", "between 0 and 100"),
        ("select", "nan", "between 0 and 100"),
        ("run", "150%", "between 0 and 100"),
        ("deadlock", "", "expected a percentage"),
        ("pool", "x%", "expected a percentage"),
    ],
)
def test_a_bad_max_error_rate_is_one_line_and_exit_2(
    tmp_path: Path, failing_scenario: Path, probe: str, value: str, fragment: str
) -> None:
    args = [probe, *([str(failing_scenario)] if probe == "run" else [])]
    # A server nobody listens on: a value checked too late would fail on the connection.
    args += ["--db", "postgresql+asyncpg://postgres@127.0.0.1:1/test", "--max-error-rate", value]
    proc = _run(args, tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("dbprobe")
    assert "--max-error-rate" in line
    assert fragment in line
    assert "refused" not in line
