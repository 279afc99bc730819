"""User scenarios: async functions of yours that dbprobe runs under load like its own probes.

A scenario file (``dbprobe run path/to/scenarios.py``, or ``package.module``,
or ``module:attr``) holds async functions marked with :func:`scenario`::

    import dbprobe
    from sqlalchemy import select

    @dbprobe.scenario(weight=3)
    async def browse(ctx):
        async with ctx.session_factory() as session:
            await session.execute(select(...))

Each call gets an :class:`~dbprobe.load.workers.OperationContext` (``ScenarioContext``):
``ctx.engine``, ``ctx.session_factory`` (plain sessions), ``ctx.write_session_factory``
(on SQLite they ``BEGIN IMMEDIATE``, so concurrent writers queue instead of
failing), ``ctx.rng`` (seeded, one per worker), ``ctx.worker`` and
``ctx.unit_of_work(write=...)`` for the reference domain. A scenario that
raises counts as an error of its class (deadlocks and serialization failures
are retried), ``SystemExit`` and ``KeyboardInterrupt`` included (class
``other``: they end neither the run nor dbprobe); one that returns counts as
committed.

The file may also define, all optional:

- ``async def setup(engine)`` and ``async def teardown(engine)``: run once,
  before and after the load (in the main process, also with several
  processes); ``teardown`` runs even when the load failed or was interrupted;
- ``def make_engine(url) -> AsyncEngine`` (or ``async def``): build the
  engine yourself from the ``--db`` URL (your own pool, ``search_path``,
  connect arguments). Without it the scenarios run on dbprobe's engine for
  ``--db``: a pool of one connection per worker, SQLite in WAL mode with a
  busy timeout, and on PostgreSQL ``search_path=dbprobe`` so that unqualified
  names resolve in dbprobe's own schema and never touch your tables;
- ``REFERENCE_DOMAIN = True``: seed dbprobe's reference domain (at ``--scale``
  and ``--seed``) before ``setup``, as the built-in probes do;
- ``async def scale_data(engine, scale)``: build your own data at the named
  scale (``tiny``, ``small``, ``medium``, ``large``: ``--scale``, or each of
  ``--scales`` in turn), before ``setup``; the report then states that scale.

Loading a file puts its directory at the front of ``sys.path`` (as running
it with ``python`` would), so it can import its neighbours.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar, overload

from sqlalchemy.ext.asyncio import AsyncEngine

from dbprobe.errors import ConfigError, DbprobeError, UsageError
from dbprobe.load.operations import Operation, OperationContext

__all__ = [
    "Scenario",
    "ScenarioContext",
    "ScenarioSet",
    "current_scenario",
    "load_scenarios",
    "scenario",
]

#: What a scenario receives.
ScenarioContext = OperationContext

ScenarioFunction = Callable[[OperationContext], Awaitable[Any]]
F = TypeVar("F", bound=Callable[..., Any])

_MARK = "__dbprobe_scenario__"

#: The scenario the current task is running (None outside one). SQLAlchemy's
#: greenlet bridge runs pool events in the calling task's context, so a pool
#: listener reads it too.
current_scenario: ContextVar[str | None] = ContextVar("dbprobe_scenario", default=None)


@dataclass(frozen=True)
class _Mark:
    name: str
    weight: int


@dataclass(frozen=True)
class Scenario:
    """One scenario: its name (the operation's name in reports), weight and function."""

    name: str
    weight: int
    function: ScenarioFunction

    @property
    def defined_at(self) -> str:
        code = getattr(self.function, "__code__", None)
        return f"{code.co_filename}:{code.co_firstlineno}" if code else "?"

    def operation(self) -> Operation:
        function, name = self.function, self.name

        async def run(ctx: OperationContext) -> None:
            # Said for the task running it, so that a connection it checks out and
            # never returns is reported under its name (see run_scenarios).
            token = current_scenario.set(name)
            try:
                await function(ctx)
            finally:
                current_scenario.reset(token)

        return Operation(self.name, self.weight, run)


def _where(function: Callable[..., Any]) -> str:
    code = getattr(function, "__code__", None)
    return f" ({code.co_filename}:{code.co_firstlineno})" if code else ""


def _check(function: Callable[..., Any], weight: int) -> None:
    name = getattr(function, "__name__", repr(function))
    if not inspect.iscoroutinefunction(function):
        raise ConfigError(
            f"@dbprobe.scenario needs an async function, but {name}{_where(function)} is not: "
            f"write `async def {name}(ctx): ...`"
        )
    if isinstance(weight, bool) or not isinstance(weight, int) or weight < 0:
        raise ConfigError(
            f"@dbprobe.scenario(weight=...) of {name} must be a whole number, 0 or more, "
            f"got {weight!r}"
        )
    try:
        inspect.signature(function).bind(None)
    except TypeError:
        raise ConfigError(
            f"scenario {name}{_where(function)} must take one argument, the context: "
            f"`async def {name}(ctx): ...`"
        ) from None


@overload
def scenario(function: F, /) -> F: ...


@overload
def scenario(*, weight: int = 1, name: str | None = None) -> Callable[[F], F]: ...


def scenario(
    function: F | None = None, /, *, weight: int = 1, name: str | None = None
) -> F | Callable[[F], F]:
    """Mark ``async def f(ctx)`` as a scenario: ``@scenario`` or ``@scenario(weight=3)``.

    ``weight`` is its share of the mix (0 leaves it out); ``name`` its name in
    reports (default: the function's). Raises ConfigError for a function that
    is not ``async def`` or does not take exactly one argument.
    """

    def mark(f: F) -> F:
        _check(f, weight)
        setattr(f, _MARK, _Mark(name or f.__name__, weight))
        return f

    return mark(function) if function is not None else mark


@dataclass(frozen=True)
class ScenarioSet:
    """What a scenario file provides (see the module docstring)."""

    source: str
    scenarios: tuple[Scenario, ...]
    setup: Callable[[AsyncEngine], Awaitable[Any]] | None = None
    teardown: Callable[[AsyncEngine], Awaitable[Any]] | None = None
    make_engine: Callable[[str], Any] | None = None
    reference_domain: bool = False
    scale_data: Callable[[AsyncEngine, str], Awaitable[Any]] | None = None

    @property
    def scaled(self) -> bool:
        """Whether ``--scale`` sizes the data it reads (the reference domain, or its own)."""
        return self.reference_domain or self.scale_data is not None

    def select(self, only: Iterable[str] = ()) -> tuple[Scenario, ...]:
        """The scenarios named in ``only`` (all with a positive weight if empty)."""
        wanted = list(only)
        if not wanted:
            return tuple(s for s in self.scenarios if s.weight > 0)
        names = {s.name: s for s in self.scenarios}
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise ConfigError(
                f"unknown scenario {unknown[0]!r} in --only: {self.source} has " + ", ".join(names)
            )
        return tuple(names[n] if names[n].weight > 0 else _weight_one(names[n]) for n in wanted)

    def operations(self, only: Iterable[str] = ()) -> list[Operation]:
        return [s.operation() for s in self.select(only)]


def _weight_one(s: Scenario) -> Scenario:
    # Named explicitly with --only: run it even if its weight is 0.
    return Scenario(s.name, 1, s.function)


def _split_source(source: str) -> tuple[str, str | None]:
    """``file.py:attr`` or ``package.module:attr`` -> (where, attr); no ``:attr`` -> None."""
    where, sep, attr = source.rpartition(":")
    if sep and attr.isidentifier() and where and not (len(where) == 1 and where.isalpha()):
        return where, attr
    return source, None


def _is_path(text: str) -> bool:
    if text.endswith(".py") or "/" in text or "\\" in text:
        return True
    try:
        return Path(text).is_file()
    except OSError:
        # A name the system refuses (longer than NAME_MAX...) can only have been
        # meant as a file: _import_file says what is wrong with it.
        return True


def _user_frame(exc: BaseException, path: Path | None) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if path is not None:
        mine = [f for f in frames if Path(f.filename).resolve() == path]
        if mine:
            return f" at {mine[-1].filename}:{mine[-1].lineno}"
    return f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""


_loaded: dict[tuple[str, int, int], ModuleType] = {}


def _import_file(text: str) -> tuple[ModuleType, Path]:
    path = Path(text).expanduser().resolve()
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise UsageError(f"scenario file {text} does not exist") from None
    except OSError as exc:
        # ENAMETOOLONG, EACCES on a parent, ELOOP: the system's own words.
        raise UsageError(f"scenario file {text} cannot be opened: {exc.strerror}") from None
    if not path.is_file():
        raise UsageError(f"scenario file {text} is not a file")
    key = (str(path), stat.st_mtime_ns, stat.st_size)
    # The same file, unchanged, is executed once per process: mapped classes
    # it declares could not be declared a second time in the same metadata.
    if key in _loaded:
        return _loaded[key], path
    digest = hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:10]
    name = f"dbprobe_scenarios_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"scenario file {text} cannot be imported (is it a .py file?)")
    module = importlib.util.module_from_spec(spec)
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    # Registered before it runs, as import does: dataclasses and pickling look
    # a module up by name.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(name, None)
        raise _import_failure(text, exc, path) from None
    _loaded[key] = module
    return module, path


def _import_failure(text: str, exc: BaseException, path: Path | None) -> DbprobeError:
    if isinstance(exc, DbprobeError):
        return type(exc)(f"{text}: {exc}")
    if isinstance(exc, SyntaxError):
        return UsageError(
            f"scenario file {text} has a syntax error at line {exc.lineno}: {exc.msg}"
        )
    first = str(exc).strip().splitlines()
    detail = f"{type(exc).__name__}: {first[0]}" if first else type(exc).__name__
    return UsageError(f"importing scenarios {text} failed{_user_frame(exc, path)}: {detail}")


def _import_module(text: str) -> ModuleType:
    try:
        return importlib.import_module(text)
    except ModuleNotFoundError as exc:
        if exc.name and text.startswith(exc.name):
            raise UsageError(
                f"no scenario file or module {text!r}: give a path to a .py file, "
                "a module name, or module:attribute"
            ) from None
        raise _import_failure(text, exc, None) from None
    except BaseException as exc:
        raise _import_failure(text, exc, None) from None


def _marked(value: Any) -> Scenario | None:
    mark = getattr(value, _MARK, None) if callable(value) else None
    if not isinstance(mark, _Mark):
        return None
    return Scenario(mark.name, mark.weight, value)


def _collect(source: str, holder: Any, attr: str | None) -> list[Scenario]:
    if attr is None:
        return [s for value in vars(holder).values() if (s := _marked(value)) is not None]
    if not hasattr(holder, attr):
        raise UsageError(f"{source}: {getattr(holder, '__name__', holder)} has no {attr!r}")
    value = getattr(holder, attr)
    if (single := _marked(value)) is not None:
        return [single]
    if isinstance(value, ModuleType) or inspect.isclass(value):
        return _collect(source, value, None)
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        found = []
        for item in value:
            s = _marked(item)
            if s is None:
                raise UsageError(
                    f"{source}: {item!r} is not a scenario; decorate it with @dbprobe.scenario"
                )
            found.append(s)
        return found
    raise UsageError(f"{source}: {attr} is not a scenario, a list of scenarios or a module of them")


def _hook(source: str, module: ModuleType, name: str, *, must_be_async: bool) -> Any:
    value = getattr(module, name, None)
    if value is None:
        return None
    if not callable(value):
        raise UsageError(f"{source}: {name} must be a function, got {type(value).__name__}")
    if must_be_async and not inspect.iscoroutinefunction(value):
        raise UsageError(
            f"{source}: {name}{_where(value)} must be a coroutine function: "
            f"`async def {name}(engine): ...`"
        )
    return value


def load_scenarios(source: str) -> ScenarioSet:
    """Import a scenario file or module and collect what it provides.

    Raises UsageError (a ConfigError for a badly declared scenario) when the
    file is missing, fails to import, has no scenarios, or declares a hook or
    a scenario that is not a coroutine function.
    """
    where, attr = _split_source(source)
    if _is_path(where):
        module, _path = _import_file(where)
    else:
        module = _import_module(where)
    found = _collect(source, module, attr)
    names = [s.name for s in found]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{source}: two scenarios are named {duplicates[0]!r}; rename one")
    if not any(s.weight > 0 for s in found):
        raise UsageError(
            f"no scenarios in {source}: decorate async functions with @dbprobe.scenario "
            "(and give at least one a positive weight)"
        )
    return ScenarioSet(
        source=source,
        scenarios=tuple(found),
        setup=_hook(source, module, "setup", must_be_async=True),
        teardown=_hook(source, module, "teardown", must_be_async=True),
        make_engine=_hook(source, module, "make_engine", must_be_async=False),
        reference_domain=bool(getattr(module, "REFERENCE_DOMAIN", False)),
        scale_data=_hook(source, module, "scale_data", must_be_async=True),
    )
