"""The plugin's fixtures behind the stubs of :mod:`dbprobe.pytest_plugin`, loaded on first use.

Loops: the async fixtures are function-scoped and create their engine on the
loop of the test that uses them, so no connection ever crosses event loops
("attached to a different loop"). Schema creation and seeding, done once per
session, run on a loop of their own in a worker thread with an engine of their
own. Tests whose loop is wider than the function (pytest-asyncio
``loop_scope="module"``/``"session"``) need the fixtures on that loop too: set
``asyncio_default_fixture_loop_scope`` to the same scope.

Under pytest-asyncio (strict or auto mode) the fixtures are pytest-asyncio
fixtures; under anyio's plugin (the test requests ``anyio_backend``, asyncio
backend) they run on anyio's runner: each public stub picks the implementation
for the test it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import sqlite3
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from dbprobe.assertions import Capture
from dbprobe.bench import BenchStats, bench
from dbprobe.data.scales import load_scale
from dbprobe.data.seeding import ensure_seeded
from dbprobe.database.engine import (
    Isolation,
    PoolOptions,
    build_engine,
    open_database,
    writing,
)
from dbprobe.database.url import Backend, Target, resolve_target
from dbprobe.errors import DbprobeError
from dbprobe.instrument.nplusone import DEFAULT_THRESHOLD
from dbprobe.instrument.statements import (
    StatementRecorder,
    bind_recorder,
    install_statement_counter,
)
from dbprobe.pytest_plugin import OPTIONS_KEY, RESULTS_KEY

__all__ = ["TestQueries", "bench_runner"]

T = TypeVar("T")

# Where the session's database facts are kept for its report (backend, masked
# URL, server version), filled by whichever fixture opened it.
SERVER_KEY = pytest.StashKey[dict[str, str]]()


def _in_fresh_loop(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a new event loop in a worker thread.

    Session set-up (the seed) must not bind anything to the loop of the first
    test that happens to need it; a thread keeps it off any running loop.
    """
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = asyncio.run(factory())
        except BaseException as exc:  # handed back to the calling thread
            box["error"] = exc

    thread = threading.Thread(target=run, name="dbprobe-setup")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]  # type: ignore[no-any-return]


@dataclass(frozen=True)
class PluginDatabase:
    """The two targets of a session: the user's side and dbprobe's reference domain.

    With a URL configured both are that database (dbprobe's tables in its own
    schema on PostgreSQL). Without one, two temporary SQLite files of the
    session: never the CLI's data directory, so tests and ``python -m dbprobe``
    never share state, and the reference tables never sit beside the user's.
    """

    engine: Target
    reference: Target


def _resolve(url: str) -> Target:
    try:
        return resolve_target(url)
    except DbprobeError as exc:
        raise pytest.UsageError(f"dbprobe: {exc}") from None


@pytest.fixture(scope="session")
def _dbprobe_database(
    pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory
) -> PluginDatabase:
    url = pytestconfig.stash[OPTIONS_KEY].db or os.environ.get("DBPROBE_DB_URL")
    if url:
        target = _resolve(url)
        database = PluginDatabase(target, target)
        if target.sqlite_path is not None:
            with _one_preparer_at_a_time(target):
                _wal_mode(target.sqlite_path)
    else:
        folder = tmp_path_factory.mktemp("dbprobe")
        database = PluginDatabase(
            _resolve(f"sqlite+aiosqlite:///{folder / 'tests.sqlite3'}"),
            _resolve(f"sqlite+aiosqlite:///{folder / 'reference.sqlite3'}"),
        )
    _note_server(pytestconfig, database.engine, "")
    return database


def _wal_mode(path: Path) -> None:
    """Put a shared SQLite file in WAL mode once, before any test connects.

    Every dbprobe connection asks for WAL; on a new file the first to ask
    switches the journal mode, which needs the file to itself, and xdist
    workers opening it in the same moment then failed at once with "database
    is locked" (no busy timeout applies to that switch).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


def _note_server(config: pytest.Config, target: Target, server_version: str) -> None:
    config.stash[SERVER_KEY] = {
        "backend": target.backend.value,
        "url": target.masked,
        "server_version": server_version,
    }


def server_facts(config: pytest.Config) -> dict[str, str]:
    """Backend, masked URL and server version of the plugin's database, if a fixture opened it.

    Empty when the session's benchmarks ran on the user's own engine only
    (``dbprobe_engine`` overridden): dbprobe does not know what that is.
    """
    return config.stash.get(SERVER_KEY, {})


@contextlib.contextmanager
def _one_preparer_at_a_time(target: Target) -> Iterator[None]:
    """Serialise seeding of one target across processes.

    Under pytest-xdist every worker seeds the same configured database at
    session start; two creating SQLite tables in one file at once fail
    ("database is locked"), and two on PostgreSQL race on the catalog. The
    first holds an exclusive lock on a file in the temporary directory; the
    others wait, then find the target ready. (``fcntl`` is POSIX; elsewhere, no
    lock.)
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    key = hashlib.sha256(target.masked.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"dbprobe-prepare-{key}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def _dbprobe_seed(pytestconfig: pytest.Config, _dbprobe_database: PluginDatabase) -> Target:
    target = _dbprobe_database.reference
    scale = pytestconfig.stash[OPTIONS_KEY].scale

    async def go() -> str:
        db = await open_database(target, PoolOptions(size=1))
        try:
            await ensure_seeded(db, load_scale(scale), 1)
            return db.server_version
        finally:
            await db.dispose()

    try:
        with _one_preparer_at_a_time(target):
            version = _in_fresh_loop(go)
    except DbprobeError as exc:
        pytest.fail(f"dbprobe: {exc}", pytrace=False)
    _note_server(pytestconfig, target, version)
    return target


def _default_isolation(target: Target) -> Isolation:
    return Isolation.SERIALIZABLE if target.backend is Backend.SQLITE else Isolation.READ_COMMITTED


async def _engine_on_this_loop(target: Target, *, own_schema: bool) -> AsyncIterator[AsyncEngine]:
    install_statement_counter()
    engine = build_engine(
        target,
        PoolOptions(size=5, max_overflow=5),
        _default_isolation(target),
        own_schema=own_schema,
    )
    try:
        # On SQLite every transaction of a test may write, and one that read
        # first could not upgrade to a write while another process (an xdist
        # worker on the same file) wrote: "database is locked" at once, past
        # the busy timeout. Taking the write lock at BEGIN makes it wait instead.
        yield writing(engine) if target.backend is Backend.SQLITE else engine
    finally:
        await engine.dispose()


async def _session_in_rolled_back_transaction(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async with engine.connect() as conn:
        transaction = await conn.begin()
        # The session's own commits become savepoints: the outer transaction,
        # rolled back after the test, undoes everything the test wrote.
        session = AsyncSession(
            bind=conn, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        try:
            yield session
        finally:
            await session.close()
            await transaction.rollback()


# Two implementations of each async fixture: pytest-asyncio's, and a plain async
# fixture that anyio's plugin runs for tests requesting `anyio_backend`.
@pytest_asyncio.fixture
async def _dbprobe_engine_asyncio(
    _dbprobe_database: PluginDatabase,
) -> AsyncIterator[AsyncEngine]:
    target = _dbprobe_database.engine
    async for engine in _engine_on_this_loop(target, own_schema=False):
        yield engine


@pytest.fixture
async def _dbprobe_engine_anyio(
    _dbprobe_database: PluginDatabase, anyio_backend: Any
) -> AsyncIterator[AsyncEngine]:
    target = _dbprobe_database.engine
    async for engine in _engine_on_this_loop(target, own_schema=False):
        yield engine


@pytest_asyncio.fixture
async def _dbprobe_seeded_asyncio(
    _dbprobe_seed: Target,
) -> AsyncIterator[AsyncEngine]:
    async for engine in _engine_on_this_loop(_dbprobe_seed, own_schema=True):
        yield engine


@pytest.fixture
async def _dbprobe_seeded_anyio(
    _dbprobe_seed: Target, anyio_backend: Any
) -> AsyncIterator[AsyncEngine]:
    async for engine in _engine_on_this_loop(_dbprobe_seed, own_schema=True):
        yield engine


@pytest_asyncio.fixture
async def _dbprobe_session_asyncio(dbprobe_engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async for session in _session_in_rolled_back_transaction(dbprobe_engine):
        yield session


@pytest.fixture
async def _dbprobe_session_anyio(
    dbprobe_engine: AsyncEngine, anyio_backend: Any
) -> AsyncIterator[AsyncSession]:
    async for session in _session_in_rolled_back_transaction(dbprobe_engine):
        yield session


@pytest_asyncio.fixture
async def _dbprobe_seeded_session_asyncio(
    dbprobe_seeded: AsyncEngine,
) -> AsyncIterator[AsyncSession]:
    async for session in _session_in_rolled_back_transaction(dbprobe_seeded):
        yield session


@pytest.fixture
async def _dbprobe_seeded_session_anyio(
    dbprobe_seeded: AsyncEngine, anyio_backend: Any
) -> AsyncIterator[AsyncSession]:
    async for session in _session_in_rolled_back_transaction(dbprobe_seeded):
        yield session


class TestQueries(Capture):
    """``dbprobe_queries``: every statement of the test's call, on any engine unless watching one.

    Bound to engines rather than to the test's task, so it sees the test's
    statements whichever task, loop or thread runs them.
    """

    __test__ = False  # a fixture's value, not a test class for pytest to collect

    def __init__(self) -> None:
        super().__init__(
            StatementRecorder(detail=True, locations=True, log=True, reads_tracked=False),
            DEFAULT_THRESHOLD,
        )
        self._engine: AsyncEngine | Engine | None = None
        self._binding: contextlib.ExitStack | None = None

    def watch(self, engine: AsyncEngine | Engine) -> None:
        """Count only the statements run on ``engine`` from now on."""
        self._engine = engine
        if self._binding is not None:
            self._binding.close()
            self._binding = self._bind()

    def _bind(self) -> contextlib.ExitStack:
        stack = contextlib.ExitStack()
        stack.enter_context(bind_recorder(self._recorder, self._engine))
        return stack

    @contextlib.contextmanager
    def recording(self) -> Iterator[None]:
        """Record while the test's call runs (the plugin's ``pytest_runtest_call``)."""
        self._binding = self._bind()
        try:
            yield
        finally:
            self._binding.close()
            self._binding = None


def bench_runner(request: pytest.FixtureRequest) -> Callable[..., Awaitable[BenchStats]]:
    """The ``dbprobe_bench`` callable of one test: runs, then keeps its stats for the session."""
    options = request.config.stash[OPTIONS_KEY]
    results = request.config.stash[RESULTS_KEY]

    async def run(fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> BenchStats:
        kwargs.setdefault("name", request.node.nodeid)
        if options.disable:
            kwargs["timed"] = False
        stats = await bench(fn, *args, **kwargs)
        results.append(stats)
        return stats

    return run
