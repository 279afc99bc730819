"""`dbprobe deadlock` from the command line: a lost update exits 1, a sound pattern 0."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from dbprobe.database.url import Target
from tests.cli import run_with_env


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DBPROBE_DB_URL"}
    env["DBPROBE_DATA_DIR"] = str(tmp_path / "data")
    return run_with_env(["deadlock", "--scale", "tiny", *args], env, timeout=120)


def test_naive_transfers_lose_updates_and_exit_1_while_for_update_exits_0(
    tmp_path: Path, pg_target: Target
) -> None:
    url = pg_target.url.render_as_string(hide_password=False)
    out = tmp_path / "naive.json"
    common = ["--db", url, "--threads", "16", "--transactions", "30", "--accounts", "2",
              "--lock-order", "sorted"]  # fmt: skip
    naive = _run([*common, "--pattern", "naive", "--json", str(out)], tmp_path)
    assert naive.returncode == 1, naive.stderr
    data = json.loads(out.read_text())
    (lost,) = [f for f in data["findings"] if f["kind"] == "lost_update"]
    assert lost["severity"] == "error"
    assert data["deadlock"]["invariant"]["holds"] is False
    sound = _run([*common, "--pattern", "for_update", "--quiet"], tmp_path)
    assert sound.returncode == 0, sound.stderr


def test_a_single_account_is_refused(tmp_path: Path) -> None:
    proc = _run(["--accounts", "1"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "dbprobe: error: deadlock: argument --accounts: must be 2 or more, got 1"
    ]


@pytest.mark.parametrize(("slo", "status"), [("p50<1us", 1), ("p99<1000s", 0)])
def test_an_slo_judges_the_transfers(tmp_path: Path, slo: str, status: int) -> None:
    # --slo was offered, and silently ignored: a violated objective exited 0.
    out = tmp_path / "deadlock.json"
    args = ["--threads", "2", "--transactions", "3", "--pattern", "for_update", "--lock-order",
            "sorted", "--slo", slo, "--json", str(out), "--quiet"]  # fmt: skip
    proc = _run(args, tmp_path)
    assert proc.returncode == status, proc.stderr
    violations = [
        f for f in json.loads(out.read_text())["findings"] if f["kind"] == "slo_violation"
    ]
    assert [f["evidence"]["slo"] for f in violations] == ([slo] if status else [])
