"""The console a pgbench or Locust user expects: short flags, --version, refused abbreviations,
the reason of an exit 1, and progress lines (issue 19).

Each case runs ``python -m dbprobe`` in a process of its own, on a SQLite file
in the test's directory. Nothing here asserts a duration or a rate: only the
accounting a run reports, and the presence and number of lines.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
from importlib.metadata import version
from pathlib import Path

from tests.cli import _environment, run_dbprobe


def _db(tmp_path: Path) -> list[str]:
    return ["--db", f"sqlite+aiosqlite:///{tmp_path / 'probe.sqlite3'}", "--scale", "tiny"]


def test_pgbench_short_flags_run_uow_with_four_workers_for_one_second(tmp_path: Path) -> None:
    out = tmp_path / "uow.json"

    proc = run_dbprobe(
        ["uow", "-c", "4", "-T", "1", *_db(tmp_path), "--quiet", "--json", str(out)], tmp_path
    )

    assert proc.returncode == 0, proc.stderr
    config = json.loads(out.read_text("utf-8"))["config"]
    assert (config["threads"], config["duration_s"], config["transactions"]) == (4, 1.0, None)


def test_version_prints_the_version_and_exits_0(tmp_path: Path) -> None:
    proc = run_dbprobe(["--version"], tmp_path)

    assert (proc.returncode, proc.stdout, proc.stderr) == (
        0,
        f"dbprobe {version('dbprobe')}\n",
        "",
    )


def test_an_abbreviated_option_is_refused_with_one_line_and_exit_2(tmp_path: Path) -> None:
    db_file = tmp_path / "probe.sqlite3"

    proc = run_dbprobe(["uow", "--thread", "4", *_db(tmp_path)], tmp_path)

    assert proc.returncode == 2
    assert proc.stderr == "dbprobe: error: unrecognized arguments: --thread 4\n"
    assert not db_file.exists()


def test_fail_on_names_the_finding_that_failed_the_run(tmp_path: Path) -> None:
    proc = run_dbprobe(
        ["repo", "-t", "1", "--only", "program_full_lazy", "--fail-on", "n_plus_one",
         "--quiet", *_db(tmp_path)], tmp_path,
    )  # fmt: skip

    assert proc.returncode == 1, proc.stderr
    reasons = [line for line in proc.stderr.splitlines() if line.startswith("dbprobe: exit 1: ")]
    assert reasons, proc.stderr
    assert all(
        line.startswith("dbprobe: exit 1: n_plus_one on program_full_lazy (--fail-on n_plus_one): ")
        for line in reasons
    ), reasons


def _run_with_stderr_on_a_terminal(args: list[str], tmp_path: Path) -> tuple[int, str]:
    """``python -m dbprobe ARGS`` with stderr on a pseudo-terminal 100 columns wide (stdout
    discarded, so the report stays off it); what the terminal showed, and the exit status."""
    primary, secondary = pty.openpty()
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    env = _environment(tmp_path / "data", {"TERM": "xterm-256color", "COLUMNS": "100"})
    proc = subprocess.Popen(
        [sys.executable, "-m", "dbprobe", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=secondary,
        stdin=subprocess.DEVNULL,
    )
    os.close(secondary)
    shown = bytearray()
    while True:
        ready, _, _ = select.select([primary], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(primary, 65536)
            except OSError:  # EIO: the process closed the terminal
                break
            if not chunk:
                break
            shown += chunk
        elif proc.poll() is not None:
            break
    os.close(primary)
    return proc.wait(timeout=60), shown.decode("utf-8", "replace")


def test_in_a_terminal_the_live_status_shows_throughput(tmp_path: Path) -> None:
    status, shown = _run_with_stderr_on_a_terminal(
        ["uow", "-c", "2", "-T", "3", *_db(tmp_path)], tmp_path
    )

    assert status == 0, shown
    assert re.search(
        r"\d[\d,]* tx/s, p50 [\d.]+ ms, p99 [\d.]+ ms, \d+ errors, \d+ in flight", shown
    ), shown
    assert re.search(r"\d:\d\d:\d\d elapsed, [\d:?]+ left, [\d,]+ tx", shown), shown
    assert "progress: " not in shown  # the live status, not the lines of a log


def test_with_p_1_and_no_terminal_progress_lines_are_printed(tmp_path: Path) -> None:
    proc = run_dbprobe(["uow", "-c", "2", "-T", "3", "-P", "1", *_db(tmp_path)], tmp_path)

    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("progress: ")]
    assert len(lines) >= 2, proc.stderr
