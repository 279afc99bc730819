"""More bad input, across every probe and command: one line, exit status 2, no traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cli import run_with_env


@pytest.fixture
def scenario_files(tmp_path: Path) -> Path:
    (tmp_path / "none.py").write_text("x = 1\n")
    (tmp_path / "sync.py").write_text(
        "import dbprobe\n@dbprobe.scenario(weight=1)\ndef sync_one(ctx):\n    pass\n"
    )
    (tmp_path / "raises.py").write_text('raise RuntimeError("boom at import")\n')
    return tmp_path


CASES = [
    (["run", "{d}/missing.py"], "does not exist"),
    (["run", "{d}/none.py"], "no scenarios"),
    (["run", "{d}/sync.py"], "needs an async function"),
    (["run", "{d}/raises.py"], "boom at import"),
    (["uow", "--rate", "0"], "--rate"),
    (["uow", "--rate", "-5"], "--rate"),
    (["uow", "--profile", "bogus"], "--profile"),
    (["uow", "--profile", "ramp"], "needs --rate"),
    (["uow", "--rate", "10", "--profile", "spike:factor=0"], "factor"),
    (["uow", "--latency-limit", "10"], "needs --rate"),
    (["uow", "--processes", "0"], "--processes"),
    (["uow", "--n-plus-one-threshold", "1"], "--n-plus-one-threshold"),
    (["repo", "--only", "nosuch"], "nosuch"),
    (["select", "--via", "bogus"], "--via"),
    (["pool", "--hold-ms", "-1"], "--hold-ms"),
    (["pool", "--max-overflow", "-1"], "--max-overflow"),
    (["pool", "--ramp", "--duration", "2"], "--ramp"),
    (["deadlock", "--pattern", "bogus"], "--pattern"),
    (["deadlock", "--lock-order", "bogus"], "--lock-order"),
    (["deadlock", "--warmup", "1"], "--warmup"),
    (["isolation", "--test", "G9"], "--test"),
    (["isolation", "--busy-timeout-ms", "0"], "--busy-timeout-ms"),
    (["isolation", "--lock-wait-limit", "0"], "--lock-wait-limit"),
    (["compare", "a.json", "b.json", "--threshold", "abc"], "--threshold"),
    (["compare", "a.json", "b.json", "--metric", "bogus"], "--metric"),
    (["history", "uow", "read_program", "--window", "1"], "--window"),
    (["history", "uow", "read_program"], "no recorded runs"),
    (["baseline", "show", "nosuch"], "nosuch"),
    (["report", "{d}/missing.json"], "missing.json"),
    (["merge", "{d}/missing.json"], "missing.json"),
    (["seed", "--seed", "-1"], "--seed"),
    (["uow", "--connect-timeout", "0"], "--connect-timeout"),
]


@pytest.mark.parametrize(("args", "fragment"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_every_command_refuses_bad_input_in_one_line(
    scenario_files: Path, args: list[str], fragment: str
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DBPROBE_DB_URL", "DBPROBE_HISTORY")}
    env["DBPROBE_DATA_DIR"] = str(scenario_files / "data")
    argv = [a.replace("{d}", str(scenario_files)) for a in args]
    scaled = argv[0] in ("uow", "repo", "select", "pool", "deadlock", "run")
    proc = run_with_env([*argv, "--scale", "tiny"] if scaled else argv, env, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("dbprobe")
    assert fragment in line
