"""Counts, rates and times beyond their maximum are refused before anything runs.

``--threads 99999999999999999999`` once built tasks until memory ran out,
``--duration inf`` overflowed after seeding, and ``--rate 1e9`` (or
``--profile ramp:from=1e308``) looped per missed arrival for ever after the
deadline. Each is one line naming the option and its maximum, exit status 2,
and the target is never touched: the SQLite file given as ``--db`` is not
even created.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import run_dbprobe

HUGE = "99999999999999999999"

CASES = [
    # item 1: impossible rates
    (["uow", "--rate", "1e9"], "--rate", "1,000,000"),
    (["uow", "--rate", "1e300"], "--rate", "1,000,000"),
    (["uow", "--rate", "inf"], "--rate", "1,000,000"),
    (["uow", "--rate", "10", "--profile", "ramp:from=1e308"], "from=", "1,000,000"),
    (["uow", "--rate", "1e6", "--profile", "spike:factor=3"], "--rate", "1,000,000"),
    (["run", "{scenarios}", "--rate", "1e9"], "--rate", "1,000,000"),
    # item 5: times that overflow
    (["uow", "--duration", "inf"], "--duration", "2,592,000"),
    (["uow", "--duration", "1e308"], "--duration", "2,592,000"),
    (["uow", "--duration", "nan"], "--duration", "positive"),
    (["uow", "--duration", "1e-300"], "--duration", "at least 0.001 s"),
    (["deadlock", "--duration", "1e-300"], "--duration", "at least 0.001 s"),
    (["uow", "--warmup", "inf"], "--warmup", "2,592,000"),
    (["uow", "--warmup", "nan"], "--warmup", "0 or more"),
    (["uow", "--rate", "5", "--latency-limit", "inf"], "--latency-limit", "3,600,000"),
    (["uow", "--connect-timeout", "inf"], "--connect-timeout", "2,592,000"),
    (["run", "{scenarios}", "--grace", "inf"], "--grace", "2,592,000"),
    (["run", "{scenarios}", "--hook-timeout", "inf"], "--hook-timeout", "2,592,000"),
    (["uow", "--grace", "-1"], "--grace", "0 or more"),
    (["select", "--duration", "inf"], "--duration", "2,592,000"),
    (["deadlock", "--duration", "1e308"], "--duration", "2,592,000"),
    (["pool", "--duration", "inf"], "--duration", "2,592,000"),
    (["pool", "--pool-timeout", "inf"], "--pool-timeout", "2,592,000"),
    (["isolation", "--lock-wait-limit", "inf"], "--lock-wait-limit", "2,592,000"),
    (["suite", "--out", "{tmp}/out", "--warmup", "inf"], "--warmup", "2,592,000"),
    # item 3: every count option, every command
    (["uow", "--threads", HUGE], "--threads", "10000"),
    (["uow", "--transactions", HUGE], "--transactions", "1000000000"),
    (["uow", "--pool-size", HUGE], "--pool-size", "10000"),
    (["uow", "--retries", HUGE], "--retries", "1000"),
    (["uow", "--processes", HUGE], "--processes", "256"),
    (["uow", "--threads", "100", "--processes", "101"], "--processes", "10,000"),
    (["uow", "--rounds", HUGE], "--rounds", "1000"),
    (["uow", "--hot-set", HUGE], "--hot-set", "1000000000"),
    (["uow", "--n-plus-one-threshold", HUGE], "--n-plus-one-threshold", "1000000000"),
    (["repo", "--threads", HUGE], "--threads", "10000"),
    (["repo", "--transactions", HUGE], "--transactions", "1000000000"),
    (["select", "--threads", HUGE], "--threads", "10000"),
    (["run", "{scenarios}", "--threads", HUGE], "--threads", "10000"),
    (["deadlock", "--threads", HUGE], "--threads", "10000"),
    (["deadlock", "--accounts", HUGE], "--accounts", "1000000000"),
    (["deadlock", "--retries", "1001"], "--retries", "1000"),
    (["pool", "--threads", HUGE], "--threads", "10000"),
    (["pool", "--pool-size", HUGE], "--pool-size", "10000"),
    (["pool", "--max-overflow", HUGE], "--max-overflow", "10000"),
    (["pool", "--hold-ms", HUGE], "--hold-ms", "3,600,000"),
    (["isolation", "--busy-timeout-ms", HUGE], "--busy-timeout-ms", "3,600,000"),
    # durations with units (issue 19) have the same limits
    (["uow", "-T", "721h"], "--duration", "2,592,000"),
    (["pool", "--hold-ms", "2h"], "--hold-ms", "3,600,000"),
    (["uow", "-R", "5", "-L", "61m"], "--latency-limit", "3,600,000"),
    (["uow", "--warmup", "1e9h"], "--warmup", "2,592,000"),
    (["suite", "--out", "{tmp}/out", "--threads", HUGE], "--threads", "10000"),
    (["suite", "--out", "{tmp}/out", "--repo-transactions", HUGE], "--repo-transactions", "1"),
    (["suite", "--out", "{tmp}/out", "--retries", HUGE], "--retries", "1000"),
    (["history", "uow", "read_program", "--window", HUGE], "--window", "1000000000"),
]


@pytest.mark.parametrize(
    ("args", "option", "maximum"), CASES, ids=[" ".join(a[:4]) for a, _, _ in CASES]
)
def test_a_value_beyond_its_maximum_is_one_line_exit_2_and_touches_nothing(
    tmp_path: Path, args: list[str], option: str, maximum: str
) -> None:
    scenarios = tmp_path / "scenarios.py"
    scenarios.write_text("import dbprobe\n@dbprobe.scenario\nasync def noop(ctx):\n    pass\n")
    db_file = tmp_path / "target.sqlite3"
    argv = [a.format(scenarios=scenarios, tmp=tmp_path) for a in args]
    if argv[0] not in ("history",):
        argv += ["--db", f"sqlite+aiosqlite:///{db_file}"]

    result = run_dbprobe(argv, tmp_path, timeout=60)

    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert option in lines[0], lines[0]
    assert maximum in lines[0], lines[0]
    assert not db_file.exists(), "the target was opened"
    assert not (tmp_path / "out").exists()
