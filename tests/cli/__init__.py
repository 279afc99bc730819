"""Tests of the command line, each in a process of its own as a user runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def run_dbprobe(
    args: list[str],
    tmp_path: Path,
    *,
    cwd: Path | None = None,
    timeout: float = 300,
    data_dir: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m dbprobe ARGS`` with its data directory ``data_dir`` (else under ``tmp_path``).

    ``DBPROBE_DB_URL`` and ``DBPROBE_HISTORY`` are dropped, so that the
    embedded SQLite file is the default target and the history store lives in
    the data directory unless the arguments say otherwise.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("DBPROBE_DB_URL", "DBPROBE_HISTORY")}
    env["DBPROBE_DATA_DIR"] = str(data_dir or tmp_path / "data")
    return subprocess.run(
        [sys.executable, "-m", "dbprobe", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
