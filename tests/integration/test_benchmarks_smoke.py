"""The benchmark command runs end to end at a tiny size, so that it cannot rot.

This is not a benchmark: nothing here looks at a figure's size. It checks that
``python benchmarks/run.py --smoke`` measures every section against the real
PostgreSQL (in databases of its own, never the test database) and writes a
page with every section, every target's row and a verdict for each.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from dbprobe.database.url import Target

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = (
    "## Machine and versions",
    "## Summary",
    "## Seeding",
    "## Memory",
    "## Start-up",
    "## Overhead of the instrumentation",
    "## Ceiling: one process against pgbench",
    "## Accuracy",
    "## The advice of --explain, applied",
)
TARGET_ROWS = (
    "`dbprobe seed --scale tiny`, PostgreSQL",
    "`dbprobe seed --scale tiny`, SQLite",
    "RSS growth, 100,000 latencies recorded",
    "`python -m dbprobe --help`",
    "`import dbprobe.pytest_plugin` after pytest",
    "select via=driver, instrumented",
    "select via=core, instrumented",
    "select via=orm, instrumented",
    "select via=driver, 4 workers (asyncio)",
    "p50 of pg_sleep(0.005), 4 workers",
)


# The whole command starts some twenty processes (each imports SQLAlchemy):
# about a minute on a two-core machine, more than the suite's 120 s default
# when the machine is busy.
@pytest.mark.timeout(400)
def test_smoke_run_writes_every_section_with_a_verdict_for_every_target(
    pg_target: Target, tmp_path: Path
) -> None:
    # Databases of the benchmark's own on the test server: pgbench -i drops and
    # reloads its tables, which must never happen in the database the tests use.
    url = make_url(pg_target.url.render_as_string(hide_password=False))
    bench_url = url.set(database="dbprobe_bench_smoke").render_as_string(hide_password=False)
    out = tmp_path / "PERFORMANCE.md"

    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "run.py"),
            "--smoke",
            "--out",
            str(out),
            "--pg",
            bench_url,
            "--pgbench-db",
            "dbprobe_pgbench_smoke",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )

    assert done.returncode == 0, done.stderr[-3000:]
    page = out.read_text()
    for heading in SECTIONS:
        assert heading in page, heading
    summary = page.split("## Summary", 1)[1].split("\n## ", 1)[0]
    if shutil.which("pgbench") is None:
        assert page.count("*Not measured: pgbench is not on the PATH*") == 3
        return
    rows = [line for line in summary.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + len(TARGET_ROWS) + 2  # header, targets, uow run, 2 processes
    for name in TARGET_ROWS:
        (row,) = [r for r in rows if name in r]
        assert row.endswith("| met |") or "| **not met** (" in row, row
    assert "not measured" not in summary
    assert re.search(r"^\| PostgreSQL \| \d+\.\d+", page, re.MULTILINE)
    assert "dbprobe.session_exercises" in page  # the row-width table
