"""dbprobe's pytest plugin: async benchmarks and statement checks for pytest-asyncio/anyio.

Registered through the ``pytest11`` entry point, so installing dbprobe is
enough; and since that registers it in every pytest run of the environment,
this module imports only pytest and the standard library. SQLAlchemy and the
rest of dbprobe load when a dbprobe fixture is first used (the fixtures below
are stubs that load :mod:`dbprobe.pytest_plugin.fixtures`), or at the end of a
session that ran benchmarks. A project testing its own checkout of a library
dbprobe imports must get that checkout, not the wheel dbprobe would have
imported first.

Fixtures:

- ``dbprobe_engine``: the engine the other fixtures measure. Override it in a
  conftest with your own (``def dbprobe_engine(my_engine): return my_engine``);
  by default an engine on ``--dbprobe-db`` (else ``$DBPROBE_DB_URL``, else a
  temporary SQLite file of the session) with nothing of dbprobe's in it.
- ``dbprobe_session``: an AsyncSession on ``dbprobe_engine`` in a transaction
  rolled back after the test.
- ``dbprobe_seeded`` / ``dbprobe_seeded_session``: dbprobe's reference domain,
  seeded at ``--dbprobe-scale`` on the same database, in dbprobe's own tables
  (schema ``dbprobe`` on PostgreSQL). Only these seed anything.
- ``dbprobe_queries``: every statement the test's call issues, on any engine.
- ``dbprobe_bench``: times a coroutine inside the test's loop.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

__all__ = ["PluginOptions"]

# Kept in step with dbprobe.result.options.SCALE_NAMES (a test checks): the
# plugin validates its options without importing dbprobe.
SCALES = ("tiny", "small", "medium", "large")
FAIL_ON = ("minor", "warning", "critical")


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
        "database URL of the dbprobe fixtures (default: $DBPROBE_DB_URL, else a temporary "
        "SQLite file of the session)",
    ),
    ("scale", "tiny", f"scale seeded by dbprobe_seeded: {', '.join(SCALES)} (default tiny)"),
    ("json", "", "write the session's benchmarks as a dbprobe.report/1 JSON file"),
    ("save", "", "save the session's benchmarks as a named baseline"),
    (
        "compare",
        "",
        "compare the session's benchmarks with a named baseline; a regression fails the session",
    ),
    ("fail-on", "minor", "regression severity that fails the session: minor, warning or critical"),
)

OPTIONS_KEY = pytest.StashKey[PluginOptions]()
# BenchStats of every benchmark the session ran (typed loosely: dbprobe.bench
# is not imported here).
RESULTS_KEY = pytest.StashKey[list[Any]]()
STARTED_KEY = pytest.StashKey[tuple[Any, float]]()
GATE_KEY = pytest.StashKey[list[str]]()
# The dbprobe_queries capture of the running test: recording during its call.
QUERIES_KEY = pytest.StashKey[Any]()


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
    if scale not in SCALES:
        raise pytest.UsageError(f"--dbprobe-scale {scale!r}: choose one of {', '.join(SCALES)}")
    if fail_on not in FAIL_ON:
        raise pytest.UsageError(f"--dbprobe-fail-on {fail_on!r}: choose {', '.join(FAIL_ON)}")
    json_path = _option(config, "json")
    config.stash[OPTIONS_KEY] = PluginOptions(
        db=_option(config, "db") or None,
        scale=scale,
        json=Path(json_path) if json_path else None,
        save=_option(config, "save") or None,
        compare=_option(config, "compare") or None,
        fail_on=fail_on,
        disable=bool(config.getoption("dbprobe_disable") or config.getini("dbprobe_disable")),
    )
    config.stash[RESULTS_KEY] = []


def _load(name: str) -> ModuleType:
    """A module of the plugin's own, imported on first use.

    The fixtures module registers with pytest as a plugin of its own the first
    time: its fixtures (the async implementations behind the stubs below) are
    then found by ``request.getfixturevalue``.
    """
    return import_module(f"dbprobe.pytest_plugin.{name}")


def _fixtures(request: pytest.FixtureRequest) -> ModuleType:
    module = _load("fixtures")
    manager = request.config.pluginmanager
    if not manager.is_registered(module):
        manager.register(module, "dbprobe.pytest_plugin.fixtures")
    return module


def _flavour(request: pytest.FixtureRequest, name: str) -> Any:
    """The implementation of fixture ``name`` for the test's framework (anyio or pytest-asyncio)."""
    _fixtures(request)
    suffix = "anyio" if "anyio_backend" in request.fixturenames else "asyncio"
    return request.getfixturevalue(f"_{name}_{suffix}")


@pytest.fixture
def dbprobe_engine(request: pytest.FixtureRequest) -> Any:
    """An AsyncEngine on the plugin's database; override it to hand dbprobe your own."""
    return _flavour(request, "dbprobe_engine")


@pytest.fixture
def dbprobe_session(request: pytest.FixtureRequest) -> Any:
    """An AsyncSession on ``dbprobe_engine`` inside a transaction rolled back after the test."""
    return _flavour(request, "dbprobe_session")


@pytest.fixture
def dbprobe_seeded(request: pytest.FixtureRequest) -> Any:
    """An AsyncEngine on dbprobe's reference domain, seeded at ``--dbprobe-scale``."""
    return _flavour(request, "dbprobe_seeded")


@pytest.fixture
def dbprobe_seeded_session(request: pytest.FixtureRequest) -> Any:
    """An AsyncSession on ``dbprobe_seeded`` inside a transaction rolled back after the test."""
    return _flavour(request, "dbprobe_seeded_session")


@pytest.fixture
def dbprobe_queries(request: pytest.FixtureRequest) -> Iterator[Any]:
    """Every statement the test's call issues, on any engine: ``.count``, ``.statements``,
    ``.findings``; ``.watch(engine)`` narrows it to one engine from then on.

    Recording spans the test function's call only (see ``pytest_runtest_call``),
    so what fixtures run before and after it is not counted.
    """
    queries = _fixtures(request).TestQueries()
    request.node.stash[QUERIES_KEY] = queries
    yield queries
    del request.node.stash[QUERIES_KEY]


@pytest.fixture
def dbprobe_bench(request: pytest.FixtureRequest) -> Any:
    """``stats = await dbprobe_bench(async_fn, *args, rounds=50, warmup=5, concurrency=1)``."""
    return _fixtures(request).bench_runner(request)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    queries = item.stash.get(QUERIES_KEY, None)
    if queries is None:
        return (yield)
    with queries.recording():
        return (yield)


def pytest_sessionstart(session: pytest.Session) -> None:
    import datetime as dt

    session.config.stash[STARTED_KEY] = (dt.datetime.now(dt.UTC), time.perf_counter())


def _ran_benchmarks(config: pytest.Config) -> bool:
    return any(s.timed for s in config.stash.get(RESULTS_KEY, []))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _ran_benchmarks(session.config):
        _load("session").finish(session)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if _ran_benchmarks(config):
        _load("session").summary(terminalreporter, config)
