"""A fixed-rate run whose rate was not met says so: ``rate_not_met``, and ``--fail-on`` fails it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli import run_dbprobe

# Each call holds its worker for 50 ms: one worker can start at most 20 a
# second, whatever the machine, so 100 a second cannot be met.
SLOW = """
import asyncio

import dbprobe


@dbprobe.scenario(weight=1)
async def slow_call(ctx):
    await asyncio.sleep(0.05)
"""


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return run_dbprobe(args, tmp_path)


@pytest.mark.parametrize("fail_on", [False, True], ids=["warning", "fail-on"])
def test_a_rate_the_workers_cannot_reach_is_a_rate_not_met_finding(
    tmp_path: Path, fail_on: bool
) -> None:
    scenarios = tmp_path / "slow.py"
    scenarios.write_text(SLOW)
    out = tmp_path / "run.json"
    args = ["run", str(scenarios), "--threads", "1", "--rate", "100", "--duration", "1",
            "--warmup", "0", "--json", str(out)]  # fmt: skip
    proc = _run([*args, "--fail-on", "rate_not_met"] if fail_on else args, tmp_path)
    assert proc.returncode == (1 if fail_on else 0), proc.stdout + proc.stderr
    data = json.loads(out.read_text())
    (finding,) = [f for f in data["findings"] if f["kind"] == "rate_not_met"]
    assert finding["severity"] == "warning"
    evidence = finding["evidence"]
    assert evidence["rate_per_s"] == 100
    assert evidence["unstarted"] > 0
    assert evidence["started"] + evidence["skipped"] + evidence["unstarted"] == evidence["arrivals"]
    (op,) = data["operations"]
    assert evidence["started"] == op["count"] + op["cancelled"]
    assert evidence["unstarted"] == op["unstarted"]
    assert evidence["achieved_per_s"] < evidence["target_per_s"]
    # Whatever else the machine was doing, the worker was busy: one or the other is said.
    assert evidence["cause"] in ("workers_busy", "event_loop")
    assert "rate_not_met" in proc.stdout
    assert "the rate was not met" in " ".join(proc.stdout.split())
