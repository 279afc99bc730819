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
A column load (a deferred column, a subclass's own columns, an expired row
reloaded) is labelled with its cause (:mod:`dbprobe.instrument.column_loads`),
and a load that failed with ``MissingGreenlet`` is kept as it was labelled.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapper, RelationshipProperty, Session
from sqlalchemy.orm.attributes import InstrumentedAttribute

from dbprobe.instrument.column_loads import ColumnLoad, classify_column_load
from dbprobe.instrument.fingerprint import fingerprint, is_select
from dbprobe.instrument.location import user_location
from dbprobe.instrument.mapping import (
    WriteOnlyLink,
    mapped_joined,
    option_strategies,
    relationship_name,
    write_only_links,
)

__all__ = [
    "FailedLoad",
    "StatementRecorder",
    "StatementStats",
    "WriteOnlyLink",
    "bind_recorder",
    "count_statements",
    "failed_load",
    "install_statement_counter",
    "record_engine",
]

# Distinct parameter sets remembered per fingerprint: enough to tell an N+1
# (many different ids) from one query repeated, without growing unbounded.
_MAX_PARAMETER_KEYS = 256
_MAX_LOG = 1000


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
    # A lazy relationship load: the relationships (name, is a collection) that
    # led from the rows of a query that was no relationship load to the rows
    # loaded here, this one last. The longest seen: a tree walked level by
    # level repeats one relationship as deep as the walk went.
    chain: tuple[tuple[str, bool], ...] = ()
    # A column load: which columns, and why the rows lacked them.
    column_load: ColumnLoad | None = None
    # The parameters of the first execution, as the driver received them (with
    # ``sql``, the first execution's text): what ``--explain`` explains.
    parameters: Any = None


@dataclass(slots=True)
class _Pending:
    relationship: str | None
    collection: bool | None
    lazy: bool
    write_only: tuple[WriteOnlyLink, ...]
    chain: tuple[tuple[str, bool], ...] = ()
    column_load: ColumnLoad | None = None


@dataclass(frozen=True)
class FailedLoad:
    """The load a ``MissingGreenlet`` stopped, as the ORM labelled its statement.

    ``relationship`` (with ``collection``) for a relationship load,
    ``column_load`` for a column load, neither for any other statement;
    ``location`` is the user's line that read the attribute, when known.
    """

    relationship: str | None = None
    collection: bool | None = None
    column_load: ColumnLoad | None = None
    location: str | None = None

    @classmethod
    def of(cls, pending: _Pending | None, location: str | None) -> FailedLoad:
        if pending is None:
            return cls(location=location)
        return cls(pending.relationship, pending.collection, pending.column_load, location)


class StatementRecorder:
    """The statements of one operation (or of one ``dbprobe.capture()`` block).

    ``count`` is always kept; the rest only with ``detail`` (fingerprints,
    relationship loads, eager loads and reads, locations if ``locations``).
    ``executemany`` counts as one statement: one protocol round, one entry in
    the server's statement statistics.
    """

    __slots__ = (
        "_running",
        "chains",
        "configured",
        "count",
        "detail",
        "eager",
        "eager_joined",
        "eager_locations",
        "loaded_classes",
        "loading_chain",
        "locations",
        "lock_wait_ns",
        "lock_waits",
        "log",
        "missing_greenlet",
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
        # Where the user's code ran the query that loaded each relationship
        # eagerly (its first time), so that an unused one points at that line.
        self.eager_locations: dict[str, str] = {}
        # Eager loads that come from the mapping (relationship(lazy="selectin")),
        # with that strategy: no option to drop, the query must turn them off.
        self.configured: dict[str, str] = {}
        # Lazy loads inside lazy loads: the relationship chain that loaded each
        # object (by id; none for a query's own rows), and the chain of the rows
        # being loaded now.
        self.chains: dict[int, tuple[tuple[str, bool], ...]] = {}
        self.loading_chain: tuple[tuple[str, bool], ...] | None = None
        self.eager_joined: dict[str, type] = {}
        self.loaded_classes: set[type] = set()
        self.reads: set[str] = set()
        # The load of the latest ORM statement, if it failed with MissingGreenlet:
        # the statement that failed, never an older one's label.
        self.missing_greenlet: FailedLoad | None = None
        self.log: list[str] | None = [] if log else None
        self._running: tuple[StatementStats, int, _Pending | None] | None = None
        #: The capture that was current when this one began (they nest).
        self.parent: StatementRecorder | None = None

    def _begin(
        self, statement: str, parameters: Any, executemany: bool, pending: _Pending | None
    ) -> None:
        fp = fingerprint(statement)
        stats = self.statements.get(fp)
        if stats is None:
            stats = StatementStats(fp, statement, is_select(statement), parameters=parameters)
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
        if pending is not None:
            if pending.relationship is not None:
                stats.relationship = pending.relationship
                stats.collection = pending.collection
                stats.lazy = pending.lazy
            if pending.write_only:
                stats.write_only = pending.write_only
            if len(pending.chain) > len(stats.chain):
                stats.chain = pending.chain
            if pending.column_load is not None:
                stats.column_load = pending.column_load
        if self.log is not None and len(self.log) < _MAX_LOG:
            self.log.append(statement)
        self._running = (stats, time.perf_counter_ns(), pending)

    def eager_loaded(self) -> dict[str, str]:
        """Relationships that were really loaded eagerly here, each with the eager
        strategy its mapping sets (``"selectin"``, ``"joined"``...), or ``""`` when
        only a loader option asked for it.

        A selectin (or subquery) load shows itself as a statement; a joined
        load does not, so it counts only if a row of its parent class was
        loaded: an eager option on a query that found nothing loaded nothing.
        """
        if not self.reads_tracked:
            return {}
        joined = {rel for rel, cls in self.eager_joined.items() if cls in self.loaded_classes}
        return {rel: self.configured.get(rel, "") for rel in self.eager | joined}

    def _end(self) -> None:
        if self._running is not None:
            stats, started, _ = self._running
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
# What the ORM said of the statement it is about to send (a relationship load,
# a write-only select), for each capture, kept in the task's own context: tasks
# gathered inside one capture never take each other's label. A tuple, set anew
# each time, so that a child task's set() never reaches its parent or siblings.
_noted: ContextVar[tuple[tuple[StatementRecorder, _Pending], ...]] = ContextVar(
    "dbprobe_orm_noted", default=()
)
_TRANSACTION_CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")

# Recorders bound to one engine (or, under the key None, to every engine) rather
# than to a task: every statement there is theirs, whichever task or event loop
# runs it (the pytest plugin's per-test capture, where fixtures and test may run
# in different contexts).
_bound: dict[Engine | None, StatementRecorder] = {}


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
    if _bound:
        for key in (engine, None):
            bound = _bound.get(key)
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
    noted = _noted.get()
    if noted:
        _noted.set(())  # what the ORM said applies to its next statement only
    for recorder in recorders:
        recorder.count += 1
        if recorder.detail:
            pending = next((p for r, p in noted if r is recorder), None) if noted else None
            recorder._begin(statement, parameters, executemany, pending)


def _after_cursor_execute(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    for recorder in _recorders(conn.engine):
        recorder._end()


def _handle_error(context: Any) -> None:
    recorders = _recorders(context.engine)
    if not recorders:
        return
    statement = context.statement
    # aiosqlite makes its cursor with an awaited call, so a statement can fail
    # before before_cursor_execute (a MissingGreenlet outside SQLAlchemy's async
    # bridge, a closed connection), with no execution context yet; asyncpg's
    # cursor needs no I/O and the same statement fails in execute, after it.
    # Counted here, such a statement counts alike on both backends.
    unsent = (
        context.execution_context is None
        and isinstance(statement, str)
        and not statement.startswith(_TRANSACTION_CONTROL)
    )
    noted = _noted.get() if unsent else ()
    if noted:
        _noted.set(())
    missing_greenlet = isinstance(context.original_exception, sa_exc.MissingGreenlet)
    location: str | None = None
    for recorder in recorders:
        pending = None
        if unsent:
            recorder.count += 1
            if recorder.detail:
                pending = next((p for r, p in noted if r is recorder), None) if noted else None
                recorder._begin(statement, context.parameters, False, pending)
        elif recorder._running is not None:
            pending = recorder._running[2]
        recorder._end()
        if missing_greenlet and recorder.detail:
            # Raised synchronously where the user's code read the attribute:
            # that line is on this very stack.
            if location is None and recorder.locations:
                location = user_location()
            recorder.missing_greenlet = FailedLoad.of(pending, location)


def failed_load(recorder: StatementRecorder) -> FailedLoad | None:
    """The load that a ``MissingGreenlet`` caught now (in the task that ran it) stopped.

    The failed statement's own label when it reached the engine; else (the
    connection could not even be checked out) what the ORM said of the
    statement it was about to send, still unsent in this task's context.
    """
    if recorder.missing_greenlet is not None:
        return recorder.missing_greenlet
    pending = next((p for r, p in _noted.get() if r is recorder), None)
    return FailedLoad.of(pending, None) if pending is not None else None


# Strategies a mapping can set that load a relationship with its parent.
_EAGER = frozenset({"selectin", "joined", "subquery", "immediate"})


def _do_orm_execute(state: Any) -> None:
    engine = None
    if _bound:
        try:
            engine = state.session.get_bind(mapper=state.bind_mapper)
        except Exception:  # an unbound session: nothing bound of ours to record
            engine = None
    noted = []
    for recorder in _recorders(engine):
        if recorder.detail:
            pending = _note_orm_execute(recorder, state)
            if pending is not None:
                noted.append((recorder, pending))
    if noted:
        _noted.set(tuple(noted))
    elif _noted.get():
        _noted.set(())  # an earlier note that no statement took is stale now


def _note_eager_location(recorder: StatementRecorder, name: str) -> None:
    # Only where every SELECT's location is taken (the capture API, the
    # plugin): a measured run keeps its stack walks for repeated statements.
    if recorder.locations is True and name not in recorder.eager_locations:
        location = user_location()
        if location is not None:
            recorder.eager_locations[name] = location


def _note_orm_execute(recorder: StatementRecorder, state: Any) -> _Pending | None:
    recorder.missing_greenlet = None  # a new ORM statement: an older failure is not its own
    if state.is_relationship_load:
        prop = state.loader_strategy_path[-1]
        if not isinstance(prop, RelationshipProperty):
            return None
        name = relationship_name(prop)
        lazy = state.lazy_loaded_from is not None
        chain: tuple[tuple[str, bool], ...] = ()
        if lazy:
            parent = state.lazy_loaded_from.obj()
            chain = (*recorder.chains.get(id(parent), ()), (name, bool(prop.uselist)))
        recorder.loading_chain = chain or None
        if not lazy:
            recorder.eager.add(name)
            _note_eager_location(recorder, name)
            if prop.lazy in _EAGER:
                recorder.configured[name] = str(prop.lazy)
            _track_reads(prop)
        return _Pending(name, bool(prop.uselist), lazy, (), chain)
    recorder.loading_chain = None
    if not state.is_select:
        return None
    mapper = state.bind_mapper
    chosen = dict(option_strategies(state.statement))
    joined = [prop for prop, lazy in chosen.items() if lazy == "joined"]
    if mapper is not None and state.is_orm_statement:
        # Joined loads the mapping sets on the queried entity (lazy="joined"),
        # unless an option of this query chose another strategy for them.
        for prop in mapped_joined(mapper):
            if prop not in chosen:
                joined.append(prop)
                recorder.configured[relationship_name(prop)] = "joined"
    for prop in joined:
        recorder.eager_joined[relationship_name(prop)] = prop.parent.class_
        _note_eager_location(recorder, relationship_name(prop))
        _track_reads(prop)
    links = write_only_links(mapper) if mapper is not None else ()
    column_load = classify_column_load(state) if state.is_column_load else None
    if links or column_load is not None:
        return _Pending(None, None, False, links, column_load=column_load)
    return None


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
        if recorder.loading_chain is not None:
            recorder.chains[id(target)] = recorder.loading_chain
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
def bind_recorder(
    recorder: StatementRecorder, engine: AsyncEngine | Engine | None = None
) -> Iterator[StatementRecorder]:
    """Give ``recorder`` every statement run on ``engine`` (None: on any engine), from any task."""
    install_statement_counter()
    key = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    _bound[key] = recorder
    try:
        yield recorder
    finally:
        if _bound.get(key) is recorder:
            del _bound[key]


@contextmanager
def record_engine(
    engine: AsyncEngine | Engine | None, *, log: bool = True
) -> Iterator[StatementRecorder]:
    """Record every statement run on ``engine`` (None: on any engine) while the block is open."""
    recorder = StatementRecorder(detail=True, locations=True, log=log, reads_tracked=False)
    with bind_recorder(recorder, engine):
        yield recorder


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
