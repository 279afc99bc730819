"""dbprobe's pytest plugin: async benchmarks and statement checks for pytest-asyncio/anyio.

Registered through the ``pytest11`` entry point, so installing dbprobe is enough.

Loops: the async fixtures (``dbprobe_engine``, ``dbprobe_seeded``,
``dbprobe_session``, ``dbprobe_queries``) are function-scoped and create their
engine on the loop of the test that uses them, so no connection ever crosses
event loops ("attached to a different loop"). Schema creation and seeding,
done once per session, run on a loop of their own in a worker thread with an
engine of their own. Tests whose loop is wider than the function (pytest-asyncio
``loop_scope="module"``/``"session"``) need the fixtures on that loop too: set
``asyncio_default_fixture_loop_scope`` to the same scope.

Under pytest-asyncio (strict or auto mode) the fixtures are pytest-asyncio
fixtures; under anyio's plugin (the test requests ``anyio_backend``, asyncio
backend) they run on anyio's runner: each public fixture picks its
implementation from the test it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import platform
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any, TypeVar

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from dbprobe.assertions import Capture
from dbprobe.bench import BenchStats, bench
from dbprobe.data.scales import load_scale
from dbprobe.data.seeding import create_schema, ensure_seeded
from dbprobe.database.engine import Isolation, PoolOptions, build_engine, open_database
from dbprobe.database.url import Target, data_dir, resolve_target
from dbprobe.errors import DbprobeError
from dbprobe.instrument.nplusone import DEFAULT_THRESHOLD
from dbprobe.instrument.statements import install_statement_counter, record_engine
from dbprobe.metrics import LatencyHistogram
from dbprobe.result.config import PytestConfig, RunConfig
from dbprobe.result.jsonio import write_report
from dbprobe.result.model import (
    CalibrationRound,
    OperationReport,
    QueryCounts,
    Report,
    Resources,
    RunInfo,
    TargetInfo,
    ToolInfo,
)
from dbprobe.result.options import SCALE_NAMES

__all__ = ["PluginOptions"]

T = TypeVar("T")


@dataclass(frozen=True)
class PluginOptions:
    """The plugin's options, from the command line or the ini file (pyproject.toml)."""

    db: str | None
    scale: str
    json: Path | None
    save: str | None
    compare: str | None
    fail_on: str
    disable: bool


_OPTIONS: tuple[tuple[str, str, str], ...] = (
    # (name, ini default, help)
    (
        "db",
        "",
        "database URL for the dbprobe fixtures (default: $DBPROBE_DB_URL or dbprobe's SQLite file)",
    ),
    ("scale", "tiny", f"seeded scale for dbprobe_seeded: {', '.join(SCALE_NAMES)} (default tiny)"),
    ("json", "", "write the session's benchmarks as a dbprobe.report/1 JSON file"),
    ("save", "", "save the session's benchmarks as a named baseline"),
    (
        "compare",
        "",
        "compare the session's benchmarks with a named baseline; a regression fails the session",
    ),
    ("fail-on", "minor", "regression severity that fails the session: minor, warning or critical"),
)

_OPTIONS_KEY = pytest.StashKey[PluginOptions]()
_RESULTS_KEY = pytest.StashKey[list[BenchStats]]()
_SERVER_KEY = pytest.StashKey[dict[str, str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dbprobe", "dbprobe: database benchmarks and statement checks")
    for name, default, help_text in _OPTIONS:
        group.addoption(
            f"--dbprobe-{name}", dest=f"dbprobe_{name.replace('-', '_')}", help=help_text
        )
        parser.addini(f"dbprobe_{name.replace('-', '_')}", help_text, default=default)
    group.addoption(
        "--dbprobe-disable",
        action="store_true",
        dest="dbprobe_disable",
        help="run each benchmark once, untimed",
    )
    parser.addini("dbprobe_disable", "run each benchmark once, untimed", type="bool", default=False)


def _option(config: pytest.Config, name: str) -> str:
    key = f"dbprobe_{name}"
    value = config.getoption(key, default=None)
    return str(value if value not in (None, "") else config.getini(key) or "")


def pytest_configure(config: pytest.Config) -> None:
    scale = _option(config, "scale") or "tiny"
    fail_on = _option(config, "fail_on") or "minor"
    if scale not in SCALE_NAMES:
        raise pytest.UsageError(
            f"--dbprobe-scale {scale!r}: choose one of {', '.join(SCALE_NAMES)}"
        )
    if fail_on not in ("minor", "warning", "critical"):
        raise pytest.UsageError(f"--dbprobe-fail-on {fail_on!r}: choose minor, warning or critical")
    json_path = _option(config, "json")
    config.stash[_OPTIONS_KEY] = PluginOptions(
        db=_option(config, "db") or None,
        scale=scale,
        json=Path(json_path) if json_path else None,
        save=_option(config, "save") or None,
        compare=_option(config, "compare") or None,
        fail_on=fail_on,
        disable=bool(config.getoption("dbprobe_disable") or config.getini("dbprobe_disable")),
    )
    config.stash[_RESULTS_KEY] = []
    config.stash[_SERVER_KEY] = {}


def _in_fresh_loop(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion on a new event loop in a worker thread.

    Session set-up (schema, seed) must not bind anything to the loop of the
    first test that happens to need it; a thread keeps it off any running loop.
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
class _Prepared:
    target: Target
    server_version: str
    scale: str | None  # the scale seeded, or None if only the schema was made


def _target(config: pytest.Config) -> Target:
    try:
        return resolve_target(config.stash[_OPTIONS_KEY].db)
    except DbprobeError as exc:
        raise pytest.UsageError(f"dbprobe: {exc}") from None


@contextlib.contextmanager
def _one_preparer_at_a_time(target: Target) -> Iterator[None]:
    """Serialise schema creation and seeding of one target across processes.

    Under pytest-xdist every worker prepares the same database at session
    start; two creating SQLite tables in one file at once fail ("database is
    locked"), and two on PostgreSQL race on the catalog. The first holds an
    exclusive lock on a file in dbprobe's data directory; the others wait,
    then find the target ready. (``fcntl`` is POSIX; elsewhere, no lock.)
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    key = hashlib.sha256(target.masked.encode()).hexdigest()[:16]
    path = data_dir() / "locks" / f"prepare-{key}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _prepare(config: pytest.Config, *, seed_scale: str | None) -> _Prepared:
    target = _target(config)

    async def go() -> _Prepared:
        db = await open_database(target, PoolOptions(size=1))
        try:
            if seed_scale is None:
                await create_schema(db)
            else:
                await ensure_seeded(db, load_scale(seed_scale), 1)
            return _Prepared(target, db.server_version, seed_scale)
        finally:
            await db.dispose()

    try:
        with _one_preparer_at_a_time(target):
            prepared = _in_fresh_loop(go)
    except DbprobeError as exc:
        pytest.fail(f"dbprobe: {exc}", pytrace=False)
    config.stash[_SERVER_KEY].update(
        backend=target.backend.value, url=target.masked, server_version=prepared.server_version
    )
    return prepared


@pytest.fixture(scope="session")
def _dbprobe_schema(pytestconfig: pytest.Config) -> _Prepared:
    return _prepare(pytestconfig, seed_scale=None)


@pytest.fixture(scope="session")
def _dbprobe_seed(pytestconfig: pytest.Config) -> _Prepared:
    return _prepare(pytestconfig, seed_scale=pytestconfig.stash[_OPTIONS_KEY].scale)


async def _engine_on_this_loop(prepared: _Prepared) -> AsyncIterator[AsyncEngine]:
    install_statement_counter()
    default = (
        Isolation.SERIALIZABLE
        if prepared.target.backend.value == "sqlite"
        else Isolation.READ_COMMITTED
    )
    engine = build_engine(prepared.target, PoolOptions(size=5, max_overflow=5), default)
    try:
        yield engine
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
async def _dbprobe_engine_asyncio(_dbprobe_schema: _Prepared) -> AsyncIterator[AsyncEngine]:
    async for engine in _engine_on_this_loop(_dbprobe_schema):
        yield engine


@pytest.fixture
async def _dbprobe_engine_anyio(
    _dbprobe_schema: _Prepared, anyio_backend: Any
) -> AsyncIterator[AsyncEngine]:
    async for engine in _engine_on_this_loop(_dbprobe_schema):
        yield engine


@pytest_asyncio.fixture
async def _dbprobe_seeded_asyncio(_dbprobe_seed: _Prepared) -> AsyncIterator[AsyncEngine]:
    async for engine in _engine_on_this_loop(_dbprobe_seed):
        yield engine


@pytest.fixture
async def _dbprobe_seeded_anyio(
    _dbprobe_seed: _Prepared, anyio_backend: Any
) -> AsyncIterator[AsyncEngine]:
    async for engine in _engine_on_this_loop(_dbprobe_seed):
        yield engine


@pytest_asyncio.fixture
async def _dbprobe_session_asyncio(dbprobe_seeded: AsyncEngine) -> AsyncIterator[AsyncSession]:
    async for session in _session_in_rolled_back_transaction(dbprobe_seeded):
        yield session


@pytest.fixture
async def _dbprobe_session_anyio(
    dbprobe_seeded: AsyncEngine, anyio_backend: Any
) -> AsyncIterator[AsyncSession]:
    async for session in _session_in_rolled_back_transaction(dbprobe_seeded):
        yield session


def _flavour(request: pytest.FixtureRequest, name: str) -> Any:
    suffix = "anyio" if "anyio_backend" in request.fixturenames else "asyncio"
    return request.getfixturevalue(f"_{name}_{suffix}")


@pytest.fixture
def dbprobe_engine(request: pytest.FixtureRequest) -> AsyncEngine:
    """An AsyncEngine on the configured database, reference schema created, on the test's loop."""
    return _flavour(request, "dbprobe_engine")  # type: ignore[no-any-return]


@pytest.fixture
def dbprobe_seeded(request: pytest.FixtureRequest) -> AsyncEngine:
    """Like dbprobe_engine, with the reference domain seeded at ``--dbprobe-scale``."""
    return _flavour(request, "dbprobe_seeded")  # type: ignore[no-any-return]


@pytest.fixture
def dbprobe_session(request: pytest.FixtureRequest) -> AsyncSession:
    """An AsyncSession on the seeded database inside a transaction rolled back after the test."""
    return _flavour(request, "dbprobe_session")  # type: ignore[no-any-return]


@pytest.fixture
def dbprobe_queries(dbprobe_seeded: AsyncEngine) -> Any:
    """The statements the test runs on the dbprobe engine: count, statements, findings.

    Bound to the engine rather than to the test's task, so it sees the test's
    statements whichever loop or context runs them.
    """
    with record_engine(dbprobe_seeded) as recorder:
        yield Capture(recorder, DEFAULT_THRESHOLD)


@pytest.fixture
def dbprobe_bench(request: pytest.FixtureRequest) -> Callable[..., Awaitable[BenchStats]]:
    """``stats = await dbprobe_bench(async_fn, *args, rounds=50, warmup=5, concurrency=1)``."""
    options = request.config.stash[_OPTIONS_KEY]
    results = request.config.stash[_RESULTS_KEY]

    async def run(fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> BenchStats:
        kwargs.setdefault("name", request.node.nodeid)
        if options.disable:
            kwargs["timed"] = False
        stats = await bench(fn, *args, **kwargs)
        results.append(stats)
        return stats

    return run


def _operation(stats: BenchStats) -> OperationReport:
    rounds = stats.rounds
    histogram = LatencyHistogram.decode(stats.histogram)
    duration_s = stats.latency.mean_ms * rounds / 1000 / stats.concurrency
    return OperationReport(
        name=stats.name,
        count=rounds,
        attempts=rounds,
        commits=rounds,
        rollbacks=0,
        errors=0,
        retries=0,
        cancelled=0,
        error_classes={},
        error_samples={},
        latency_ms=histogram.summary(),
        commit_latency_ms=LatencyHistogram().summary(),
        throughput_per_s=rounds / duration_s if duration_s > 0 else 0.0,
        queries=QueryCounts(
            total=round(stats.statements_mean * rounds),
            per_op_mean=stats.statements_mean,
            per_op_max=stats.statements_max,
        ),
        histogram=stats.histogram,
        rounds=stats.samples,
    )


def session_report(config: pytest.Config, started_at: Any, duration_s: float) -> Report:
    """The session's benchmarks as a dbprobe.report/1 report (probe "pytest")."""
    options = config.stash[_OPTIONS_KEY]
    results = config.stash[_RESULTS_KEY]
    server = config.stash[_SERVER_KEY]
    target = _target(config)
    return Report(
        tool=ToolInfo("dbprobe", version("dbprobe")),
        run=RunInfo(
            probe="pytest",
            started_at=started_at,
            duration_s=duration_s,
            argv=tuple(config.invocation_params.args),
            host=socket.gethostname(),
            python=platform.python_version(),
        ),
        target=TargetInfo(
            backend=server.get("backend", target.backend.value),
            url=server.get("url", target.masked),
            server_version=server.get("server_version", ""),
            scale=options.scale,
            seed=1,
            isolation="",
        ),
        config=RunConfig(PytestConfig(disable=options.disable)),
        operations=tuple(_operation(s) for s in results if s.timed),
        findings=tuple(f for s in results for f in s.findings),
        resources=Resources(0.0, 0.0, 0.0),
        calibration=tuple(
            CalibrationRound(r.cpu_ms)
            for s in results
            if s.timed
            for r in s.samples
            if r.cpu_ms is not None
        ),
    )


_STARTED_KEY = pytest.StashKey[tuple[Any, float]]()


def pytest_sessionstart(session: pytest.Session) -> None:
    import datetime as dt

    session.config.stash[_STARTED_KEY] = (dt.datetime.now(dt.UTC), time.perf_counter())


_GATE_KEY = pytest.StashKey[list[str]]()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    options = config.stash.get(_OPTIONS_KEY, None)
    if options is None or not any(s.timed for s in config.stash[_RESULTS_KEY]):
        return
    started_at, started = config.stash[_STARTED_KEY]
    report = session_report(config, started_at, time.perf_counter() - started)
    if options.json is not None:
        write_report(report, options.json)
    if options.save is None and options.compare is None:
        return
    # Imported here: the statistics are only needed when a session saves or compares.
    from dbprobe.gate.decide import GateSettings, judge
    from dbprobe.gate.store import HistoryStore
    from dbprobe.gate.thresholds import Level

    lines: list[str] = []
    try:
        store = HistoryStore()
        if options.compare is not None:
            settings = GateSettings(fail_on=Level(options.fail_on))
            verdict = judge(report, options.compare, store=store, settings=settings)
            lines += [*verdict.comparison.warnings, *verdict.result_lines()]
            lines.append(f"against baseline {options.compare!r}: {verdict.summary()}")
            if verdict.failed:
                lines.append(f"dbprobe: regression at or above {options.fail_on}: session failed")
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if options.save is not None:
            store.save_baseline(options.save, report)
            lines.append(f"saved the session's benchmarks as baseline {options.save!r}")
    except DbprobeError as exc:
        lines.append(f"dbprobe: {exc}")
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
    config.stash[_GATE_KEY] = lines


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    results = [s for s in config.stash.get(_RESULTS_KEY, []) if s.timed]
    if not results:
        return
    tr = terminalreporter
    gate = config.stash.get(_GATE_KEY, [])
    if gate:
        tr.section("dbprobe comparison")
        for line in gate:
            tr.write_line(line)
    tr.section("dbprobe benchmarks (ms)")
    width = max(len(s.name) for s in results)
    tr.write_line(
        f"{'benchmark':<{width}}  {'rounds':>6}  {'min':>8}  {'p50':>8}  {'p95':>8}  {'p99':>8}  "
        f"{'max':>8}  {'mean':>8}  {'stmts':>5}"
    )
    for s in results:
        tr.write_line(
            f"{s.name:<{width}}  {s.rounds:>6}  "
            + "  ".join(f"{v:>8.3f}" for v in (s.min_ms, s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms))
            + f"  {s.mean_ms:>8.3f}  {s.statements_mean:>5.1f}"
        )
    for s in results:
        for f in s.findings:
            tr.write_line(f"{f.severity.value}: {f.message}")
