"""--loop: the event loop the load runs on, asked for, recorded, refused when missing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run_dbprobe
from tests.cli.test_bad_input import assert_one_line_error

SELECT = ["select", "--scale", "tiny", "--threads", "2", "--transactions", "3", "--quiet"]


def _report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text("utf-8"))
    return data


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_the_report_records_the_event_loop_asked_for(loop: str, tmp_path: Path) -> None:
    pytest.importorskip("uvloop")
    out = tmp_path / "select.json"
    proc = run_dbprobe([*SELECT, "--loop", loop, "--json", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _report(out)["run"]["loop"] == loop


def test_auto_runs_uvloop_when_it_is_installed(tmp_path: Path) -> None:
    pytest.importorskip("uvloop")
    out = tmp_path / "select.json"
    markdown = tmp_path / "select.md"
    proc = run_dbprobe([*SELECT, "--json", str(out), "--markdown", str(markdown)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    run = _report(out)["run"]
    assert run["loop"] == "uvloop"
    assert f"Python {run['python']}, uvloop" in markdown.read_text("utf-8")


def test_load_processes_run_the_loop_of_the_command_line(tmp_path: Path) -> None:
    # uvloop is installed, so auto would give the children uvloop: asyncio in
    # every part shows the choice reached them.
    pytest.importorskip("uvloop")
    out = tmp_path / "repo.json"
    args = ["repo", "--scale", "tiny", "--only", "movement_get", "--threads", "1",
            "--transactions", "2", "--processes", "2", "--loop", "asyncio", "--quiet",
            "--json", str(out)]  # fmt: skip
    proc = run_dbprobe(args, tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = _report(out)
    assert data["run"]["loop"] == "asyncio"
    parts = data["load"]["parts"]
    assert [p["loop"] for p in parts] == ["asyncio", "asyncio"]
    assert len({p["pid"] for p in parts}) == 2


# --- without uvloop ----------------------------------------------------------------------


def _without_uvloop(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``python -m dbprobe ARGS`` in an interpreter where ``import uvloop`` fails as
    it does when uvloop is not installed: a module of that name that raises so
    comes first on the path (the forked test zygote would keep its own path)."""
    shim = tmp_path / "no-uvloop"
    shim.mkdir()
    (shim / "uvloop.py").write_text(
        'raise ModuleNotFoundError("No module named \'uvloop\'", name="uvloop")\n'
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DBPROBE_DB_URL", "COLUMNS")}
    env |= {"DBPROBE_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(shim)}
    return subprocess.run(
        [sys.executable, "-m", "dbprobe", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_uvloop_asked_for_but_not_installed_is_refused_before_anything_runs(
    tmp_path: Path,
) -> None:
    proc = _without_uvloop([*SELECT, "--loop", "uvloop"], tmp_path)
    line = assert_one_line_error(proc, "--loop uvloop", "pip install 'dbprobe[fast]'")
    assert line == (
        "dbprobe: error: --loop uvloop: uvloop is not installed; pip install 'dbprobe[fast]'"
    )
    # Refused before seeding: the default database file was never made.
    assert not (tmp_path / "data" / "dbprobe.sqlite3").exists()


def test_auto_without_uvloop_runs_and_records_asyncio(tmp_path: Path) -> None:
    out = tmp_path / "select.json"
    proc = _without_uvloop([*SELECT, "--json", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _report(out)["run"]["loop"] == "asyncio"


def test_every_command_that_runs_on_a_database_takes_loop(tmp_path: Path) -> None:
    from dbprobe.cli.parser import build_parser

    parser = build_parser()
    for command in ("seed", "uow", "repo", "select", "pool", "deadlock", "isolation", "clean"):
        assert parser.parse_args([command, "--loop", "asyncio"]).loop == "asyncio", command
        assert parser.parse_args([command]).loop == "auto", command
    assert parser.parse_args(["run", "x.py", "--loop", "uvloop"]).loop == "uvloop"
    suite = parser.parse_args(["suite", "--out", str(tmp_path), "--loop", "asyncio"])
    assert suite.loop == "asyncio"
