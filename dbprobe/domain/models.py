"""The reference domain: a strength-training planner and a money ledger.

Programs of weeks (microcycles) and days (sessions), built from a catalogue of
movements, give the one-to-many chains where N+1 queries bite; the ledger
(accounts, transfers) is what the concurrent-write probes move money in.
Tables are created in dbprobe's own namespace (see :mod:`dbprobe.database.engine`).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Integer, String
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

__all__ = [
    "Account",
    "Base",
    "Microcycle",
    "Movement",
    "Program",
    "SeedState",
    "SessionExercise",
    "TrainingSession",
    "Transfer",
    "User",
]


class Base(AsyncAttrs, DeclarativeBase):
    """Declarative base of the reference domain; ``awaitable_attrs`` for async lazy loads."""


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(120), unique=True)
    name: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)

    programs: Mapped[list[Program]] = relationship(back_populates="user", order_by="Program.id")


class Movement(Base):
    __tablename__ = "movements"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), index=True)
    pattern: Mapped[str] = mapped_column(String(32), index=True)
    primary_muscle: Mapped[str] = mapped_column(String(32))
    primary_region: Mapped[str] = mapped_column(String(16))
    skill_level: Mapped[int] = mapped_column(Integer)
    cns_load: Mapped[int] = mapped_column(Integer)
    is_compound: Mapped[bool] = mapped_column(Boolean)
    is_active: Mapped[bool] = mapped_column(Boolean)


class Program(Base):
    __tablename__ = "programs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    weeks: Mapped[int] = mapped_column(Integer)
    days_per_week: Mapped[int] = mapped_column(Integer)
    is_active: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)

    user: Mapped[User] = relationship(back_populates="programs")
    microcycles: Mapped[list[Microcycle]] = relationship(
        back_populates="program", order_by="Microcycle.week_index", cascade="all, delete-orphan"
    )


class Microcycle(Base):
    __tablename__ = "microcycles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    week_index: Mapped[int] = mapped_column(Integer)

    program: Mapped[Program] = relationship(back_populates="microcycles")
    sessions: Mapped[list[TrainingSession]] = relationship(
        back_populates="microcycle",
        # id breaks ties: reschedules can put two sessions of a week on one day
        order_by="[TrainingSession.day_index, TrainingSession.id]",
        cascade="all, delete-orphan",
    )


class TrainingSession(Base):
    """One training day; named so to stay apart from SQLAlchemy's Session."""

    __tablename__ = "sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    microcycle_id: Mapped[int] = mapped_column(ForeignKey("microcycles.id"), index=True)
    day_index: Mapped[int] = mapped_column(Integer)
    session_type: Mapped[str] = mapped_column(String(16))
    estimated_minutes: Mapped[int] = mapped_column(Integer)

    microcycle: Mapped[Microcycle] = relationship(back_populates="sessions")
    exercises: Mapped[list[SessionExercise]] = relationship(
        back_populates="session", order_by="SessionExercise.position", cascade="all, delete-orphan"
    )


class SessionExercise(Base):
    __tablename__ = "session_exercises"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), index=True)
    movement_id: Mapped[int] = mapped_column(ForeignKey("movements.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    sets: Mapped[int] = mapped_column(Integer)
    reps: Mapped[int] = mapped_column(Integer)
    rest_s: Mapped[int] = mapped_column(Integer)

    session: Mapped[TrainingSession] = relationship(back_populates="exercises")
    movement: Mapped[Movement] = relationship()


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    balance: Mapped[int] = mapped_column(BigInteger)  # cents: exact sums, no float drift


class Transfer(Base):
    __tablename__ = "transfers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    from_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    to_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)


class SeedState(Base):
    """One row saying what was seeded here, and whether the load finished.

    Written ``complete = false`` before the load and flipped in the same
    transaction as the last batch, so an interrupted seed is noticed later.
    """

    __tablename__ = "dbprobe_seed_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scale: Mapped[str] = mapped_column(String(16))
    seed: Mapped[int] = mapped_column(BigInteger)
    checksum: Mapped[str] = mapped_column(String(64))
    complete: Mapped[bool] = mapped_column(Boolean)
    seeded_at: Mapped[dt.datetime] = mapped_column(DateTime)
