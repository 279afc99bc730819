"""Tests of the command line, each in a process of its own as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_dbprobe(
    args: list[str], tmp_path: Path, *, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``python -m dbprobe ARGS`` with its data directory under ``tmp_path``.

    ``DBPROBE_DB_URL`` is dropped, so that the embedded SQLite file is the
    default target unless the arguments say otherwise.
    """
    env = {k: v for k, v in os.environ.items() if k != "DBPROBE_DB_URL"}
    env["DBPROBE_DATA_DIR"] = str(tmp_path / "data")
    return subprocess.run(
        [sys.executable, "-m", "dbprobe", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
