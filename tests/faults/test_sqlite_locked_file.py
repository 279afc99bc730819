"""Another process holds the SQLite file's write lock for a second: writers wait, nothing is lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from dbprobe.data.scales import load_scale
from dbprobe.data.seeding import ensure_seeded
from dbprobe.database.engine import PoolOptions, open_database
from dbprobe.database.url import resolve_target
from dbprobe.domain.models import Program
from dbprobe.load.harness import ProbeHooks, TargetOptions
from dbprobe.load.plan import LoadPlan
from dbprobe.probes import uow
from dbprobe.probes.uow import run_uow

pytestmark = pytest.mark.asyncio

HOLDER = (
    "import sqlite3, sys\n"
    "conn = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "conn.execute('BEGIN EXCLUSIVE')\n"
    "print('locked', flush=True)\n"
    "sys.stdin.readline()\n"  # held until the test says so
    "conn.execute('COMMIT')\n"
)


async def _programs(url: str) -> int:
    db = await open_database(resolve_target(url, {}), PoolOptions(size=1))
    try:
        async with db.engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(Program))).scalar_one())
    finally:
        await db.dispose()


async def test_writers_wait_for_a_foreign_lock_and_every_commit_lands(tmp_path: Path) -> None:
    path = tmp_path / "locked.sqlite3"
    url = f"sqlite+aiosqlite:///{path}"
    target = resolve_target(url, {})
    db = await open_database(target, PoolOptions(size=1))
    await ensure_seeded(db, load_scale("tiny"), 1)
    await db.dispose()
    before = await _programs(url)

    # Blocking on purpose: nothing else runs until the holder has the lock.
    with subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    ) as holder:  # fmt: skip
        assert holder.stdout is not None
        assert holder.stdin is not None
        assert holder.stdout.readline().strip() == "locked"

        def release(point: object) -> None:
            if holder.poll() is None and not holder.stdin.closed:  # type: ignore[union-attr]
                holder.stdin.write("\n")  # type: ignore[union-attr]
                holder.stdin.close()  # type: ignore[union-attr]

        report = await run_uow(
            TargetOptions(target, scale="tiny", pool=PoolOptions(4)),
            uow.UowOptions(
                plan=LoadPlan(workers=4, duration_s=2.0),
                mix={"create_program": 1, "reschedule_session": 1},
            ),
            hooks=ProbeHooks(on_tick=release),  # released after the first second
        )
        holder.wait(timeout=30)  # a guard against a hang, not a timing
    assert holder.returncode == 0
    waits = sum(op.lock_waits for op in report.operations)
    assert waits >= 4  # every worker's first write waited for the foreign lock
    assert sum(op.lock_wait_ms_total for op in report.operations) > 0
    assert all(op.errors == 0 and not op.error_classes for op in report.operations)
    created = report.operation("create_program").commits
    assert created > 0
    assert await _programs(url) == before + created  # nothing lost
