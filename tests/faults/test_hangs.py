"""Runs that once only SIGKILL ended: each now ends by itself, or within 2 s of SIGINT.

Each runs the CLI in a process of its own with a generous bound on how long
it may take to end (a guard against the hang, not a measurement).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.cli import interrupt, run_dbprobe, start_dbprobe, wait_for_line


def test_a_rate_far_beyond_the_workers_ends_at_its_deadline_with_every_arrival_counted(
    tmp_path: Path,
) -> None:
    # A million arrivals a second for two workers: some two million are never
    # started. They were once counted one by one after the deadline, in a loop
    # that never yielded (at 1e9/s for ever); now they are counted at once.
    out = tmp_path / "r.json"
    args = ["uow", "--scale", "tiny", "--threads", "2", "--duration", "2", "--warmup", "0"]
    args += ["--rate", "1e6", "--quiet", "--json", str(out)]
    result = run_dbprobe(args, tmp_path, timeout=90)

    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    (finding,) = [f for f in report["findings"] if f["kind"] == "rate_not_met"]
    evidence = finding["evidence"]
    assert evidence["arrivals"] == evidence["started"] + evidence["skipped"] + evidence["unstarted"]
    assert evidence["arrivals"] == pytest.approx(2_000_000, rel=0.01)
    ops = report["operations"]
    assert sum(op["unstarted"] for op in ops) == evidence["unstarted"]
    assert sum(op["count"] for op in ops) == evidence["started"]
    # The never-started arrivals are shared among the operations by their weights (1:3:6).
    unstarted = {op["name"]: op["unstarted"] for op in ops}
    assert unstarted["read_program"] == pytest.approx(evidence["unstarted"] * 0.6, rel=0.001)


def test_sigint_ends_a_run_that_skips_arrivals_faster_than_it_can_within_2_s(
    tmp_path: Path,
) -> None:
    # With --latency-limit every late arrival is skipped without awaiting
    # anything; at a million a second the skipping never caught up and the
    # event loop never ran the signal handler.
    out = tmp_path / "r.json"
    args = ["uow", "--scale", "tiny", "--threads", "2", "--duration", "60", "--warmup", "0"]
    args += ["--rate", "1e6", "--latency-limit", "1", "--json", str(out)]
    proc = start_dbprobe(args, tmp_path)
    try:
        wait_for_line(proc, "running uow", timeout_s=60)
        time.sleep(1)  # into the backlog: the skipping has begun
        ended_after_s = interrupt(proc)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 130
    assert ended_after_s < 2.0
    report = json.loads(out.read_text())
    assert report["run"]["interrupted"] is True
    assert sum(op["skipped"] for op in report["operations"]) > 0


STUCK_SCENARIOS = """
import asyncio

import dbprobe
from sqlalchemy import text


@dbprobe.scenario
async def stuck(ctx):
    await asyncio.sleep(3600)  # an operation that never returns


@dbprobe.scenario(weight=3)
async def quick(ctx):
    async with ctx.session_factory() as session:
        await session.execute(text("select 1"))
"""


def test_an_operation_that_never_returns_is_cancelled_after_the_grace_and_counted(
    tmp_path: Path,
) -> None:
    scenarios = tmp_path / "stuck.py"
    scenarios.write_text(STUCK_SCENARIOS)
    out = tmp_path / "r.json"
    args = ["run", str(scenarios), "--db", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"]
    args += ["--threads", "2", "--duration", "1", "--warmup", "0", "--grace", "1"]
    args += ["--json", str(out), "--markdown", str(tmp_path / "r.md")]
    started = time.monotonic()
    result = run_dbprobe(args, tmp_path, timeout=120)  # it once ran for ever
    took_s = time.monotonic() - started

    assert result.returncode == 0, result.stderr
    assert took_s < 30
    report = json.loads(out.read_text())
    assert report["run"]["interrupted"] is False
    ops = {op["name"]: op for op in report["operations"]}
    # Both workers end up in `stuck`: cancelled once the grace is over, counted.
    assert ops["stuck"]["cancelled"] == 2
    assert ops["stuck"]["commits"] == 0
    assert ops["quick"]["commits"] > 0
    for op in ops.values():
        assert op["attempts"] == op["commits"] + op["rollbacks"] + op["cancelled"]
    # The console and Markdown tables show them (a hung operation is no error).
    header = next(line for line in result.stdout.splitlines() if "stmts/tx" in line)
    assert "cancelled" in header
    markdown = (tmp_path / "r.md").read_text()
    assert "| cancelled" in markdown or "cancelled |" in markdown


LEAKY_SCENARIOS = """
import dbprobe
from sqlalchemy import text

HELD = []


@dbprobe.scenario
async def leaky(ctx):
    session = ctx.session_factory()
    await session.execute(text("select 1"))
    HELD.append(session)  # never closed: its connection never goes back to the pool
"""


def test_a_session_never_closed_is_a_leaked_connection_finding_and_does_not_stretch_the_run(
    tmp_path: Path,
) -> None:
    scenarios = tmp_path / "leaky.py"
    scenarios.write_text(LEAKY_SCENARIOS)
    out = tmp_path / "r.json"
    args = ["run", str(scenarios), "--db", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"]
    args += ["--threads", "2", "--duration", "1", "--warmup", "0", "--grace", "1"]
    args += ["--quiet", "--json", str(out)]
    started = time.monotonic()
    result = run_dbprobe(args, tmp_path, timeout=120)
    took_s = time.monotonic() - started

    # The workers waiting for a connection would wait out the pool timeout (30 s).
    assert took_s < 20
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    leaks = [f for f in report["findings"] if f["kind"] == "leaked_connection"]
    assert len(leaks) == 2  # one per pool connection: both were taken and kept
    for leak in leaks:
        assert leak["operation"] == "leaky"
        assert "scenario leaky" in leak["message"]
        assert leak["evidence"]["still_checked_out"] is True
    (op,) = report["operations"]
    assert op["commits"] == 2
    assert op["attempts"] == op["commits"] + op["rollbacks"] + op["cancelled"]


HUNG_TEARDOWN = """
import asyncio

import dbprobe
from sqlalchemy import text


@dbprobe.scenario
async def quick(ctx):
    async with ctx.session_factory() as session:
        await session.execute(text("select 1"))


async def teardown(engine):
    await asyncio.sleep(3600)  # never returns
"""


def _hung_teardown_run(tmp_path: Path, *extra: str) -> tuple[list[str], Path]:
    scenarios = tmp_path / "hung.py"
    scenarios.write_text(HUNG_TEARDOWN)
    out = tmp_path / "r.json"
    args = ["run", str(scenarios), "--db", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"]
    args += ["--threads", "2", "--duration", "1", "--warmup", "0", "--quiet", "--json", str(out)]
    return [*args, *extra], out


def test_a_teardown_that_never_returns_is_cancelled_after_the_hook_timeout_and_reported(
    tmp_path: Path,
) -> None:
    args, out = _hung_teardown_run(tmp_path, "--hook-timeout", "2")
    result = run_dbprobe(args, tmp_path, timeout=120)  # it once ran for ever

    assert result.returncode == 1, result.stderr  # teardown_failed is an error finding
    report = json.loads(out.read_text())
    (finding,) = [f for f in report["findings"] if f["kind"] == "teardown_failed"]
    assert "teardown() in" in finding["message"]
    assert "did not return within 2 s (--hook-timeout)" in finding["message"]
    (op,) = report["operations"]
    assert op["commits"] > 0
    assert op["attempts"] == op["commits"] + op["rollbacks"] + op["cancelled"]


def test_the_report_is_written_before_teardown_and_sigint_ends_a_hung_teardown_within_2_s(
    tmp_path: Path,
) -> None:
    args, out = _hung_teardown_run(tmp_path)  # the default hook timeout: 30 s
    proc = start_dbprobe(args, tmp_path)
    try:
        # Written before teardown starts (polled: once the report was never written).
        deadline = time.monotonic() + 60
        while not out.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert out.exists(), "the report was not written before teardown"
        early = json.loads(out.read_text())
        assert early["operations"][0]["commits"] > 0
        assert proc.poll() is None  # tearing down
        ended_after_s = interrupt(proc)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 130
    assert ended_after_s < 2.0
    report = json.loads(out.read_text())
    assert report["run"]["interrupted"] is True
    (finding,) = [f for f in report["findings"] if f["kind"] == "teardown_failed"]
    assert "was interrupted" in finding["message"]
    assert report["operations"][0]["commits"] == early["operations"][0]["commits"]


def test_a_setup_that_never_returns_is_one_line_and_exit_2_after_the_hook_timeout(
    tmp_path: Path,
) -> None:
    scenarios = tmp_path / "hung_setup.py"
    scenarios.write_text(
        "import asyncio\nimport dbprobe\n\n\n@dbprobe.scenario\nasync def noop(ctx):\n"
        "    pass\n\n\nasync def setup(engine):\n    await asyncio.sleep(3600)\n"
    )
    args = ["run", str(scenarios), "--db", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"]
    args += ["--duration", "1", "--quiet", "--hook-timeout", "1"]
    result = run_dbprobe(args, tmp_path, timeout=120)

    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"dbprobe: error: setup() in {scenarios} did not return within 1 s (--hook-timeout)"
    ]
    assert "Traceback" not in result.stderr


def test_sigint_during_the_load_ends_a_run_whose_teardown_never_returns_within_2_s(
    tmp_path: Path,
) -> None:
    args, out = _hung_teardown_run(tmp_path)
    args[args.index("--duration") + 1] = "60"
    args.remove("--quiet")
    proc = start_dbprobe(args, tmp_path)
    try:
        wait_for_line(proc, "running run", timeout_s=60)
        ended_after_s = interrupt(proc)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == 130
    assert ended_after_s < 2.0
    report = json.loads(out.read_text())
    assert report["run"]["interrupted"] is True
    (finding,) = [f for f in report["findings"] if f["kind"] == "teardown_failed"]
    assert "did not return within 0.5 s of the interrupt" in finding["message"]


def test_at_a_fixed_rate_workers_stuck_past_the_grace_still_account_for_every_arrival(
    tmp_path: Path,
) -> None:
    scenarios = tmp_path / "stuck.py"
    scenarios.write_text(
        STUCK_SCENARIOS.replace("@dbprobe.scenario(weight=3)", "@dbprobe.scenario")
    )
    out = tmp_path / "r.json"
    args = ["run", str(scenarios), "--db", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"]
    args += ["--threads", "2", "--duration", "2", "--warmup", "0", "--grace", "1"]
    args += ["--rate", "100", "--arrivals", "uniform", "--quiet", "--json", str(out)]
    result = run_dbprobe(args, tmp_path, timeout=120)

    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    ops = {op["name"]: op for op in report["operations"]}
    assert ops["stuck"]["cancelled"] == 2  # both workers, for ever in `stuck`
    (finding,) = [f for f in report["findings"] if f["kind"] == "rate_not_met"]
    evidence = finding["evidence"]
    # 100/s for 2 s, uniform: 201 arrivals (one at 0), every one started or never started.
    assert evidence["arrivals"] == 201
    assert evidence["started"] + evidence["unstarted"] == 201
    assert sum(op["unstarted"] for op in ops.values()) == evidence["unstarted"]
    # Started: finished (count) or cancelled when the grace ran out.
    assert sum(op["count"] + op["cancelled"] for op in ops.values()) == evidence["started"]
