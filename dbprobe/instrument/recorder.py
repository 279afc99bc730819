"""What one operation's statements were: the record the execution listeners fill in.

:mod:`dbprobe.instrument.statements` decides which recorders a statement
belongs to and calls them; this module only keeps the record (counts per
fingerprint, distinct parameters, relationship loads, locations, time).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from dbprobe.instrument.column_loads import ColumnLoad
from dbprobe.instrument.fingerprint import fingerprint, is_select
from dbprobe.instrument.location import user_location
from dbprobe.instrument.mapping import WriteOnlyLink

__all__ = ["FailedLoad", "PendingLoad", "StatementRecorder", "StatementStats"]

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
class PendingLoad:
    """What the ORM said of the statement it is about to send: the relationship it
    loads (lazily or not), the write-only links it reads, the columns it loads and why."""

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
    def of(cls, pending: PendingLoad | None, location: str | None) -> FailedLoad:
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
        "running",
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
        # The statement executing now (its stats, when it began, what the ORM said
        # of it), until it ends; a failure ends it in the error listener.
        self.running: tuple[StatementStats, int, PendingLoad | None] | None = None
        #: The capture that was current when this one began (they nest).
        self.parent: StatementRecorder | None = None

    def begin_statement(
        self, statement: str, parameters: Any, executemany: bool, pending: PendingLoad | None
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
        self.running = (stats, time.perf_counter_ns(), pending)

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

    def end_statement(self) -> None:
        if self.running is not None:
            stats, started, _ = self.running
            stats.total_ns += time.perf_counter_ns() - started
            self.running = None


def _parameter_key(parameters: Any) -> int:
    try:
        if isinstance(parameters, dict):
            return hash(tuple(sorted(parameters.items())))
        return hash(tuple(parameters) if isinstance(parameters, list) else parameters)
    except TypeError:
        return hash(repr(parameters))
