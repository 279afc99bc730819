"""Recording the SQL statements each operation issues, through SQLAlchemy's own events.

Listeners on the ``Engine`` class (``before_cursor_execute``,
``after_cursor_execute``) and on the ORM ``Session`` class (``do_orm_execute``)
add to the :class:`StatementRecorder` that the current asyncio task has made
current. The recorder travels in a ContextVar: each task has its own context,
and SQLAlchemy's greenlet bridge runs the sync engine code inside the calling
task's context, so concurrent workers never mix their statements. With no
recorder current, every listener returns at its first line.

Per fingerprint a recorder keeps executions, distinct parameter sets, time,
whether SQLAlchemy issued the statement as a lazy or an eager relationship
load and for which relationship (``Model.attribute``), and the first code
location outside SQLAlchemy and dbprobe that issued it. It also notes the
relationships a query asked to load eagerly and which relationships the
operation actually read, so that an eager load nobody read can be reported.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapper, RelationshipProperty, Session
from sqlalchemy.orm.attributes import InstrumentedAttribute

from dbprobe.instrument.fingerprint import fingerprint, is_select
from dbprobe.instrument.location import user_location

__all__ = [
    "StatementRecorder",
    "StatementStats",
    "WriteOnlyLink",
    "count_statements",
    "install_statement_counter",
    "record_engine",
]

# Distinct parameter sets remembered per fingerprint: enough to tell an N+1
# (many different ids) from one query repeated, without growing unbounded.
_MAX_PARAMETER_KEYS = 256
_MAX_LOG = 1000


@dataclass(frozen=True)
class WriteOnlyLink:
    """A write-only (or dynamic) relationship whose ``select()`` filters on ``table.column``."""

    relationship: str
    table: str
    column: str
    target: str


@dataclass(slots=True)
class StatementStats:
    """Everything recorded about one fingerprint within one operation."""

    fingerprint: str
    sql: str
    is_select: bool
    executions: int = 0
    total_ns: int = 0
    executemany: bool = False
    parameter_keys: set[int] = field(default_factory=set)
    relationship: str | None = None
    collection: bool | None = None
    lazy: bool = False
    location: str | None = None
    write_only: tuple[WriteOnlyLink, ...] = ()


@dataclass(slots=True)
class _Pending:
    relationship: str | None
    collection: bool | None
    lazy: bool
    write_only: tuple[WriteOnlyLink, ...]


class StatementRecorder:
    """The statements of one operation (or of one ``dbprobe.capture()`` block).

    ``count`` is always kept; the rest only with ``detail`` (fingerprints,
    relationship loads, eager loads and reads, locations if ``locations``).
    ``executemany`` counts as one statement: one protocol round, one entry in
    the server's statement statistics.
    """

    __slots__ = (
        "_pending",
        "_running",
        "count",
        "detail",
        "eager",
        "eager_joined",
        "last_relationship",
        "loaded_classes",
        "locations",
        "lock_wait_ns",
        "lock_waits",
        "log",
        "parent",
        "reads",
        "reads_tracked",
        "statements",
    )

    def __init__(
        self,
        *,
        detail: bool = True,
        locations: bool | str = True,
        log: bool = False,
        reads_tracked: bool = True,
    ) -> None:
        self.count = 0
        self.lock_waits = 0
        self.lock_wait_ns = 0
        # Reads of relationship attributes can only be attributed through the
        # task's context; a recorder bound to an engine cannot see them, and
        # must not call an eager load "unused" for want of seeing its reads.
        self.reads_tracked = reads_tracked
        self.detail = detail
        self.locations = locations
        self.statements: dict[str, StatementStats] = {}
        self.eager: set[str] = set()
        self.eager_joined: dict[str, type] = {}
        self.loaded_classes: set[type] = set()
        self.reads: set[str] = set()
        self.last_relationship: str | None = None
        self.log: list[str] | None = [] if log else None
        self._pending: _Pending | None = None
        self._running: tuple[StatementStats, int] | None = None
        #: The capture that was current when this one began (they nest).
        self.parent: StatementRecorder | None = None

    def _begin(self, statement: str, parameters: Any, executemany: bool) -> None:
        fp = fingerprint(statement)
        stats = self.statements.get(fp)
        if stats is None:
            stats = StatementStats(fp, statement, is_select(statement))
            if stats.is_select and self.locations is True:
                stats.location = user_location()
            self.statements[fp] = stats
        elif stats.executions == 1 and stats.is_select and self.locations == "repeated":
            # Only a repeated SELECT can be an N+1, so the stack is walked for
            # its location on the second execution, from the same loop.
            stats.location = user_location()
        stats.executions += 1
        if executemany:
            stats.executemany = True
        elif stats.is_select and len(stats.parameter_keys) < _MAX_PARAMETER_KEYS:
            stats.parameter_keys.add(_parameter_key(parameters))
        pending, self._pending = self._pending, None
        if pending is not None:
            if pending.relationship is not None:
                stats.relationship = pending.relationship
                stats.collection = pending.collection
                stats.lazy = pending.lazy
            if pending.write_only:
                stats.write_only = pending.write_only
        if self.log is not None and len(self.log) < _MAX_LOG:
            self.log.append(statement)
        self._running = (stats, time.perf_counter_ns())

    def eager_loaded(self) -> set[str]:
        """Relationships that were really loaded eagerly here.

        A selectin (or subquery) load shows itself as a statement; a joined
        load does not, so it counts only if a row of its parent class was
        loaded: an eager option on a query that found nothing loaded nothing.
        """
        if not self.reads_tracked:
            return set()
        joined = {rel for rel, cls in self.eager_joined.items() if cls in self.loaded_classes}
        return self.eager | joined

    def _end(self) -> None:
        if self._running is not None:
            stats, started = self._running
            stats.total_ns += time.perf_counter_ns() - started
            self._running = None


def _parameter_key(parameters: Any) -> int:
    try:
        if isinstance(parameters, dict):
            return hash(tuple(sorted(parameters.items())))
        return hash(tuple(parameters) if isinstance(parameters, list) else parameters)
    except TypeError:
        return hash(repr(parameters))


_current: ContextVar[StatementRecorder | None] = ContextVar("dbprobe_statements", default=None)
_TRANSACTION_CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")

# Recorders bound to one engine rather than to a task: every statement on that
# engine is theirs, whichever task or event loop runs it (the pytest plugin's
# per-test capture, where fixtures and test may run in different contexts).
_bound: dict[Engine, StatementRecorder] = {}


_NONE: tuple[StatementRecorder, ...] = ()


def _recorders(engine: Engine | None) -> tuple[StatementRecorder, ...]:
    """The recorders a statement on ``engine`` belongs to, innermost first.

    Captures nest (a benchmark round around an ``assert_max_queries`` block):
    each one counts every statement run while it is open. A recorder bound to
    the engine counts them too, whichever context runs them.
    """
    recorder = _current.get()
    if recorder is not None and recorder.parent is None and not _bound:
        return (recorder,)  # the hot path: one capture, nothing bound
    found: list[StatementRecorder] = []
    while recorder is not None:
        found.append(recorder)
        recorder = recorder.parent
    bound = _bound.get(engine) if _bound and engine is not None else None
    if bound is not None and bound not in found:
        found.append(bound)
    return tuple(found) if found else _NONE


def _before_cursor_execute(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    recorders = _recorders(conn.engine)
    # Transaction control is not a statement of the operation, and only SQLite
    # sends it as SQL (BEGIN IMMEDIATE from dbprobe, SAVEPOINT from the ORM):
    # asyncpg begins and nests transactions through its own protocol calls, so
    # counting them would make the two backends disagree.
    if not recorders or statement.startswith(_TRANSACTION_CONTROL):
        return
    for recorder in recorders:
        recorder.count += 1
        if recorder.detail:
            recorder._begin(statement, parameters, executemany)


def _after_cursor_execute(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    for recorder in _recorders(conn.engine):
        recorder._end()


def _handle_error(context: Any) -> None:
    for recorder in _recorders(context.engine):
        recorder._end()


def _relationship_name(prop: RelationshipProperty[Any]) -> str:
    return f"{prop.parent.class_.__name__}.{prop.key}"


def _joined_options(statement: Any) -> Iterator[RelationshipProperty[Any]]:
    """Relationships a statement's loader options load with a JOIN (no statement of their own).

    Read from the options' load paths; if a later SQLAlchemy changes those
    internals, this yields nothing and only unused-eager-load findings are lost.
    """
    try:
        for option in getattr(statement, "_with_options", ()):
            for element in getattr(option, "context", ()):
                strategy = dict(getattr(element, "strategy", None) or ())
                if strategy.get("lazy") != "joined":
                    continue
                props = [p for p in element.path.path if isinstance(p, RelationshipProperty)]
                if props:
                    yield props[-1]
    except (AttributeError, TypeError, ValueError):
        return


_write_only_cache: dict[Mapper[Any], tuple[WriteOnlyLink, ...]] = {}


def _write_only_links(target: Mapper[Any]) -> tuple[WriteOnlyLink, ...]:
    """Write-only/dynamic relationships of any mapper of the registry that point at ``target``."""
    links = _write_only_cache.get(target)
    if links is None:
        found = []
        for mapper in target.registry.mappers:
            for prop in mapper.relationships:
                if prop.mapper is target and prop.lazy in ("write_only", "dynamic"):
                    for _local, remote in prop.local_remote_pairs or ():
                        if getattr(remote, "table", None) is target.local_table:
                            found.append(
                                WriteOnlyLink(
                                    _relationship_name(prop),
                                    str(getattr(target.local_table, "name", "")),
                                    str(remote.name),
                                    target.class_.__name__,
                                )
                            )
        links = _write_only_cache[target] = tuple(found)
    return links


def _do_orm_execute(state: Any) -> None:
    engine = None
    if _bound:
        try:
            engine = state.session.get_bind(mapper=state.bind_mapper)
        except Exception:  # an unbound session: nothing bound of ours to record
            engine = None
    for recorder in _recorders(engine):
        if recorder.detail:
            _note_orm_execute(recorder, state)


def _note_orm_execute(recorder: StatementRecorder, state: Any) -> None:
    if state.is_relationship_load:
        prop = state.loader_strategy_path[-1]
        if not isinstance(prop, RelationshipProperty):
            return
        name = _relationship_name(prop)
        lazy = state.lazy_loaded_from is not None
        recorder.last_relationship = name
        recorder._pending = _Pending(name, bool(prop.uselist), lazy, ())
        if not lazy:
            recorder.eager.add(name)
            _track_reads(prop)
        return
    if not state.is_select:
        return
    for prop in _joined_options(state.statement):
        recorder.eager_joined[_relationship_name(prop)] = prop.parent.class_
        _track_reads(prop)
    mapper = state.bind_mapper
    links = _write_only_links(mapper) if mapper is not None else ()
    recorder._pending = _Pending(None, None, False, links) if links else None


def note_lock_wait(waited_ns: int) -> None:
    """Add a wait for SQLite's write lock (timed at BEGIN IMMEDIATE) to the current captures.

    Under the busy timeout a blocked writer waits instead of failing, so no
    error ever shows the contention: this count and time do.
    """
    recorder = _current.get()
    while recorder is not None:
        recorder.lock_waits += 1
        recorder.lock_wait_ns += waited_ns
        recorder = recorder.parent


class _ReadTrackingAttribute(InstrumentedAttribute[Any]):
    """A relationship attribute that notes, for the current recorder, that it was read.

    SQLAlchemy has no event for reading an attribute (Bullet, the model for
    unused-eager-load detection, hooks association readers the same way). Only
    the relationship attributes that some query loaded eagerly are switched to
    this class, and a read costs one ContextVar lookup when no recorder is on.
    """

    __slots__ = ()
    inherit_cache = True

    def __get__(self, instance: Any, owner: Any) -> Any:
        if instance is not None:
            recorder = _current.get()
            while recorder is not None:
                recorder.reads.add(f"{self.class_.__name__}.{self.key}")
                recorder = recorder.parent
        return super().__get__(instance, owner)


def _on_load(target: Any, context: Any) -> None:
    recorder = _current.get()
    while recorder is not None:
        if recorder.eager_joined:
            recorder.loaded_classes.add(type(target))
        recorder = recorder.parent


def _track_reads(prop: RelationshipProperty[Any]) -> None:
    for mapper in prop.parent.self_and_descendants:
        attr = mapper.class_.__dict__.get(prop.key)
        if type(attr) is InstrumentedAttribute:
            attr.__class__ = _ReadTrackingAttribute


_installed = False


def install_statement_counter(engine: AsyncEngine | Engine | None = None) -> None:
    """Attach dbprobe's listeners (idempotent; they act only while a recorder is current).

    They are attached to the Engine and Session classes, so every engine and
    session in the process is covered, including the user's own; ``engine`` is
    accepted for symmetry and not needed.
    """
    global _installed
    if _installed:
        return
    event.listen(Engine, "before_cursor_execute", _before_cursor_execute)
    event.listen(Engine, "after_cursor_execute", _after_cursor_execute)
    event.listen(Engine, "handle_error", _handle_error)
    event.listen(Session, "do_orm_execute", _do_orm_execute)
    event.listen(Mapper, "load", _on_load)
    _installed = True


@contextmanager
def record_engine(engine: AsyncEngine | Engine, *, log: bool = True) -> Iterator[StatementRecorder]:
    """Record every statement run on ``engine`` while the block is open, from any task."""
    install_statement_counter()
    sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    recorder = StatementRecorder(detail=True, locations=True, log=log, reads_tracked=False)
    _bound[sync_engine] = recorder
    try:
        yield recorder
    finally:
        _bound.pop(sync_engine, None)


class count_statements:
    """Make a fresh recorder current for the enclosed code (in this task and its children).

    ``locations``: True walks the stack for every SELECT's first execution;
    ``"repeated"`` only for a SELECT that runs a second time (what the load
    engine uses: cheaper, and N+1 findings still carry their location).

    A small class rather than a generator-based context manager: it is entered
    once per measured attempt.
    """

    __slots__ = ("_token", "recorder")

    def __init__(
        self, *, detail: bool = True, locations: bool | str = True, log: bool = False
    ) -> None:
        if not _installed:
            install_statement_counter()
        self.recorder = StatementRecorder(detail=detail, locations=locations, log=log)

    def __enter__(self) -> StatementRecorder:
        recorder = self.recorder
        recorder.parent = _current.get()
        self._token = _current.set(recorder)
        return recorder

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._token)
