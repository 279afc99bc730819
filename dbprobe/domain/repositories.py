"""Repositories of the reference domain: the queries the probes time and count.

Each method is one query shape; the number of statements it issues is part of
its contract (the tests pin them), because that number is what N+1 detection
and the reports are about.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Row, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from dbprobe.domain.models import (
    Microcycle,
    Movement,
    Program,
    SessionExercise,
    TrainingSession,
    User,
)

__all__ = [
    "MovementRepository",
    "ProgramRepository",
    "TrainingSessionRepository",
    "UserRepository",
]


def _like_escape(term: str) -> str:
    """``term`` with LIKE's wildcards escaped (escape character ``\\``), so it matches literally."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, user_id: int) -> User | None:
        """One user by id, relationships not loaded. One statement."""
        stmt = select(User).where(User.id == user_id)
        return (await self._session.scalars(stmt)).one_or_none()


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

    async def get(self, movement_id: int) -> Movement | None:
        """One movement by id. One statement."""
        stmt = select(Movement).where(Movement.id == movement_id)
        return (await self._session.scalars(stmt)).one_or_none()

    async def active(self) -> Sequence[Movement]:
        """Every active movement, in id order. One statement."""
        stmt = select(Movement).where(Movement.is_active.is_(True)).order_by(Movement.id)
        return (await self._session.scalars(stmt)).all()

    async def by_pattern(self, pattern: str) -> Sequence[Movement]:
        """Movements of one pattern (``squat``, ``hinge``, ...), in id order. One statement."""
        stmt = select(Movement).where(Movement.pattern == pattern).order_by(Movement.id)
        return (await self._session.scalars(stmt)).all()

    async def by_patterns(self, patterns: Sequence[str]) -> Sequence[Movement]:
        """Movements of any of several patterns (``IN``), in id order. One statement."""
        stmt = select(Movement).where(Movement.pattern.in_(patterns)).order_by(Movement.id)
        return (await self._session.scalars(stmt)).all()

    async def by_compound(self, is_compound: bool = True) -> Sequence[Movement]:
        """Compound (or, with ``False``, isolation) movements, in id order. One statement."""
        stmt = select(Movement).where(Movement.is_compound.is_(is_compound)).order_by(Movement.id)
        return (await self._session.scalars(stmt)).all()

    async def up_to_skill(self, max_level: int) -> Sequence[Movement]:
        """Movements of skill level ``max_level`` or lower, in id order. One statement."""
        stmt = select(Movement).where(Movement.skill_level <= max_level).order_by(Movement.id)
        return (await self._session.scalars(stmt)).all()

    async def by_muscle(self, muscle: str) -> Sequence[Movement]:
        """Movements whose primary muscle is ``muscle``, in id order. One statement."""
        stmt = select(Movement).where(Movement.primary_muscle == muscle).order_by(Movement.id)
        return (await self._session.scalars(stmt)).all()

    async def by_region(self, region: str) -> Sequence[Movement]:
        """Movements of one region (upper, lower, full, core), in id order. One statement."""
        stmt = select(Movement).where(Movement.primary_region == region).order_by(Movement.id)
        return (await self._session.scalars(stmt)).all()

    async def matching(
        self,
        *,
        patterns: Sequence[str],
        region: str,
        max_skill: int,
        active: bool = True,
    ) -> Sequence[Movement]:
        """Movements passing several filters at once, in id order. One statement.

        Pattern among ``patterns`` (``IN``), primary region ``region``, skill
        level at most ``max_skill``, and ``is_active`` equal to ``active``.
        """
        stmt = (
            select(Movement)
            .where(
                Movement.pattern.in_(patterns),
                Movement.primary_region == region,
                Movement.skill_level <= max_skill,
                Movement.is_active.is_(active),
            )
            .order_by(Movement.id)
        )
        return (await self._session.scalars(stmt)).all()

    async def by_ids(self, movement_ids: Sequence[int]) -> Sequence[Movement]:
        """The movements of the given ids (``IN``) that exist, in id order. One statement."""
        stmt = select(Movement).where(Movement.id.in_(movement_ids)).order_by(Movement.id)
        return (await self._session.scalars(stmt)).all()

    async def search_name(self, term: str) -> Sequence[Movement]:
        """Movements whose name contains ``term``, ignoring case, in id order. One statement.

        ``ILIKE`` on PostgreSQL, ``lower(name) LIKE lower(...)`` on SQLite;
        ``%`` and ``_`` in ``term`` match themselves.
        """
        stmt = (
            select(Movement)
            .where(Movement.name.ilike(f"%{_like_escape(term)}%", escape="\\"))
            .order_by(Movement.id)
        )
        return (await self._session.scalars(stmt)).all()

    async def by_pattern_up_to_cns(self, pattern: str, max_cns: int) -> Sequence[Movement]:
        """Movements of one pattern with a CNS load of ``max_cns`` or lower. One statement."""
        stmt = (
            select(Movement)
            .where(Movement.pattern == pattern, Movement.cns_load <= max_cns)
            .order_by(Movement.id)
        )
        return (await self._session.scalars(stmt)).all()

    async def count_by_pattern(self) -> Sequence[Row[str, int]]:
        """``(pattern, count)`` rows, one per pattern, in pattern order. One statement."""
        stmt = (
            select(Movement.pattern, func.count(Movement.id))
            .group_by(Movement.pattern)
            .order_by(Movement.pattern)
        )
        return (await self._session.execute(stmt)).all()

    async def page(self, page: int, page_size: int) -> Sequence[Movement]:
        """Page ``page`` (1-based) of the movements in id order. One statement (LIMIT/OFFSET)."""
        if page < 1 or page_size < 1:
            raise ValueError(f"page and page_size must be at least 1, got {page}, {page_size}")
        stmt = (
            select(Movement).order_by(Movement.id).limit(page_size).offset((page - 1) * page_size)
        )
        return (await self._session.scalars(stmt)).all()

    async def total(self) -> int:
        """How many movements there are. One statement."""
        stmt = select(func.count()).select_from(Movement)
        return int((await self._session.execute(stmt)).scalar_one())

    async def active_for_session(
        self, regions: Sequence[str], patterns: Sequence[str]
    ) -> Sequence[Movement]:
        """Active movements of any of ``regions`` and of any of ``patterns``, in id order.

        What a session generator draws from. One statement.
        """
        stmt = (
            select(Movement)
            .where(
                Movement.is_active.is_(True),
                Movement.primary_region.in_(regions),
                Movement.pattern.in_(patterns),
            )
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

    async def get(self, program_id: int) -> Program | None:
        """One program alone, no relationship loaded. One statement.

        Reading its weeks afterwards (``await program.awaitable_attrs.microcycles``)
        lazy-loads them: one more statement per relationship walked, per object.
        """
        stmt = select(Program).where(Program.id == program_id)
        return (await self._session.scalars(stmt)).one_or_none()

    async def for_user(self, user_id: int) -> Sequence[Program]:
        """A user's programs, in id order, weeks not loaded. One statement."""
        stmt = select(Program).where(Program.user_id == user_id).order_by(Program.id)
        return (await self._session.scalars(stmt)).all()

    async def for_user_with_microcycles(self, user_id: int) -> Sequence[Program]:
        """A user's programs, in id order, with their weeks (selectinload).

        Two statements; one when the user has no program (selectinload has
        no parent to load for).
        """
        stmt = (
            select(Program)
            .where(Program.user_id == user_id)
            .options(selectinload(Program.microcycles))
            .order_by(Program.id)
        )
        return (await self._session.scalars(stmt)).all()

    async def active(self, limit: int = 20) -> Sequence[Program]:
        """The first ``limit`` active programs in id order. One statement."""
        stmt = select(Program).where(Program.is_active.is_(True)).order_by(Program.id).limit(limit)
        return (await self._session.scalars(stmt)).all()


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

    async def get(self, session_id: int) -> TrainingSession | None:
        """One session alone, exercises not loaded. One statement."""
        stmt = select(TrainingSession).where(TrainingSession.id == session_id)
        return (await self._session.scalars(stmt)).one_or_none()

    async def for_microcycle(self, microcycle_id: int) -> Sequence[TrainingSession]:
        """The sessions of one week, by day, exercises not loaded. One statement."""
        stmt = (
            select(TrainingSession)
            .where(TrainingSession.microcycle_id == microcycle_id)
            .order_by(TrainingSession.day_index, TrainingSession.id)
        )
        return (await self._session.scalars(stmt)).all()

    async def get_with_exercises(self, session_id: int) -> TrainingSession | None:
        """A session with its exercises and their movements. Two statements.

        The session; then its exercises (selectinload) with each movement
        joined into that same query. One statement when the session is missing.
        """
        stmt = (
            select(TrainingSession)
            .where(TrainingSession.id == session_id)
            .options(selectinload(TrainingSession.exercises).joinedload(SessionExercise.movement))
        )
        return (await self._session.scalars(stmt)).one_or_none()
