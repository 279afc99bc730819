"""Column loads one row at a time: deferred columns, subclass columns, rows expired by a commit.

None of them is a relationship load: SQLAlchemy issues them as column loads
(``ORMExecuteState.is_column_load``). Each finding names the columns and the
fix for its cause, the tests apply that fix verbatim and see the repeated
statements go, on a real SQLite file and on PostgreSQL.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import pytest_asyncio
from sqlalchemy import ForeignKey, String, Text, func, select
from sqlalchemy.exc import InvalidRequestError, MissingGreenlet, StatementError
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncEngine, AsyncSession
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    column_property,
    defer,
    load_only,
    mapped_column,
    relationship,
    selectin_polymorphic,
    undefer,
    undefer_group,
)

import dbprobe
from dbprobe.database.url import Target
from tests.source_lines import line_of
from tests.user_engine import user_engine

pytestmark = pytest.mark.asyncio

HERE = str(Path(__file__).resolve())
SCHEMA = "dbprobe_columntest"
WRITERS = 5
ENGINEERS = 4


class Base(AsyncAttrs, DeclarativeBase):
    pass


class Title(Base):
    __tablename__ = "titles"
    id: Mapped[int] = mapped_column(primary_key=True)
    writer_id: Mapped[int] = mapped_column(ForeignKey("writers.id"))
    name: Mapped[str] = mapped_column(String(40))


class Writer(Base):
    __tablename__ = "writers"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    bio: Mapped[str] = mapped_column(Text, deferred=True)
    street: Mapped[str] = mapped_column(String(40), deferred=True, deferred_group="address")
    city: Mapped[str] = mapped_column(String(40), deferred=True, deferred_group="address")
    title_count: Mapped[int] = column_property(
        select(func.count(Title.id))
        .where(Title.writer_id == id)
        .correlate_except(Title)
        .scalar_subquery(),
        deferred=True,
    )
    titles: Mapped[list[Title]] = relationship(order_by=Title.id)


class Staff(Base):
    __tablename__ = "staff"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(40))
    __mapper_args__: ClassVar[dict[str, Any]] = {
        "polymorphic_on": "kind",
        "polymorphic_identity": "staff",
    }


class Engineer(Staff):
    __tablename__ = "engineers"
    id: Mapped[int] = mapped_column(ForeignKey("staff.id"), primary_key=True)
    language: Mapped[str] = mapped_column(String(20))
    __mapper_args__: ClassVar[dict[str, Any]] = {"polymorphic_identity": "engineer"}


@pytest_asyncio.fixture
async def engine(target: Target) -> AsyncIterator[AsyncEngine]:
    async with user_engine(target, SCHEMA, Base.metadata) as engine:
        async with AsyncSession(engine) as session:
            for w in range(1, WRITERS + 1):
                writer = Writer(id=w, name=f"writer {w}", bio=f"bio {w}")
                writer.street, writer.city = f"{w} main street", f"town {w}"
                writer.titles = [Title(name=f"title {w}.{t}") for t in range(w)]
                session.add(writer)
            session.add_all(
                Engineer(name=f"eng {e}", language=f"lang {e}") for e in range(ENGINEERS)
            )
            session.add_all(Staff(name=f"staff {s}") for s in range(2))
            await session.commit()
        yield engine


def _option(suggestion: str, **scope: Any) -> Any:
    """The loader option of a suggestion ``.options(X)``, evaluated as the user would paste it."""
    return eval(suggestion.removeprefix(".options(").removesuffix(")"), scope)


async def _writers(
    engine: AsyncEngine, attribute: str, *options: Any
) -> tuple[list[Any], dbprobe.Capture]:
    async with AsyncSession(engine) as session, dbprobe.capture() as cap:
        query = select(Writer).options(*options).order_by(Writer.id)
        writers = (await session.scalars(query)).all()
        values = [await getattr(w.awaitable_attrs, attribute) for w in writers]  # per row
    return values, cap


async def test_a_deferred_column_loaded_per_row_is_named_and_undefer_applies(
    engine: AsyncEngine,
) -> None:
    bios, cap = await _writers(engine, "bio")
    assert bios == [f"bio {w}" for w in range(1, WRITERS + 1)]
    assert cap.count == 1 + WRITERS
    (finding,) = cap.findings
    assert finding.kind == "n_plus_one"
    assert finding.evidence.relationship is None
    assert finding.evidence.columns == ("Writer.bio",)
    assert finding.evidence.column_load == "deferred"
    assert finding.evidence.executions == WRITERS
    assert finding.evidence.suggestion == ".options(undefer(Writer.bio))"
    assert finding.message.startswith("N+1: deferred column Writer.bio loaded 5 times")
    assert "raiseload" in finding.message  # how to find the others
    assert finding.evidence.location == line_of(
        __file__, "values = [await getattr(w.awaitable_attrs"
    )

    option = _option(finding.evidence.suggestion, undefer=undefer, Writer=Writer)
    fixed_bios, fixed = await _writers(engine, "bio", option)
    assert fixed_bios == bios
    assert fixed.count == 1
    assert fixed.findings == []


async def test_a_deferred_group_is_undeferred_as_a_group(engine: AsyncEngine) -> None:
    streets, cap = await _writers(engine, "street")
    assert cap.count == 1 + WRITERS  # the group's two columns come in one statement per row
    (finding,) = cap.findings
    assert finding.kind == "n_plus_one"
    assert finding.evidence.columns == ("Writer.city", "Writer.street")
    assert finding.evidence.suggestion == '.options(undefer_group("address"))'
    assert finding.evidence.location == line_of(
        __file__, "values = [await getattr(w.awaitable_attrs"
    )

    option = _option(finding.evidence.suggestion, undefer_group=undefer_group)
    fixed_streets, fixed = await _writers(engine, "street", option)
    assert fixed_streets == streets
    assert fixed.count == 1
    assert fixed.findings == []


async def test_a_deferred_column_property_is_named_and_undefer_applies(
    engine: AsyncEngine,
) -> None:
    counts, cap = await _writers(engine, "title_count")
    assert counts == list(range(1, WRITERS + 1))
    assert cap.count == 1 + WRITERS
    (finding,) = cap.findings
    assert finding.kind == "n_plus_one"
    assert finding.evidence.columns == ("Writer.title_count",)
    assert finding.evidence.suggestion == ".options(undefer(Writer.title_count))"
    assert finding.evidence.location == line_of(
        __file__, "values = [await getattr(w.awaitable_attrs"
    )

    option = _option(finding.evidence.suggestion, undefer=undefer, Writer=Writer)
    fixed_counts, fixed = await _writers(engine, "title_count", option)
    assert fixed_counts == counts
    assert fixed.count == 1
    assert fixed.findings == []


async def test_a_column_left_out_of_load_only_gets_undefer_and_it_applies(
    engine: AsyncEngine,
) -> None:
    names, cap = await _writers(engine, "name", load_only(Writer.id))
    assert cap.count == 1 + WRITERS
    (finding,) = cap.findings
    assert finding.kind == "n_plus_one"
    assert finding.evidence.columns == ("Writer.name",)
    assert finding.evidence.column_load == "deferred"
    assert finding.evidence.suggestion == ".options(undefer(Writer.name))"
    assert finding.evidence.location == line_of(
        __file__, "values = [await getattr(w.awaitable_attrs"
    )

    option = _option(finding.evidence.suggestion, undefer=undefer, Writer=Writer)
    fixed_names, fixed = await _writers(engine, "name", load_only(Writer.id), option)
    assert fixed_names == names
    assert fixed.count == 1
    assert fixed.findings == []


async def test_a_column_the_query_deferred_by_name_is_told_to_drop_that_option(
    engine: AsyncEngine,
) -> None:
    names, cap = await _writers(engine, "name", defer(Writer.name))
    assert cap.count == 1 + WRITERS
    (finding,) = cap.findings
    assert finding.kind == "n_plus_one"
    assert finding.evidence.columns == ("Writer.name",)
    assert finding.evidence.suggestion == "remove defer(Writer.name) from the query's options"
    assert finding.evidence.location == line_of(
        __file__, "values = [await getattr(w.awaitable_attrs"
    )
    # undefer() beside the defer() is refused (2.0 and 2.1 word it differently): the
    # option itself has to go.
    with pytest.raises(InvalidRequestError, match="conflict"):
        await _writers(engine, "name", defer(Writer.name), undefer(Writer.name))
    fixed_names, fixed = await _writers(engine, "name")
    assert fixed_names == names
    assert fixed.count == 1
    assert fixed.findings == []


async def _languages(engine: AsyncEngine, *options: Any) -> tuple[list[str], dbprobe.Capture]:
    async with AsyncSession(engine) as session, dbprobe.capture() as cap:
        staff = (await session.scalars(select(Staff).options(*options).order_by(Staff.id))).all()
        languages = [
            await s.awaitable_attrs.language  # the subclass's own table, per row
            for s in staff
            if isinstance(s, Engineer)
        ]
    return languages, cap


async def test_subclass_columns_loaded_per_row_suggest_selectin_polymorphic(
    engine: AsyncEngine,
) -> None:
    languages, cap = await _languages(engine)
    assert languages == [f"lang {e}" for e in range(ENGINEERS)]
    assert cap.count == 1 + ENGINEERS
    (finding,) = cap.findings
    assert finding.kind == "n_plus_one"
    assert finding.evidence.relationship is None
    assert finding.evidence.columns == ("Engineer.language",)
    assert finding.evidence.column_load == "subclass"
    assert finding.evidence.suggestion == ".options(selectin_polymorphic(Staff, [Engineer]))"
    assert "with_polymorphic(Staff, [Engineer])" in finding.message
    assert finding.evidence.location == line_of(__file__, "await s.awaitable_attrs.language")

    scope = {"selectin_polymorphic": selectin_polymorphic, "Staff": Staff, "Engineer": Engineer}
    option = _option(finding.evidence.suggestion, **scope)
    fixed_languages, fixed = await _languages(engine, option)
    assert fixed_languages == languages
    assert fixed.count == 2  # the staff, then every engineer's own columns at once
    assert fixed.findings == []


async def _names_after_commit(
    engine: AsyncEngine, **session_options: Any
) -> tuple[list[str], dbprobe.Capture]:
    async with AsyncSession(engine, **session_options) as session:
        writers = (await session.scalars(select(Writer).order_by(Writer.id))).all()
        for writer in writers:
            writer.name = writer.name.upper()
        await session.commit()
        async with dbprobe.capture() as cap:
            names = [await w.awaitable_attrs.name for w in writers]  # expired by the commit
    return names, cap


async def test_rows_expired_by_a_commit_and_reloaded_per_row_suggest_expire_on_commit_false(
    engine: AsyncEngine,
) -> None:
    names, cap = await _names_after_commit(engine)
    assert names == [f"WRITER {w}" for w in range(1, WRITERS + 1)]
    assert cap.count == WRITERS
    (finding,) = cap.findings
    assert finding.kind == "n_plus_one"
    assert finding.evidence.relationship is None
    assert finding.evidence.columns == ("Writer.id", "Writer.name")
    assert finding.evidence.column_load == "expired"
    assert finding.evidence.suggestion == "expire_on_commit=False"
    assert "expired by a commit" in finding.message
    assert finding.evidence.location == line_of(
        __file__, "names = [await w.awaitable_attrs.name for w"
    )

    # The suggestion is the session's keyword: with it, the commit expires nothing.
    fixed_names, fixed = await _names_after_commit(
        engine, **eval(f"dict({finding.evidence.suggestion})")
    )
    assert fixed_names == names
    assert fixed.count == 0
    assert fixed.findings == []


# SQLAlchemy's aiosqlite adapter creates the cursor coroutine before await_()
# refuses to run outside a greenlet, and that coroutine is then never awaited.
@pytest.mark.filterwarnings("ignore:coroutine 'Connection.cursor' was never awaited:RuntimeWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_deferred_column_failing_with_missing_greenlet_is_blamed_on_the_column(
    engine: AsyncEngine,
) -> None:
    async with AsyncSession(engine) as session:
        writer = (await session.scalars(select(Writer).where(Writer.id == 1))).one()
        with pytest.raises((MissingGreenlet, StatementError)):
            async with dbprobe.capture() as cap:
                assert len(await writer.awaitable_attrs.titles) == 1  # a relationship load first
                writer.bio  # noqa: B018 - the deferred load that cannot run here
        await session.rollback()
    gc.collect()  # let the orphaned coroutine be reported inside this test
    # The titles, then the failed load: counted alike on both backends.
    assert cap.count == 2
    (finding,) = [f for f in cap.findings if f.kind == "missing_greenlet"]
    assert finding.evidence.relationship is None
    assert finding.evidence.columns == ("Writer.bio",)
    assert "deferred column Writer.bio" in finding.message
    assert "undefer(Writer.bio)" in finding.evidence.suggestion
    assert "selectinload" not in finding.message
    assert finding.evidence.location == line_of(__file__, "writer.bio  # noqa: B018")


@pytest.mark.filterwarnings("ignore:coroutine 'Connection.cursor' was never awaited:RuntimeWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_an_expired_attribute_failing_with_missing_greenlet_suggests_expire_on_commit(
    engine: AsyncEngine,
) -> None:
    async with AsyncSession(engine) as session:
        writer = (await session.scalars(select(Writer).where(Writer.id == 2))).one()
        await session.commit()
        with pytest.raises((MissingGreenlet, StatementError)):
            async with dbprobe.capture() as cap:
                writer.name  # noqa: B018 - expired by the commit: a load that cannot run here
        await session.rollback()
    gc.collect()
    assert cap.count == 1
    (finding,) = [f for f in cap.findings if f.kind == "missing_greenlet"]
    assert finding.evidence.columns == ("Writer.id", "Writer.name")
    assert "expire_on_commit=False" in finding.evidence.suggestion
    assert finding.evidence.location == line_of(__file__, "writer.name  # noqa: B018")
