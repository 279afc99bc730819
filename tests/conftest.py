"""Shared fixtures: real SQLite files and the real PostgreSQL named by DBPROBE_PG_URL.

PostgreSQL tests never skip in CI (``CI`` set): an unreachable server fails
them. On a developer machine without a server they skip with the reason.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from dbprobe.data.scales import load_scale
from dbprobe.data.seeding import ensure_seeded
from dbprobe.database.engine import Database, PoolOptions, open_database
from dbprobe.database.url import Backend, Target, resolve_target

# pytester drives generated suites in the plugin tests (tests/plugin).
pytest_plugins = ["pytester"]

DEFAULT_PG_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def pytest_configure(config: pytest.Config) -> None:
    # The suite starts over a hundred interpreters of its own: pytest-xdist's
    # workers, Locust's masters and workers, the benchmark's measurements, the
    # forking zygotes. With PYTHONDONTWRITEBYTECODE set (as on the CI machines)
    # each compiled dbprobe from source again, a third of a second of CPU apiece
    # (importing the command line and the Locust plugin: 1.1 s with bytecode,
    # 1.45 s without). Unset for the processes the suite starts, the first one
    # writes the bytecode where Python keeps it (__pycache__, ignored by git) and
    # the others read it.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


def pg_url() -> str:
    """The server to test against; under pytest-xdist, a database of this worker's own.

    Workers running at once must not seed, reseed or clean the same ``dbprobe``
    schema, so worker ``gwN`` uses database ``<name>_gwN`` on the same server.
    """
    url = os.environ.get("DBPROBE_PG_URL") or DEFAULT_PG_URL
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    base = resolve_target(url, {})
    return base.url.set(database=f"{base.url.database}_{worker}").render_as_string(
        hide_password=False
    )


async def _ensure_database(url: str) -> None:
    import asyncpg

    target = resolve_target(url, {})
    admin = target.url.set(drivername="postgresql", database="postgres")
    conn = await asyncio.wait_for(asyncpg.connect(admin.render_as_string(hide_password=False)), 5)
    try:
        name = target.url.database
        if not await conn.fetchval("select 1 from pg_database where datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def _pg_answers(url: str) -> str | None:
    import asyncpg

    target = resolve_target(url, {})
    dsn = target.url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        if os.environ.get("PYTEST_XDIST_WORKER"):
            await _ensure_database(url)
        conn = await asyncio.wait_for(asyncpg.connect(dsn), 5)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    await conn.close()
    return None


@pytest.fixture(scope="session")
def pg_target() -> Target:
    url = pg_url()
    problem = asyncio.run(_pg_answers(url))
    if problem is not None:
        message = f"PostgreSQL at {resolve_target(url, {}).masked} does not answer: {problem}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI must run the PostgreSQL tests)")
        pytest.skip(message)
    return resolve_target(url, {})


@pytest.fixture
def sqlite_target(tmp_path: Path) -> Target:
    return resolve_target(f"sqlite+aiosqlite:///{tmp_path / 'probe.sqlite3'}", {})


@pytest.fixture(params=[Backend.SQLITE, Backend.POSTGRESQL], ids=["sqlite", "postgresql"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Target:
    """Each test using it runs once on a fresh SQLite file and once on PostgreSQL."""
    if request.param is Backend.SQLITE:
        return resolve_target(f"sqlite+aiosqlite:///{tmp_path / 'probe.sqlite3'}", {})
    return request.getfixturevalue("pg_target")  # type: ignore[no-any-return]


@pytest_asyncio.fixture
async def tiny_db(target: Target) -> AsyncIterator[Database]:
    """A Database on ``target`` seeded at scale tiny, seed 1."""
    db = await open_database(target, PoolOptions(size=12))
    try:
        await ensure_seeded(db, load_scale("tiny"), 1)
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def private_pg(pg_target: Target, request: pytest.FixtureRequest) -> Iterator[Target]:
    """A PostgreSQL database of this test's own, for a test that alters or breaks its schema.

    Named after the test database and the test module, so parallel workers and
    engineers sharing the server never meet in it; dropped afterwards.
    """
    import asyncpg

    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")[:30]
    name = f"{pg_target.url.database}_{module}"
    admin = pg_target.url.set(drivername="postgresql", database="postgres")

    async def run(statement: str) -> None:
        conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    yield resolve_target(pg_target.url.set(database=name).render_as_string(hide_password=False), {})
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def own_target(target: Target, request: pytest.FixtureRequest) -> Target:
    """``target``, but on PostgreSQL a database of the test's own (:func:`private_pg`),
    for a test that deletes rows or drops indexes of dbprobe's schema."""
    if target.backend is Backend.SQLITE:
        return target
    return request.getfixturevalue("private_pg")  # type: ignore[no-any-return]
