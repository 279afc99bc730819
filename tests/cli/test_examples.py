"""The examples the README points to run as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_n_plus_one_example_finds_the_n_plus_one_and_not_in_the_fix() -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "examples" / "n_plus_one.py")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO / "examples",
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("lazy: ")
    assert "N+1: Microcycle.sessions (collection)" in lines[1]
    assert (
        ".options(selectinload(Program.microcycles).selectinload(Microcycle.sessions))" in lines[1]
    )
    assert lines[2].startswith("eager: 3 statements for ")
    assert lines[2].endswith("findings: []")
