"""dbprobe.capture on a model and engine the test defines itself: it works on user code."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import ForeignKey, String, insert, select
from sqlalchemy.exc import MissingGreenlet, StatementError
from sqlalchemy.ext.asyncio import AsyncAttrs, AsyncEngine, AsyncSession
from sqlalchemy.orm import (
    DeclarativeBase,
    DynamicMapped,
    Mapped,
    Session,
    WriteOnlyMapped,
    joinedload,
    mapped_column,
    relationship,
    selectinload,
)

import dbprobe
from dbprobe.database.url import Target
from tests.source_lines import line_of
from tests.user_engine import user_engine

pytestmark = pytest.mark.asyncio

HERE = str(Path(__file__).resolve())
AUTHORS = 5
BOOKS_PER_AUTHOR = 3


class Base(AsyncAttrs, DeclarativeBase):
    pass


class Author(Base):
    __tablename__ = "authors"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40))
    books: Mapped[list[Book]] = relationship(back_populates="author", order_by="Book.id")
    notes: WriteOnlyMapped[Note] = relationship(order_by="Note.id")
    books_query: DynamicMapped[Book] = relationship(order_by="Book.id", viewonly=True)


class Book(Base):
    __tablename__ = "books"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    title: Mapped[str] = mapped_column(String(40))
    author: Mapped[Author] = relationship(back_populates="books")


class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("authors.id"))
    body: Mapped[str] = mapped_column(String(40))


@pytest_asyncio.fixture
async def engine(target: Target) -> AsyncIterator[AsyncEngine]:
    """A plain SQLAlchemy engine of the test's own, not one dbprobe built."""
    async with user_engine(target, "dbprobe_captest", Base.metadata) as engine:
        async with AsyncSession(engine) as session:
            for a in range(1, AUTHORS + 1):
                author = Author(id=a, name=f"author {a}")
                author.books = [Book(title=f"book {a}.{b}") for b in range(BOOKS_PER_AUTHOR)]
                session.add(author)
                session.add_all(Note(author_id=a, body=f"note {a}") for _ in range(2))
            await session.commit()
        yield engine


async def _authors(session: AsyncSession) -> list[Author]:
    return list((await session.scalars(select(Author).order_by(Author.id))).all())


def _option(suggestion: str) -> Any:
    """The loader option of a suggestion ``.options(X)``, evaluated as the user would paste it."""
    scope = {"selectinload": selectinload, "joinedload": joinedload, "Author": Author, "Book": Book}
    return eval(suggestion.removeprefix(".options(").removesuffix(")"), scope)


async def test_awaitable_attrs_loop_on_one_to_many_is_named_with_its_fix(
    engine: AsyncEngine,
) -> None:
    async with AsyncSession(engine) as session, dbprobe.capture(engine) as cap:
        for author in await _authors(session):
            await author.awaitable_attrs.books  # the N+1
    assert cap.count == 1 + AUTHORS
    (finding,) = cap.findings
    assert finding.kind == "n_plus_one"
    assert finding.evidence.relationship == "Author.books"
    assert finding.evidence.executions == AUTHORS
    assert finding.evidence.suggestion == ".options(selectinload(Author.books))"
    assert "Author.books (collection) lazy-loaded 5 times" in finding.message
    assert finding.evidence.location == line_of(
        __file__, "await author.awaitable_attrs.books  # the"
    )
    # Applied verbatim: the parents' query loads every collection in one more statement.
    option = _option(finding.evidence.suggestion)
    async with AsyncSession(engine) as session, dbprobe.capture(engine) as fixed:
        query = select(Author).order_by(Author.id).options(option)
        for author in (await session.scalars(query)).all():
            await author.awaitable_attrs.books
    assert (fixed.count, fixed.findings) == (2, [])


async def test_many_to_one_lazy_loads_suggest_joinedload(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session, dbprobe.capture() as cap:
        books = (await session.scalars(select(Book).order_by(Book.id))).all()
        for book in books:
            await book.awaitable_attrs.author
    # one SELECT per distinct author: the identity map serves the rest
    assert cap.count == 1 + AUTHORS
    (finding,) = cap.findings
    assert finding.kind == "n_plus_one"
    assert finding.evidence.relationship == "Book.author"
    assert finding.evidence.suggestion == ".options(joinedload(Book.author))"
    assert finding.evidence.location == line_of(__file__, "await book.awaitable_attrs.author")
    option = _option(finding.evidence.suggestion)
    async with AsyncSession(engine) as session, dbprobe.capture() as fixed:
        query = select(Book).order_by(Book.id).options(option)
        fixed_books = (await session.scalars(query)).unique().all()
        assert len({(await b.awaitable_attrs.author).id for b in fixed_books}) == AUTHORS
    assert (fixed.count, fixed.findings) == (1, [])


async def test_selectinload_is_no_n_plus_one(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session, dbprobe.capture() as cap:
        stmt = select(Author).options(selectinload(Author.books)).order_by(Author.id)
        titles = [b.title for a in (await session.scalars(stmt)).all() for b in a.books]
    assert len(titles) == AUTHORS * BOOKS_PER_AUTHOR
    assert cap.count == 2
    assert cap.findings == []
    eager = [s for s in cap.statements if s.relationship == "Author.books"]
    assert len(eager) == 1
    assert eager[0].lazy is False


async def test_eager_load_never_read_is_reported_as_unused(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session, dbprobe.capture() as cap:
        stmt = select(Author).options(selectinload(Author.books)).order_by(Author.id)
        names = [a.name for a in (await session.scalars(stmt)).all()]  # books never read
    assert len(names) == AUTHORS
    (finding,) = cap.findings
    assert finding.kind == "unused_eager_load"
    assert finding.evidence.relationship == "Author.books"
    assert finding.severity is dbprobe.Severity.INFO
    assert finding.evidence.location == line_of(
        __file__, "names = [a.name for a in (await session.scalars(stmt))"
    )


async def test_write_only_select_per_parent_is_named(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session, dbprobe.capture() as cap:
        for author in await _authors(session):
            notes = (await session.scalars(author.notes.select())).all()
            assert len(notes) == 2
    (finding,) = cap.findings
    assert finding.kind == "n_plus_one"
    assert finding.evidence.relationship == "Author.notes"
    assert finding.evidence.executions == AUTHORS
    assert finding.evidence.location == line_of(
        __file__, "notes = (await session.scalars(author.notes"
    )
    assert finding.evidence.suggestion == "select(Note).where(Note.author_id.in_(parent_ids))"
    # Applied verbatim with the parents' ids: one statement for every parent's rows.
    async with AsyncSession(engine) as session, dbprobe.capture() as fixed:
        parent_ids = [a.id for a in await _authors(session)]
        scope = {"select": select, "Note": Note, "parent_ids": parent_ids}
        query = eval(finding.evidence.suggestion, scope)
        assert len((await session.scalars(query)).all()) == 2 * AUTHORS
    assert (fixed.count, fixed.findings) == (2, [])


async def test_a_dynamic_relationship_queried_per_parent_is_named_dynamic(
    engine: AsyncEngine,
) -> None:
    # lazy="dynamic" only runs in sync code: under AsyncSession, through run_sync.
    def per_author(session: Session) -> list[int]:
        authors = session.scalars(select(Author).order_by(Author.id)).all()
        return [len(author.books_query.all()) for author in authors]

    async with AsyncSession(engine) as session, dbprobe.capture() as cap:
        assert await session.run_sync(per_author) == [BOOKS_PER_AUTHOR] * AUTHORS
    (finding,) = cap.findings
    assert finding.kind == "n_plus_one"
    assert finding.evidence.relationship == "Author.books_query"
    assert finding.evidence.location == line_of(__file__, "return [len(author.books_query.all())")
    assert finding.message.startswith('N+1: dynamic (lazy="dynamic") Author.books_query queried 5')
    assert finding.evidence.suggestion == "select(Book).where(Book.author_id.in_(parent_ids))"
    async with AsyncSession(engine) as session, dbprobe.capture() as fixed:
        parent_ids = [a.id for a in await _authors(session)]
        scope = {"select": select, "Book": Book, "parent_ids": parent_ids}
        query = eval(finding.evidence.suggestion, scope)
        assert len((await session.scalars(query)).all()) == BOOKS_PER_AUTHOR * AUTHORS
    assert (fixed.count, fixed.findings) == (2, [])


async def test_refresh_in_a_loop_is_found_with_the_callers_line(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session:
        authors = await _authors(session)
        async with dbprobe.capture() as cap:
            for author in authors:
                await session.refresh(author)
    (finding,) = cap.findings
    assert finding.kind == "n_plus_one"
    assert finding.evidence.executions == AUTHORS
    assert finding.evidence.location == line_of(__file__, "await session.refresh(author)")
    assert "authors" in finding.evidence.fingerprint


async def test_lazy_loads_in_run_sync_are_found(engine: AsyncEngine) -> None:
    def titles(sync_session: object) -> int:
        authors = sync_session.scalars(select(Author)).all()  # type: ignore[attr-defined]
        return sum(len(a.books) for a in authors)  # sync lazy loads

    async with AsyncSession(engine) as session, dbprobe.capture() as cap:
        assert await session.run_sync(titles) == AUTHORS * BOOKS_PER_AUTHOR
    assert [f.evidence.relationship for f in cap.findings] == ["Author.books"]


# SQLAlchemy's aiosqlite adapter creates the cursor coroutine before await_()
# refuses to run outside a greenlet, and that coroutine is then never awaited.
@pytest.mark.filterwarnings("ignore:coroutine 'Connection.cursor' was never awaited:RuntimeWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_lazy_attribute_access_under_async_session_is_reported_as_missing_greenlet(
    engine: AsyncEngine,
) -> None:
    async with AsyncSession(engine) as session:
        author = (await _authors(session))[0]
        with pytest.raises((MissingGreenlet, StatementError)) as excinfo:
            async with dbprobe.capture() as cap:
                author.books  # noqa: B018 - the lazy load that cannot run here
        await session.rollback()
    error = excinfo.value
    assert isinstance(error, MissingGreenlet) or isinstance(
        getattr(error, "orig", None), MissingGreenlet
    )
    gc.collect()  # let the orphaned coroutine be reported inside this test
    # The failed lazy load is counted alike on both backends: asyncpg fails in
    # execute, aiosqlite already when it makes the cursor.
    assert cap.count == 1
    (finding,) = [f for f in cap.findings if f.kind == "missing_greenlet"]
    assert finding.evidence.relationship == "Author.books"
    assert "selectinload(Author.books)" in finding.message
    assert finding.evidence.location == line_of(__file__, "author.books  # noqa: B018")


class ResponseValidationError(ValueError):
    """What a serializer raises when reading an attribute failed (pydantic's ValidationError)."""


def _serialize(author: Author) -> dict[str, object]:
    try:
        return {"name": author.name, "books": [b.title for b in author.books]}
    except Exception as exc:  # as pydantic's model_validate wraps what the getter raised
        raise ResponseValidationError("1 validation error for AuthorOut: books") from exc


@pytest.mark.filterwarnings("ignore:coroutine 'Connection.cursor' was never awaited:RuntimeWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
async def test_a_missing_greenlet_inside_a_serializers_error_is_still_found(
    engine: AsyncEngine,
) -> None:
    async with AsyncSession(engine) as session:
        author = (await _authors(session))[0]
        with pytest.raises(ResponseValidationError):
            async with dbprobe.capture() as cap:
                _serialize(author)  # the FastAPI response-model path
        await session.rollback()
    gc.collect()  # let the orphaned coroutine be reported inside this test
    (finding,) = [f for f in cap.findings if f.kind == "missing_greenlet"]
    assert finding.evidence.relationship == "Author.books"
    # The user's line is the serializer's read of the attribute.
    assert finding.evidence.location == line_of(
        __file__, '"books": [b.title for b in author.books]'
    )
    # Its fix applied (selectinload on the query that loaded the author): nothing fails.
    first, _, other = finding.evidence.suggestion.partition(" or ")
    assert (first, other) == (
        ".options(selectinload(Author.books))",
        "`await obj.awaitable_attrs.books`",
    )
    option = _option(first)
    async with AsyncSession(engine) as session, dbprobe.capture() as fixed:
        query = select(Author).order_by(Author.id).options(option)
        author = (await session.scalars(query)).first()
        assert author is not None
        assert len(_serialize(author)["books"]) == BOOKS_PER_AUTHOR  # type: ignore[arg-type]
    assert fixed.findings == []


async def test_bulk_inserts_are_never_an_n_plus_one(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session, dbprobe.capture() as cap:
        session.add_all(Book(author_id=1, title=f"bulk {i}") for i in range(20))
        await session.flush()
        await session.execute(
            insert(Book), [{"author_id": 2, "title": f"many {i}"} for i in range(20)]
        )
        await session.commit()
    assert cap.count >= 2
    assert cap.findings == []


async def test_assert_max_queries_lists_the_statements(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session:
        with pytest.raises(dbprobe.QueryBudgetError) as excinfo:
            async with dbprobe.assert_max_queries(2):
                for author in await _authors(session):
                    await author.awaitable_attrs.books
    message = str(excinfo.value)
    assert message.startswith("Expected to perform 2 queries or less but 6 were done:\n\n1. SELECT")
    assert "\n6. SELECT" in message
    assert excinfo.value.count == 6


async def test_assert_max_queries_passes_within_budget(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session, dbprobe.assert_max_queries(2) as cap:
        await session.scalars(select(Author).options(selectinload(Author.books)))
    assert cap.count == 2


async def test_assert_no_n_plus_one_names_the_relationship(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session:
        with pytest.raises(dbprobe.NPlusOneError) as excinfo:
            async with dbprobe.assert_no_n_plus_one():
                for author in await _authors(session):
                    await author.awaitable_attrs.books
    assert "Author.books" in str(excinfo.value)
    assert "selectinload(Author.books)" in str(excinfo.value)
    assert "Statements:\n1. SELECT" in str(excinfo.value)


async def test_concurrent_captures_never_mix(engine: AsyncEngine) -> None:
    async def run(n: int) -> int:
        async with AsyncSession(engine) as session, dbprobe.capture() as cap:
            for _ in range(n):
                await session.execute(select(Author.id).limit(1))
                await asyncio.sleep(0)  # let the other task interleave
        return cap.count

    assert await asyncio.gather(run(3), run(7), run(11)) == [3, 7, 11]


async def test_joined_eager_load_never_read_is_unused_but_not_when_nothing_was_found(
    engine: AsyncEngine,
) -> None:
    async with AsyncSession(engine) as session:
        stmt = select(Book).options(joinedload(Book.author)).order_by(Book.id)
        async with dbprobe.capture() as unread:
            titles = [b.title for b in (await session.scalars(stmt)).unique().all()]
        async with dbprobe.capture() as read:
            names = [b.author.name for b in (await session.scalars(stmt)).unique().all()]
        async with dbprobe.capture() as empty:
            none = (await session.scalars(stmt.where(Book.id < 0))).unique().all()
    assert len(titles) == len(names) == AUTHORS * BOOKS_PER_AUTHOR
    assert none == []
    assert [f.evidence.relationship for f in unread.findings] == ["Book.author"]
    assert read.findings == []
    assert empty.findings == []


async def test_selectin_eager_load_with_no_parent_rows_is_not_reported(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session, dbprobe.capture() as cap:
        stmt = select(Author).where(Author.id < 0).options(selectinload(Author.books))
        assert (await session.scalars(stmt)).all() == []
    assert cap.findings == []


async def test_nested_captures_each_count_every_statement(engine: AsyncEngine) -> None:
    async with AsyncSession(engine) as session, dbprobe.capture() as outer:
        await session.execute(select(Author.id).limit(1))
        async with dbprobe.capture() as inner:
            await session.execute(select(Author.id).limit(1))
            await session.execute(select(Book.id).limit(1))
    assert (outer.count, inner.count) == (3, 2)


LIBRARY = '''
class AuthorRepository:
    """A repository library's generic list-with-children, installed as a package."""

    def __init__(self, session):
        self.session = session

    async def books_of(self, authors):
        return [await author.awaitable_attrs.books for author in authors]
'''


async def test_a_repository_library_between_user_and_sqlalchemy_is_a_via_not_the_location(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "lib" / "python3" / "site-packages"
    (site / "repolib").mkdir(parents=True)
    (site / "repolib" / "__init__.py").write_text(LIBRARY, encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    import repolib  # type: ignore[import-not-found]

    library_line = (
        LIBRARY.splitlines().index(
            "        return [await author.awaitable_attrs.books for author in authors]"
        )
        + 1
    )
    async with AsyncSession(engine) as session:
        authors = await _authors(session)
        with pytest.raises(dbprobe.NPlusOneError) as raised:
            async with dbprobe.assert_no_n_plus_one():
                await repolib.AuthorRepository(session).books_of(authors)  # the user's line
    (finding,) = raised.value.findings
    user_line = line_of(__file__, "await repolib.AuthorRepository(session).books_of(authors)")
    where = f"{user_line} via repolib/__init__.py:{library_line}"
    assert finding.evidence.relationship == "Author.books"
    assert finding.evidence.location == where
    assert f"(at {where})" in str(raised.value)


async def test_a_limit_offset_loop_gets_pagination_advice_not_an_in_list(
    engine: AsyncEngine,
) -> None:
    async with AsyncSession(engine) as session, dbprobe.capture() as cap:
        names = []
        for page in range(AUTHORS):
            query = select(Author.name).order_by(Author.id).limit(1).offset(page)
            names += (await session.scalars(query)).all()
    assert len(names) == AUTHORS
    (finding,) = cap.findings
    assert finding.kind == "n_plus_one"
    assert finding.message.startswith(
        f"N+1 (pagination): the same LIMIT/OFFSET SELECT ran {AUTHORS}"
    )
    assert finding.evidence.relationship is None
    assert finding.evidence.location == line_of(
        __file__, "names += (await session.scalars(query)).all()"
    )
    assert "page by key instead of OFFSET" in finding.evidence.suggestion
    # Its advice taken (one larger page): one statement, no finding, the same rows.
    async with AsyncSession(engine) as session, dbprobe.capture() as fixed:
        query = select(Author.name).order_by(Author.id).limit(AUTHORS)
        assert (await session.scalars(query)).all() == names
    assert fixed.count == 1
    assert fixed.findings == []


async def test_tasks_gathered_in_one_capture_never_take_each_others_labels(
    engine: AsyncEngine,
) -> None:
    # Six tasks, each a get and a lazy load: one task's "the next statement is
    # the lazy load of Author.books" must never label another task's get.
    async def one(author_id: int) -> int:
        async with AsyncSession(engine) as session:
            author = await session.get(Author, author_id)
            assert author is not None
            return len(await author.awaitable_attrs.books)

    for _ in range(50):
        async with dbprobe.capture() as cap:
            counts = await asyncio.gather(*(one(1 + i % AUTHORS) for i in range(6)))
        assert counts == [BOOKS_PER_AUTHOR] * 6
        labelled = {s.fingerprint: s.relationship for s in cap.statements}
        gets = [fp for fp in labelled if "authors.id = ?" in fp and "books" not in fp]
        loads = [fp for fp, rel in labelled.items() if rel == "Author.books"]
        (get,) = gets
        (load,) = loads
        assert labelled[get] is None, labelled
        assert "FROM books" in load, labelled
        assert [s.executions for s in cap.statements if s.fingerprint == load] == [6]


async def test_a_capture_explains_its_statements_and_the_index_its_lazy_loads_lack(
    engine: AsyncEngine,
) -> None:
    async with AsyncSession(engine) as session, dbprobe.capture(engine) as cap:
        for author in await _authors(session):
            await author.awaitable_attrs.books  # filters on books.author_id, never indexed
    explained = await cap.explain(engine, min_rows=1)
    assert len(explained.plans) == len(cap.statements) == 2
    assert all(p.error is None and p.operations == ("captured",) for p in explained.plans)
    (finding,) = explained.findings
    assert finding.kind == "unindexed_foreign_key"
    assert finding.evidence.columns == ("author_id",)
    # Its CREATE INDEX, executed, resolves it: explained again, the finding is gone.
    async with engine.begin() as conn:
        await conn.exec_driver_sql(finding.evidence.create_index)
    assert (await cap.explain(engine, min_rows=1)).findings == ()
