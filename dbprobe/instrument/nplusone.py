"""N+1 and unused-eager-load detection over one operation's statements (pure).

An N+1 is the same SELECT fingerprint run at least ``threshold`` times with
different parameters within one operation. Statements SQLAlchemy issued as an
*eager* load (selectinload chunks) and ``executemany`` calls (bulk inserts)
never count. Where SQLAlchemy said which relationship a lazy load served, the
finding names it and the loader option that fixes it, as Bullet does for
Rails; where SQLAlchemy loaded columns of rows it had loaded already (deferred
columns, a joined-inheritance subclass's own columns, rows a commit expired),
it names the columns and the fix for that cause; where a write-only
relationship's ``select()`` matches, it names that; otherwise it shows the
statement and the code location that issued it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import exc as sa_exc

from dbprobe.instrument.column_loads import (
    ColumnLoad,
    ColumnLoadCause,
    column_load_fix,
    column_load_what,
)
from dbprobe.instrument.mapping import WriteOnlyLink
from dbprobe.instrument.statements import FailedLoad, StatementStats
from dbprobe.result.findings import (
    Finding,
    FindingKind,
    MissingGreenletEvidence,
    NPlusOneEvidence,
    Severity,
    TalliedEvidence,
    UnusedEagerLoadEvidence,
)
from dbprobe.result.options import DEFAULT_N_PLUS_ONE_THRESHOLD

__all__ = [
    "DEFAULT_THRESHOLD",
    "FindingTally",
    "find_n_plus_one",
    "find_unused_eager_loads",
    "is_missing_greenlet",
    "missing_greenlet_finding",
]

DEFAULT_THRESHOLD = DEFAULT_N_PLUS_ONE_THRESHOLD


def _loader(name: str, collection: bool) -> str:
    return f"{'selectinload' if collection else 'joinedload'}({name})"


def _fix_for_lazy(stats: StatementStats) -> str:
    """The loader option that, on the query whose rows started the lazy loads, removes them.

    A lazy load inside lazy loads needs the whole path from that query's entity
    (an option naming only the inner relationship does not apply to it:
    ``ArgumentError``); a tree walked level by level needs the depth, since
    selectinload alone loads one level and leaves the rest lazy.
    """
    chain = stats.chain
    if len(chain) > 1 and all(link == chain[0] for link in chain):
        return f".options(selectinload({stats.relationship}, recursion_depth={len(chain)}))"
    if len(chain) > 1:
        return ".options(" + ".".join(_loader(name, many) for name, many in chain) + ")"
    return f".options({_loader(str(stats.relationship), bool(stats.collection))})"


def _matching_link(stats: StatementStats) -> WriteOnlyLink | None:
    for link in stats.write_only:
        column = f"{link.table}.{link.column}"
        # with_parent() renders the parent's key on the left: "? = notes.author_id"
        if f"{column} = ?" in stats.fingerprint or f"? = {column}" in stats.fingerprint:
            return link
    return None


# A paged query: its rows move with an OFFSET parameter (literal pages fingerprint the same).
_PAGED = re.compile(r"\bOFFSET \?", re.IGNORECASE)


def find_n_plus_one(
    statements: Iterable[StatementStats],
    *,
    operation: str | None,
    threshold: int = DEFAULT_THRESHOLD,
) -> list[Finding]:
    findings = []
    where = f"one {operation}" if operation else "one block"
    for s in statements:
        if not s.is_select or s.executemany or (s.relationship and not s.lazy):
            continue
        distinct = len(s.parameter_keys)
        if s.executions < threshold or distinct < threshold:
            continue
        link = _matching_link(s) if s.relationship is None else None
        column_load = s.column_load if s.relationship is None else None
        if s.relationship is not None:
            relationship = s.relationship
            suggestion = _fix_for_lazy(s)
            kind = "collection" if s.collection else "many-to-one"
            message = (
                f"N+1: {relationship} ({kind}) lazy-loaded {s.executions} times in {where}; "
                f"load it with its parent: {suggestion}"
            )
        elif column_load is not None:
            relationship = None
            suggestion = column_load_fix(column_load)
            at = f" at {s.location}" if s.location else ""
            message = (
                f"N+1: {column_load_what(column_load)} loaded {s.executions} times, one row at "
                f"a time, in {where}{at}: {s.fingerprint}; {_column_advice(column_load)}"
            )
        elif link is not None:
            relationship = link.relationship
            suggestion = f"select({link.target}).where({link.target}.{link.column}.in_(parent_ids))"
            loader = "write-only" if link.loader == "write_only" else 'dynamic (lazy="dynamic")'
            message = (
                f"N+1: {loader} {relationship} queried {s.executions} times in {where}, once per "
                f"parent; query the children of all parents at once: {suggestion}"
            )
        elif _PAGED.search(s.fingerprint):
            # Page after page of one query: not one row per parent, and no IN
            # list fixes it; each OFFSET page re-reads every row before it.
            relationship = None
            suggestion = (
                "page by key instead of OFFSET (WHERE key > :last_key ORDER BY key LIMIT n), "
                "or fetch one larger page"
            )
            at = f" at {s.location}" if s.location else ""
            message = (
                f"N+1 (pagination): the same LIMIT/OFFSET SELECT ran {s.executions} times, "
                f"{distinct} pages, in {where}{at}: {s.fingerprint}; {suggestion}"
            )
        else:
            relationship = None
            suggestion = "fetch these rows in one query (WHERE ... IN the ids) outside the loop"
            at = f" at {s.location}" if s.location else ""
            message = (
                f"N+1: the same SELECT ran {s.executions} times with {distinct} different "
                f"parameter sets in {where}{at}: {s.fingerprint}; {suggestion}"
            )
        findings.append(
            Finding(
                kind=FindingKind.N_PLUS_ONE,
                severity=Severity.WARNING,
                operation=operation,
                message=message,
                evidence=NPlusOneEvidence(
                    fingerprint=s.fingerprint,
                    executions=s.executions,
                    distinct_parameters=distinct,
                    relationship=relationship,
                    suggestion=suggestion,
                    location=s.location,
                    time_ms=round(s.total_ns / 1e6, 3),
                    columns=column_load.columns if column_load is not None else None,
                    column_load=str(column_load.cause) if column_load is not None else None,
                ),
            )
        )
    return findings


def _column_advice(load: ColumnLoad) -> str:
    """What to do about column loads one row at a time, by their cause."""
    fix = column_load_fix(load)
    if load.cause is ColumnLoadCause.DEFERRED:
        them = "them" if len(load.columns) > 1 else "it"
        example = load.columns[0]
        if load.by_defer_option:
            return f"the query deferred {them} by name: {fix}"
        return (
            f"load {them} with the rows: {fix}; to find every such load, make it raise: "
            f"defer({example}, raiseload=True) on the query, or deferred_raiseload=True on "
            "the mapping"
        )
    if load.cause is ColumnLoadCause.SUBCLASS:
        return (
            f"load them with the rows: {fix} (one more SELECT for all {load.entity} rows), "
            f"or select(with_polymorphic({load.base}, [{load.entity}])) (one JOINed SELECT)"
        )
    return (
        "a commit expires every object while the session's expire_on_commit is True (the "
        f"default): create the session with {fix} (AsyncSession or async_sessionmaker), or "
        "re-select the rows in one query (WHERE ... IN the ids) after the commit"
    )


def find_unused_eager_loads(
    eager: Mapping[str, str],
    reads: Iterable[str],
    *,
    operation: str | None,
    locations: Mapping[str, str] | None = None,
) -> list[Finding]:
    """Eager-loaded relationships the operation never read: rows fetched for nothing.

    ``eager`` maps each relationship to the eager strategy its mapping sets
    (``""`` when a loader option asked for it): an option can be dropped, a
    mapping's eager load must be turned off for the query with ``lazyload()``.
    ``locations`` maps a relationship to the user's line whose query loaded it.
    """
    read = set(reads)
    where = f"in {operation}" if operation else "in this block"
    findings = []
    for rel in sorted(set(eager) - read):
        mapped = eager[rel]
        if mapped:
            fix = f".options(lazyload({rel}))"
            advice = (
                f'it is eager on its mapping (relationship(lazy="{mapped}")), not by an option: '
                f"turn it off for this query with {fix} (or noload()/raiseload())"
            )
        else:
            fix = f"remove the loader option for {rel}"
            advice = "drop its selectinload/joinedload option"
        location = (locations or {}).get(rel)
        at = f" at {location}" if location else ""
        findings.append(
            Finding(
                kind=FindingKind.UNUSED_EAGER_LOAD,
                severity=Severity.INFO,
                operation=operation,
                message=f"unused eager load: {rel} was loaded eagerly{at} but never read {where}; "
                + advice,
                evidence=UnusedEagerLoadEvidence(
                    relationship=rel, suggestion=fix, location=location
                ),
            )
        )
    return findings


def is_missing_greenlet(exc: BaseException) -> bool:
    """A lazy load on attribute access under AsyncSession, however it reached the caller.

    aiosqlite wraps it in StatementError (``orig``); a serializer that read the
    attribute (pydantic's ``model_validate`` in a FastAPI response) raises its own
    error from it (``__cause__``/``__context__``); a task group gathers it into
    an exception group.
    """
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, sa_exc.MissingGreenlet):
            return True
        linked = [getattr(current, "orig", None), current.__cause__, current.__context__]
        linked += list(getattr(current, "exceptions", ()) or ())
        pending += [e for e in linked if isinstance(e, BaseException)]
    return False


def missing_greenlet_finding(failed: FailedLoad | None, *, operation: str | None) -> Finding:
    """The finding for a MissingGreenlet, naming what the failed statement was loading.

    ``failed`` is the failed statement's own label (a relationship, or columns
    and why they were missing), never an earlier statement's.
    """
    relationship = failed.relationship if failed is not None else None
    column_load = failed.column_load if failed is not None else None
    if relationship:
        what = f"lazy load of {relationship}"
        attr = relationship.split(".")[-1]
        fix = f".options(selectinload({relationship})) or `await obj.awaitable_attrs.{attr}`"
    elif column_load is not None:
        what = f"load of {column_load_what(column_load)}"
        attr = column_load.columns[0].split(".")[-1]
        first = column_load_fix(column_load)
        if column_load.cause is ColumnLoadCause.EXPIRED:
            first = f"{first} on the session"
        fix = f"{first} or `await obj.awaitable_attrs.{attr}`"
    else:
        what, fix = "a lazy load", "an eager loader option or awaitable_attrs"
    at = f" at {failed.location}" if failed is not None and failed.location else ""
    return Finding(
        kind=FindingKind.MISSING_GREENLET,
        severity=Severity.ERROR,
        operation=operation,
        message=(
            f"{what} ran outside SQLAlchemy's async context (MissingGreenlet){at}: an "
            f"AsyncSession cannot load lazily on attribute access; use {fix}"
        ),
        evidence=MissingGreenletEvidence(
            relationship=relationship,
            suggestion=fix,
            columns=column_load.columns if column_load is not None else None,
            column_load=str(column_load.cause) if column_load is not None else None,
            location=failed.location if failed is not None else None,
        ),
    )


@dataclass
class _Seen:
    finding: Finding
    occurrences: int = 1
    max_executions: int = 0


class FindingTally:
    """Findings of many executions of one operation, each counted once with its frequency."""

    def __init__(self) -> None:
        self._seen: dict[tuple[FindingKind, str], _Seen] = {}
        self.executions = 0

    def add(self, findings: Iterable[Finding], *, execution: bool = True) -> None:
        """Add the findings of one execution (``execution=False``: of a failed attempt)."""
        self.executions += int(execution)
        for f in findings:
            evidence = f.evidence
            assert isinstance(evidence, TalliedEvidence)
            key = (f.kind, evidence.pattern)
            runs = evidence.executions if isinstance(evidence, NPlusOneEvidence) else 0
            seen = self._seen.get(key)
            if seen is None:
                self._seen[key] = _Seen(f, 1, runs)
            else:
                seen.occurrences += 1
                seen.max_executions = max(seen.max_executions, runs)

    def findings(self) -> list[Finding]:
        return [
            seen.finding.tallied(seen.occurrences, self.executions, seen.max_executions)
            for seen in self._seen.values()
        ]
