"""The regression gate's verdicts, end to end: no false alarm on identical runs, no silence
on a real slowdown (both directions, from the command line, on real runs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.cli import run_with_env

_HOG = "while True:\n    pass\n"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DBPROBE_DB_URL", "DBPROBE_HISTORY")}
    env["DBPROBE_DATA_DIR"] = str(tmp_path / "data")
    return env | extra


def _dbprobe(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_with_env(args, env, timeout=180)


def _run_with_a_cpu_hog_for_part_of_it(args: list[str], env: dict[str, str]) -> int:
    """Run dbprobe; a CPU-bound process competes from when measuring starts, for a while."""
    with subprocess.Popen(
        [sys.executable, "-m", "dbprobe", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:  # "running repo on ..." once measuring begins
            if line.startswith("running "):
                break
        with subprocess.Popen([sys.executable, "-c", _HOG]) as hog:
            # A slice of the run, not all of it: the interference lands on some rounds.
            try:
                proc.wait(timeout=1.5)
            except subprocess.TimeoutExpired:
                pass
            hog.kill()
        proc.stderr.read()
        return proc.wait(timeout=180)


def test_two_identical_runs_compared_pass_while_another_process_competes(tmp_path: Path) -> None:
    env = _env(tmp_path)
    first = _dbprobe(
        ["repo", "--scale", "tiny", "--json", str(tmp_path / "a.json"), "--quiet"], env
    )
    assert first.returncode == 0, first.stderr
    # Every round measured the machine: the round trip (once lost after a
    # phase ended inside one) and the wait for a CPU, the run's and each
    # operation's own.
    run = json.loads((tmp_path / "a.json").read_text())
    assert all(c["select_1_ms"] and "cpu_wait" in c for c in run["calibration"])
    assert all("cpu_wait" in r for op in run["operations"] for r in op["rounds"])
    second = [
        "repo",
        "--scale",
        "tiny",
        "--json",
        str(tmp_path / "b.json"),
        "--quiet",
    ]
    assert _run_with_a_cpu_hog_for_part_of_it(second, env) == 0
    compared = _dbprobe(["compare", str(tmp_path / "a.json"), str(tmp_path / "b.json")], env)
    assert compared.returncode == 0, compared.stdout + compared.stderr
    summary = compared.stdout.strip().splitlines()[-1]
    assert summary.startswith("no regression, "), compared.stdout
    # Every catalogue entry was judged, each on its rounds.
    judged = [line for line in compared.stdout.splitlines() if " p50 " in line]
    assert len(judged) == len(json.loads((tmp_path / "a.json").read_text())["operations"])
    assert all("10 vs 10 rounds" in line for line in judged)


_SCENARIOS = """
    import asyncio
    import os

    from sqlalchemy import text

    from dbprobe.scenarios import scenario

    # Each operation takes its time three times as long when SLOWER=3. The
    # sleeps are long next to the few ms a busy machine adds to every SQLite
    # operation, so that the change stays well beyond what a machine whose CPU
    # reference slowed between the runs could explain (that much is set aside).
    FACTOR = float(os.environ.get("SLOWER", "1"))


    async def _work(ctx, ms):
        async with ctx.session_factory() as session:
            await session.execute(text("SELECT 1"))
            await asyncio.sleep(ms * FACTOR / 1000)


    @scenario
    async def small(ctx):
        await _work(ctx, 10)


    @scenario
    async def medium(ctx):
        await _work(ctx, 20)


    @scenario
    async def large(ctx):
        await _work(ctx, 40)
"""


def test_a_run_whose_every_operation_is_three_times_slower_regresses_every_operation(
    tmp_path: Path,
) -> None:
    scenarios = tmp_path / "scenarios.py"
    scenarios.write_text(textwrap.dedent(_SCENARIOS), encoding="utf-8")
    run = ["run", str(scenarios), "--threads", "2", "--duration", "2", "--warmup", "0.2"]
    base = _dbprobe([*run, "--json", str(tmp_path / "base.json"), "--quiet"], _env(tmp_path))
    assert base.returncode == 0, base.stderr
    slow = _dbprobe(
        [*run, "--json", str(tmp_path / "slow.json"), "--quiet"], _env(tmp_path, SLOWER="3")
    )
    assert slow.returncode == 0, slow.stderr
    compared = _dbprobe(
        ["compare", str(tmp_path / "base.json"), str(tmp_path / "slow.json")], _env(tmp_path)
    )
    assert compared.returncode == 1, compared.stdout + compared.stderr
    verdicts = {line.split()[0]: line for line in compared.stdout.splitlines() if " p50 " in line}
    assert sorted(verdicts) == ["large", "medium", "small"]
    assert all(": regressed (" in line for line in verdicts.values()), compared.stdout
    assert compared.stdout.strip().splitlines()[-1].startswith("3 regressions ("), compared.stdout
