"""dbprobe's capture API on an N+1 and on its fix: `python examples/n_plus_one.py`.

Seeds the reference domain (scale tiny) into a temporary SQLite file, then
reads one program's sessions lazily (one SELECT per week) and eagerly.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

import dbprobe
from dbprobe.data.scales import load_scale
from dbprobe.data.seeding import seed
from dbprobe.database.engine import open_database
from dbprobe.database.url import resolve_target
from dbprobe.domain import Microcycle, Program


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = await open_database(resolve_target(f"sqlite:///{Path(tmp) / 'example.sqlite3'}"))
        await seed(db, load_scale("tiny"), 1)
        async with AsyncSession(db.engine) as session:
            async with dbprobe.capture(db.engine) as lazy:
                program = await session.get(Program, 1)
                assert program is not None
                for week in await program.awaitable_attrs.microcycles:
                    await week.awaitable_attrs.sessions  # one SELECT per week
            print(f"lazy: {lazy.count} statements")
            for finding in lazy.findings:
                print(f"  {finding.kind}: {finding.message}")

            session.expunge_all()
            async with dbprobe.assert_no_n_plus_one(), dbprobe.capture() as eager:
                stmt = (
                    select(Program)
                    .where(Program.id == 1)
                    .options(selectinload(Program.microcycles).selectinload(Microcycle.sessions))
                )
                program = (await session.scalars(stmt)).one()
                days = sum(len(week.sessions) for week in program.microcycles)
            print(
                f"eager: {eager.count} statements for {days} sessions, findings: {eager.findings}"
            )
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
