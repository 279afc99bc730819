"""A third party's suite: its own models and engine fixture, dbprobe's checks on them."""

from __future__ import annotations

import pytest

from tests.plugin import runpytest
from tests.plugin.test_plugin import BASE

PROJECT_CONFTEST = """
import os

import pytest
import pytest_asyncio
from sqlalchemy import ForeignKey, String
from sqlalchemy.ext.asyncio import AsyncAttrs, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class Base(AsyncAttrs, DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "tp_authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    books: Mapped[list["Book"]] = relationship(back_populates="author")


class Book(Base):
    __tablename__ = "tp_books"
    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(40))
    author_id: Mapped[int] = mapped_column(ForeignKey("tp_authors.id"))
    author: Mapped[Author] = relationship(back_populates="books")


@pytest_asyncio.fixture
async def project_engine():
    engine = create_async_engine(os.environ["PROJECT_DB"])
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
        await conn.run_sync(Base.metadata.create_all)
        await conn.execute(Author.__table__.insert(), [{"id": i, "name": f"a{i}"} for i in range(1, 6)])
        await conn.execute(
            Book.__table__.insert(),
            [{"id": i, "title": f"b{i}", "author_id": 1 + i % 5} for i in range(1, 16)],
        )
    yield engine
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.drop_all)
    await engine.dispose()


# Hand dbprobe the project's own engine: its fixtures and checks run on it.
@pytest.fixture
def dbprobe_engine(project_engine):
    return project_engine
"""

PROJECT_TESTS = """
import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

import dbprobe
from conftest import Author, Book

pytestmark = pytest.mark.asyncio


class AuthorRepository:
    def __init__(self, session):
        self.session = session

    async def count(self):
        return (await self.session.execute(select(func.count()).select_from(Author))).scalar_one()

    async def with_books(self):
        query = select(Author).options(selectinload(Author.books)).order_by(Author.id)
        return (await self.session.scalars(query)).all()


async def test_queries_counts_the_projects_statements(dbprobe_session, dbprobe_queries):
    repo = AuthorRepository(dbprobe_session)
    assert await repo.count() == 5
    assert len(await repo.with_books()) == 5
    assert dbprobe_queries.count == 3  # the count, the authors, their books (one IN query)


async def test_queries_sees_the_tasks_the_test_starts(project_engine, dbprobe_queries):
    async def one():
        async with project_engine.connect() as conn:
            await conn.execute(select(func.count()).select_from(Book))
    await asyncio.gather(one(), one(), one())
    assert dbprobe_queries.count == 3


async def test_queries_can_watch_one_engine(project_engine, dbprobe_queries):
    from sqlalchemy.ext.asyncio import create_async_engine
    other = create_async_engine("sqlite+aiosqlite://")
    dbprobe_queries.watch(project_engine)
    async with other.connect() as conn:
        await conn.execute(select(1))
    async with project_engine.connect() as conn:
        await conn.execute(select(func.count()).select_from(Author))
    await other.dispose()
    assert dbprobe_queries.count == 1


async def test_budget_holds(dbprobe_session):
    async with dbprobe.assert_max_queries(2) as cap:
        await AuthorRepository(dbprobe_session).with_books()
    assert cap.count == 2


async def test_budget_exceeded_names_the_count(dbprobe_session):
    with pytest.raises(dbprobe.QueryBudgetError) as info:
        async with dbprobe.assert_max_queries(1):
            await AuthorRepository(dbprobe_session).with_books()
    assert info.value.count == 2


async def test_n_plus_one_is_caught_and_its_fix_passes(dbprobe_session):
    authors = (await dbprobe_session.scalars(select(Author).order_by(Author.id))).all()
    with pytest.raises(dbprobe.NPlusOneError) as info:
        async with dbprobe.assert_no_n_plus_one():
            for author in authors:
                await author.awaitable_attrs.books
    assert "Author.books" in str(info.value)
    dbprobe_session.expunge_all()
    async with dbprobe.assert_no_n_plus_one() as cap:
        for author in await AuthorRepository(dbprobe_session).with_books():
            assert len(author.books) == 3
    assert cap.count == 2


async def test_bench_on_the_projects_engine(dbprobe_bench, dbprobe_session):
    repo = AuthorRepository(dbprobe_session)
    stats = await dbprobe_bench(repo.count, rounds=20, warmup=2)
    assert stats.rounds == stats.latency.count == 20
    assert stats.statements_mean == stats.statements_max == 1
    assert stats.findings == ()
"""


def test_a_projects_own_suite_runs_dbprobes_checks_on_its_own_engine(
    db_url: str, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PROJECT_DB", db_url)
    pytester.makeconftest(PROJECT_CONFTEST)
    pytester.makepyfile(test_project=PROJECT_TESTS)
    result = runpytest(pytester, *BASE, "-n", "0", "-o", "asyncio_mode=strict")
    result.assert_outcomes(passed=7)
    # The benchmark ran on the project's engine; dbprobe knew nothing of it and
    # seeded nothing.
    assert "test_project.py::test_bench_on_the_projects_engine" in result.stdout.str()
    assert not list(pytester.path.rglob("*.sqlite3"))
