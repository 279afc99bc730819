"""The Unit of Work: one session, one transaction, repositories bound to it."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from dbprobe.domain.repositories import (
    MovementRepository,
    ProgramRepository,
    TrainingSessionRepository,
    UserRepository,
)

__all__ = ["UnitOfWork"]


class UnitOfWork:
    """``async with UnitOfWork(factory) as uow: ...; await uow.commit()``.

    Leaving the block without a commit rolls back. The commit is timed apart
    from the rest of the transaction (``commit_ns``), because a slow commit
    (fsync, WAL flush, a lock at commit) is a different problem from slow
    statements.
    """

    session: AsyncSession
    movements: MovementRepository
    programs: ProgramRepository
    sessions: TrainingSessionRepository
    users: UserRepository

    def __init__(
        self,
        session_factory: async_sessionmaker[Any],
        *,
        clock_ns: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        self._factory = session_factory
        self._clock_ns = clock_ns
        self._committed = False
        self.commit_ns: int | None = None

    async def __aenter__(self) -> UnitOfWork:
        self.session = self._factory()
        self.movements = MovementRepository(self.session)
        self.programs = ProgramRepository(self.session)
        self.sessions = TrainingSessionRepository(self.session)
        self.users = UserRepository(self.session)
        return self

    async def commit(self) -> None:
        # Flush first, so that commit_ns is the COMMIT alone and not the
        # INSERTs and UPDATEs the session had pending.
        await self.session.flush()
        started = self._clock_ns()
        await self.session.commit()
        self.commit_ns = self._clock_ns() - started
        self._committed = True

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed:
                await self.session.rollback()
        finally:
            await self.session.close()
