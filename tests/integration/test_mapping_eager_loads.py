"""Eager loads set on the mapping (lazy="selectin", lazy="joined") that nobody read.

There is no loader option to drop: the finding says the mapping makes them
eager, and its suggestion, applied to the query verbatim, turns them off.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import ForeignKey, String, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, lazyload, mapped_column, relationship

import dbprobe
from dbprobe.database.url import Target
from tests.source_lines import line_of
from tests.user_engine import user_engine

pytestmark = pytest.mark.asyncio

SCHEMA = "dbprobe_eagertest"


class Base(DeclarativeBase):
    pass


class Shelf(Base):
    __tablename__ = "shelves"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(40))
    # Eager on the mapping: every select(Shelf) loads them, read or not.
    volumes: Mapped[list[Volume]] = relationship(lazy="selectin", order_by="Volume.id")
    room: Mapped[Room] = relationship(lazy="joined")
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id"))


class Room(Base):
    __tablename__ = "rooms"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))


class Volume(Base):
    __tablename__ = "volumes"
    id: Mapped[int] = mapped_column(primary_key=True)
    shelf_id: Mapped[int] = mapped_column(ForeignKey("shelves.id"))
    title: Mapped[str] = mapped_column(String(40))


@pytest_asyncio.fixture
async def engine(target: Target) -> AsyncIterator[AsyncEngine]:
    async with user_engine(target, SCHEMA, Base.metadata) as engine:
        async with AsyncSession(engine) as session:
            session.add_all(Room(id=r, name=f"room {r}") for r in (1, 2))
            for s in range(1, 4):
                shelf = Shelf(id=s, label=f"shelf {s}", room_id=1 + s % 2)
                shelf.volumes = [Volume(title=f"vol {s}.{v}") for v in range(2)]
                session.add(shelf)
            await session.commit()
        yield engine


async def _labels(engine: AsyncEngine, *options: Any) -> tuple[list[str], dbprobe.Capture]:
    async with AsyncSession(engine) as session, dbprobe.capture() as cap:
        shelves = (await session.scalars(select(Shelf).options(*options).order_by(Shelf.id))).all()
        labels = [shelf.label for shelf in shelves]  # neither volumes nor room is read
    return labels, cap


async def test_unread_mapping_eager_loads_name_the_mapping_and_their_fix_works(
    engine: AsyncEngine,
) -> None:
    labels, cap = await _labels(engine)
    assert labels == ["shelf 1", "shelf 2", "shelf 3"]
    assert cap.count == 2  # the shelves (rooms joined), then their volumes
    found = {f.evidence.relationship: f for f in cap.findings}
    # Both point at the user's query that loaded them.
    query_line = line_of(
        __file__, "shelves = (await session.scalars(select(Shelf).options(*options)"
    )
    assert {f.location for f in found.values()} == {query_line}
    assert set(found) == {"Shelf.room", "Shelf.volumes"}  # the joined one too
    volumes, room = found["Shelf.volumes"], found["Shelf.room"]
    assert 'eager on its mapping (relationship(lazy="selectin"))' in volumes.message
    assert 'eager on its mapping (relationship(lazy="joined"))' in room.message
    assert volumes.evidence.suggestion == ".options(lazyload(Shelf.volumes))"
    assert room.evidence.suggestion == ".options(lazyload(Shelf.room))"

    # Applied verbatim: the volumes' statement goes, the rooms' join goes.
    scope = {"lazyload": lazyload, "Shelf": Shelf}
    fixes = [
        eval(f.evidence.suggestion.removeprefix(".options(").removesuffix(")"), scope)
        for f in (volumes, room)
    ]
    labels, fixed = await _labels(engine, *fixes)
    assert labels == ["shelf 1", "shelf 2", "shelf 3"]
    assert fixed.count == 1
    assert "JOIN" not in fixed.executed[0].upper()
    assert fixed.findings == []


async def test_a_read_mapping_eager_load_is_no_finding(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session, dbprobe.capture() as cap:
        shelves = (await session.scalars(select(Shelf).order_by(Shelf.id))).all()
        seen = [(shelf.room.name, len(shelf.volumes)) for shelf in shelves]
    assert seen == [("room 2", 2), ("room 1", 2), ("room 2", 2)]
    assert cap.findings == []
