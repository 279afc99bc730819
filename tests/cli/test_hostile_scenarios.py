"""Scenarios that misbehave at dbprobe: exiting the process, raising interrupts from their own
code, putting terminal escapes and rich markup in their names and error messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import run_dbprobe

EXITS = """
import dbprobe


@dbprobe.scenario(weight=1)
async def exits(ctx):
    raise {exc}
"""


@pytest.mark.parametrize(
    ("exc", "sample"),
    [("SystemExit(3)", "SystemExit: 3"), ("KeyboardInterrupt()", "KeyboardInterrupt")],
    ids=["SystemExit", "KeyboardInterrupt"],
)
def test_an_operation_raising_a_base_exception_is_its_error_and_the_run_reports(
    exc: str, sample: str, tmp_path: Path
) -> None:
    # A real Ctrl-C reaches dbprobe as a signal (the run stops, exit 130), never as an
    # exception raised inside an operation: one raised there is the scenario's own doing.
    scenario = tmp_path / "exits.py"
    scenario.write_text(EXITS.format(exc=exc))
    out = tmp_path / "run.json"
    args = ["run", str(scenario), "--threads", "2", "--transactions", "3", "--warmup", "0",
            "--quiet", "--json", str(out)]  # fmt: skip
    proc = run_dbprobe(args, tmp_path, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the error_rate finding, not 3
    assert "Traceback" not in proc.stderr
    data = json.loads(out.read_text())
    (op,) = data["operations"]
    assert (op["name"], op["count"], op["errors"], op["commits"]) == ("exits", 6, 6, 0)
    assert op["error_classes"] == {"other": 6}
    assert set(op["error_samples"]["other"]) == {sample}
    # (A busy machine may add a generator_saturated warning: not this test's business.)
    assert "error_rate" in [f["kind"] for f in data["findings"]]


HOSTILE_TEXT = """
import dbprobe


@dbprobe.scenario(weight=1, name="[/x] [bold]name")
async def marked_up(ctx):
    raise ValueError("boom \\x1b[2J\\x1b[31mred\\u202eevil [/x] end")
"""


def test_markup_and_control_characters_in_scenario_text_print_as_written(tmp_path: Path) -> None:
    scenario = tmp_path / "hostile.py"
    scenario.write_text(HOSTILE_TEXT)
    listed = run_dbprobe(["run", str(scenario), "--list"], tmp_path, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert "[/x] [bold]name" in listed.stdout
    args = ["run", str(scenario), "--threads", "1", "--transactions", "2", "--warmup", "0"]
    proc = run_dbprobe(args, tmp_path, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the error_rate finding
    assert "Traceback" not in proc.stderr
    output = proc.stdout + proc.stderr
    assert "\x1b" not in output  # shown, never obeyed
    assert "\u202e" not in output
    assert "[/x] [bold]name" in proc.stdout  # the operations table, as written
    # The failed attempts block and the error_rate finding: the message, escapes visible.
    assert proc.stdout.count("boom \\x1b[2J\\x1b[31mred\\u202eevil [/x] end") == 2


def test_a_recorded_label_with_markup_prints_in_history(tmp_path: Path) -> None:
    label = "[/x] [bold]nightly\x1b[31m :smile:"
    run = ["uow", "--scale", "tiny", "--threads", "1", "--duration", "0.2", "--warmup", "0",
           "--quiet", "--record", "--label", label]  # fmt: skip
    recorded = run_dbprobe(run, tmp_path, timeout=60)
    assert recorded.returncode == 0, recorded.stderr
    shown = run_dbprobe(["history", "uow", "read_program"], tmp_path, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "Traceback" not in shown.stderr
    assert "[/x] [bold]nightly\\x1b[31m :smile:" in shown.stdout


HOOK_EXITS = """
import dbprobe


async def {hook}(engine):
    raise SystemExit(3)


@dbprobe.scenario(weight=1)
async def fine(ctx):
    pass
"""


def test_a_setup_raising_system_exit_is_one_line_and_exit_2(tmp_path: Path) -> None:
    scenario = tmp_path / "setup_exits.py"
    scenario.write_text(HOOK_EXITS.format(hook="setup"))
    args = ["run", str(scenario), "--threads", "1", "--transactions", "1", "--warmup", "0"]
    proc = run_dbprobe(args, tmp_path, timeout=60)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()[-1:]
    assert "setup() in" in line
    assert "SystemExit: 3" in line
    assert "Traceback" not in proc.stderr


def test_a_teardown_raising_system_exit_keeps_the_report(tmp_path: Path) -> None:
    scenario = tmp_path / "teardown_exits.py"
    scenario.write_text(HOOK_EXITS.format(hook="teardown"))
    out = tmp_path / "run.json"
    args = ["run", str(scenario), "--threads", "1", "--transactions", "2", "--warmup", "0",
            "--quiet", "--json", str(out)]  # fmt: skip
    proc = run_dbprobe(args, tmp_path, timeout=60)
    assert proc.returncode == 1, proc.stdout + proc.stderr  # the teardown_failed finding
    data = json.loads(out.read_text())
    assert data["operations"][0]["commits"] == 2
    (finding,) = [f for f in data["findings"] if f["kind"] == "teardown_failed"]
    assert "SystemExit: 3" in finding["message"]
