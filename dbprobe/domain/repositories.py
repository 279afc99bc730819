"""Repositories of the reference domain: the queries the probes time and count.

Each method is one query shape; the number of statements it issues is part of
its contract (the tests pin them), because that number is what N+1 detection
and the reports are about.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from dbprobe.domain.models import Microcycle, Movement, Program, SessionExercise, TrainingSession

__all__ = ["MovementRepository", "ProgramRepository", "TrainingSessionRepository"]


class MovementRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def active_in_regions(self, regions: Sequence[str]) -> Sequence[Movement]:
        """Active movements of the given regions, in id order. One statement."""
        stmt = (
            select(Movement)
            .where(Movement.is_active.is_(True), Movement.primary_region.in_(regions))
            .order_by(Movement.id)
        )
        return (await self._session.scalars(stmt)).all()


class ProgramRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def add(self, program: Program) -> None:
        """Stage a new program with its weeks, sessions and exercises; written at commit."""
        self._session.add(program)

    async def get_full(self, program_id: int) -> Program | None:
        """A program with its weeks, sessions, exercises and movements. Four statements.

        selectinload walks each one-to-many level with one IN query; the
        many-to-one movement rides along in the exercises' query as a join.
        """
        stmt = (
            select(Program)
            .where(Program.id == program_id)
            .options(
                selectinload(Program.microcycles)
                .selectinload(Microcycle.sessions)
                .selectinload(TrainingSession.exercises)
                .joinedload(SessionExercise.movement)
            )
        )
        return (await self._session.scalars(stmt)).one_or_none()


class TrainingSessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get_for_update(self, session_id: int) -> TrainingSession | None:
        """A session and its exercises, the session row locked. Two statements.

        ``FOR UPDATE`` makes concurrent reschedules of one session queue up on
        PostgreSQL (or fail with 40001 above read committed); SQLite has no row
        locks, and its write transactions are serialized by BEGIN IMMEDIATE.
        """
        stmt = (
            select(TrainingSession)
            .where(TrainingSession.id == session_id)
            .options(selectinload(TrainingSession.exercises))
            .with_for_update(of=TrainingSession)
        )
        return (await self._session.scalars(stmt)).one_or_none()
