"""Recording the SQL statements each operation issues, through SQLAlchemy's own events.

Listeners on the ``Dialect`` class (``do_execute``, ``do_executemany``,
``do_execute_no_params``, ``handle_error``) and on the ORM ``Session`` class
(``do_orm_execute``)
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

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect, Engine
from sqlalchemy.engine.interfaces import ExecuteStyle
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Mapper, RelationshipProperty, Session
from sqlalchemy.orm.attributes import InstrumentedAttribute

from dbprobe.instrument.column_loads import classify_column_load
from dbprobe.instrument.location import user_location
from dbprobe.instrument.mapping import (
    WriteOnlyLink,
    mapped_joined,
    option_strategies,
    relationship_name,
    write_only_links,
)
from dbprobe.instrument.recorder import FailedLoad, PendingLoad, StatementRecorder, StatementStats

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

_current: ContextVar[StatementRecorder | None] = ContextVar("dbprobe_statements", default=None)
# What the ORM said of the statement it is about to send (a relationship load,
# a write-only select), for each capture, kept in the task's own context: tasks
# gathered inside one capture never take each other's label. A tuple, set anew
# each time, so that a child task's set() never reaches its parent or siblings.
_noted: ContextVar[tuple[tuple[StatementRecorder, PendingLoad], ...]] = ContextVar(
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


def _record_begin(
    context: Any, statement: str, parameters: Any, executemany: bool
) -> tuple[StatementRecorder, ...]:
    """Count and open the statement in every recorder it belongs to; the recorders."""
    # The engine matters only to recorders bound to one (rare): not looked up otherwise.
    recorders = _recorders(context.root_connection.engine if _bound else None)
    # Transaction control is not a statement of the operation, and only SQLite
    # sends it as SQL (BEGIN IMMEDIATE from dbprobe, SAVEPOINT from the ORM):
    # asyncpg begins and nests transactions through its own protocol calls, so
    # counting them would make the two backends disagree.
    if not recorders or statement.startswith(_TRANSACTION_CONTROL):
        return _NONE
    noted = _noted.get()
    if noted:
        _noted.set(())  # what the ORM said applies to its next statement only
    for recorder in recorders:
        recorder.count += 1
        if recorder.detail:
            pending = next((p for r, p in noted if r is recorder), None) if noted else None
            recorder.begin_statement(statement, parameters, executemany, pending)
    return recorders


# The statements are seen through the dialect's execute events, not the
# engine's before/after_cursor_execute: a listener on the engine makes every
# connection join the engine's event dispatch and look up each of its events
# through it (begin, execute, commit...), 10-12 µs per connection and
# statement measured with SQLAlchemy 2.1 even for listeners that do nothing;
# the dialect's events cost under 1 µs. Each listener runs the statement
# itself, as the dialect would have, timing it, and returns True (handled).
# A statement that fails is ended by _handle_error, which still needs what
# begin_statement noted (a MissingGreenlet's relationship).


def _do_execute(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    # insertmanyvalues sends its batches here one by one: each is one
    # statement, of a statement executed with many parameter sets.
    many = context.execute_style is not ExecuteStyle.EXECUTE
    recorders = _record_begin(context, statement, parameters, many)
    context.dialect.do_execute(cursor, statement, parameters, context)
    for recorder in recorders:
        recorder.end_statement()
    return True


def _do_executemany(cursor: Any, statement: str, parameters: Any, context: Any) -> bool:
    recorders = _record_begin(context, statement, parameters, True)
    context.dialect.do_executemany(cursor, statement, parameters, context)
    for recorder in recorders:
        recorder.end_statement()
    return True


def _do_execute_no_params(cursor: Any, statement: str, context: Any) -> bool:
    recorders = _record_begin(context, statement, (), False)
    context.dialect.do_execute_no_params(cursor, statement, context)
    for recorder in recorders:
        recorder.end_statement()
    return True


def _handle_error(context: Any) -> None:
    recorders = _recorders(context.engine)
    if not recorders:
        return
    statement = context.statement
    # aiosqlite makes its cursor with an awaited call, so a statement can fail
    # before the dialect executes it (a MissingGreenlet outside SQLAlchemy's async
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
                recorder.begin_statement(statement, context.parameters, False, pending)
        elif recorder.running is not None:
            pending = recorder.running[2]
        recorder.end_statement()
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


def _note_orm_execute(recorder: StatementRecorder, state: Any) -> PendingLoad | None:
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
        return PendingLoad(name, bool(prop.uselist), lazy, (), chain)
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
        return PendingLoad(None, None, False, links, column_load=column_load)
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

    They are attached to the Dialect and Session classes, so every engine and
    session in the process is covered, including the user's own; ``engine`` is
    accepted for symmetry and not needed.
    """
    global _installed
    if _installed:
        return
    event.listen(Dialect, "do_execute", _do_execute)
    event.listen(Dialect, "do_executemany", _do_executemany)
    event.listen(Dialect, "do_execute_no_params", _do_execute_no_params)
    event.listen(Dialect, "handle_error", _handle_error)
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
