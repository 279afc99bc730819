"""`dbprobe pool` from the command line."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.cli import run_with_env


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DBPROBE_DB_URL"}
    env["DBPROBE_DATA_DIR"] = str(tmp_path / "data")
    return run_with_env(["pool", "--scale", "tiny", *args], env, timeout=120)


def test_an_exhausted_pool_is_a_finding_that_fails_on_request(tmp_path: Path) -> None:
    out = tmp_path / "pool.json"
    proc = _run(["--pool-size", "2", "--max-overflow", "0", "--pool-timeout", "0.3",
                 "--threads", "6", "--hold-ms", "1000", "--duration", "2", "--json", str(out),
                 "--fail-on", "pool_exhaustion"], tmp_path)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    data = json.loads(out.read_text())
    assert data["pool"]["peak_checked_out"] == 2
    assert data["pool"]["timeouts"] > 0
    assert "checkout_wait_ms" in data["pool"]
    assert "statement_ms" in data["pool"]
    assert {f["kind"] for f in data["findings"]} == {"pool_exhaustion"}
    assert "pool timeline, per second" in proc.stdout


@pytest.mark.parametrize(
    ("option", "value", "fragment"),
    [
        ("--pool-timeout", "0", "--pool-timeout: must be positive"),
        ("--pool-size", "0", "--pool-size: must be 1 or more"),
    ],
)
def test_zero_pool_settings_are_refused(
    tmp_path: Path, option: str, value: str, fragment: str
) -> None:
    proc = _run([option, value], tmp_path)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert fragment in line
