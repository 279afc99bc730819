"""SIGINT and SIGTERM during seeding: a database is never left half-seeded."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from tests.cli import run_with_env


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DBPROBE_DB_URL"}
    env["DBPROBE_DATA_DIR"] = str(tmp_path / "data")
    return env


def _interrupt_seed(tmp_path: Path, sig: signal.Signals, rows_before_signal: int) -> int:
    """Seed `medium` and send ``sig`` once the progress shows that many rows loaded."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dbprobe", "seed", "--scale", "medium", "--seed", "3"],
        env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    db = tmp_path / "data" / "dbprobe.sqlite3"
    try:
        # Wait until the load has written rows to the WAL: polling the file, not sleeping.
        while proc.poll() is None:
            wal = Path(str(db) + "-wal")
            if wal.exists() and wal.stat().st_size > rows_before_signal * 20:
                break
            # Not a timing: without a pause the poll took a core from the seeding it waits on.
            time.sleep(0.005)
        proc.send_signal(sig)
        proc.communicate(timeout=30)  # a guard against a hang, not a timing
    finally:
        proc.kill()
    return proc.returncode


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("rows", [5_000, 100_000])
def test_interrupted_seed_leaves_the_previous_seed_whole(
    tmp_path: Path, sig: signal.Signals, rows: int
) -> None:
    first = run_with_env(["seed", "--scale", "tiny", "--seed", "1"], _env(tmp_path), timeout=60)
    assert first.returncode == 0
    checksum = first.stdout.strip().splitlines()[-1]
    assert _interrupt_seed(tmp_path, sig, rows) == 130
    db = tmp_path / "data" / "dbprobe.sqlite3"
    with closing(sqlite3.connect(db)) as conn:
        state = conn.execute("SELECT scale, seed, complete FROM dbprobe_seed_state").fetchall()
        users = conn.execute("SELECT count(*) FROM users").fetchone()[0]
    # The load ran in one transaction: the earlier tiny seed is still there, whole.
    assert state == [("tiny", 1, 1)]
    assert users == 8
    again = run_with_env(["seed", "--scale", "tiny", "--seed", "1"], _env(tmp_path), timeout=60)
    assert again.stdout.strip().splitlines()[-1] == checksum
