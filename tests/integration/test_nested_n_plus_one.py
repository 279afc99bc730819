"""A lazy collection inside a lazy collection: the fix is the path from the query's entity."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

import dbprobe
from dbprobe.database.engine import Database
from dbprobe.domain import Microcycle, Program
from tests.source_lines import line_of

pytestmark = pytest.mark.asyncio


async def _weeks_and_sessions(db: Database, *options: Any) -> tuple[int, dbprobe.Capture]:
    async with AsyncSession(db.engine) as session, dbprobe.capture() as cap:
        query = select(Program).where(Program.id == 1).options(*options)
        program = (await session.scalars(query)).one()
        sessions = 0
        for week in await program.awaitable_attrs.microcycles:
            sessions += len(await week.awaitable_attrs.sessions)  # one SELECT per week
    return sessions, cap


async def test_the_inner_n_plus_one_gets_the_chained_option_and_it_applies(
    tiny_db: Database,
) -> None:
    sessions, cap = await _weeks_and_sessions(tiny_db)
    (finding,) = cap.findings
    assert finding.kind == "n_plus_one"
    assert finding.evidence.relationship == "Microcycle.sessions"
    assert finding.evidence.location == line_of(__file__, "# one SELECT per week")
    suggestion = finding.evidence.suggestion
    assert suggestion == (
        ".options(selectinload(Program.microcycles).selectinload(Microcycle.sessions))"
    )
    weeks = finding.evidence.executions
    assert cap.count == 2 + weeks  # the program, its weeks, then each week's sessions

    # The option alone on the inner relationship does not apply to select(Program).
    with pytest.raises(ArgumentError, match="does not apply to any of the root entities"):
        await _weeks_and_sessions(tiny_db, selectinload(Microcycle.sessions))
    # The suggestion, applied verbatim: three statements, no finding, the same rows.
    scope = {"selectinload": selectinload, "joinedload": joinedload}
    scope |= {"Program": Program, "Microcycle": Microcycle}
    option = eval(suggestion.removeprefix(".options(").removesuffix(")"), scope)
    fixed_sessions, fixed = await _weeks_and_sessions(tiny_db, option)
    assert fixed_sessions == sessions
    assert fixed.count == 3
    assert fixed.findings == []
