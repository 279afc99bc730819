"""N+1 and unused-eager-load detection over one operation's statements (pure).

An N+1 is the same SELECT fingerprint run at least ``threshold`` times with
different parameters within one operation. Statements SQLAlchemy issued as an
*eager* load (selectinload chunks) and ``executemany`` calls (bulk inserts)
never count. Where SQLAlchemy said which relationship a lazy load served, the
finding names it and the loader option that fixes it, as Bullet does for
Rails; where a write-only relationship's ``select()`` matches, it names that;
otherwise it shows the statement and the code location that issued it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import exc as sa_exc

from dbprobe.instrument.statements import StatementStats, WriteOnlyLink
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


def _fix_for_lazy(stats: StatementStats) -> str:
    option = "selectinload" if stats.collection else "joinedload"
    return f".options({option}({stats.relationship}))"


def _matching_link(stats: StatementStats) -> WriteOnlyLink | None:
    for link in stats.write_only:
        column = f"{link.table}.{link.column}"
        # with_parent() renders the parent's key on the left: "? = notes.author_id"
        if f"{column} = ?" in stats.fingerprint or f"? = {column}" in stats.fingerprint:
            return link
    return None


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
        if s.relationship is not None:
            relationship = s.relationship
            suggestion = _fix_for_lazy(s)
            kind = "collection" if s.collection else "many-to-one"
            message = (
                f"N+1: {relationship} ({kind}) lazy-loaded {s.executions} times in {where}; "
                f"load it with its parent: {suggestion}"
            )
        elif link is not None:
            relationship = link.relationship
            suggestion = f"select({link.target}).where({link.target}.{link.column}.in_(parent_ids))"
            message = (
                f"N+1: write-only {relationship} queried {s.executions} times in {where}, once per "
                f"parent; query the children of all parents at once: {suggestion}"
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
                ),
            )
        )
    return findings


def find_unused_eager_loads(
    eager: Iterable[str], reads: Iterable[str], *, operation: str | None
) -> list[Finding]:
    """Eager-loaded relationships the operation never read: rows fetched for nothing."""
    read = set(reads)
    where = f"in {operation}" if operation else "in this block"
    return [
        Finding(
            kind=FindingKind.UNUSED_EAGER_LOAD,
            severity=Severity.INFO,
            operation=operation,
            message=(
                f"unused eager load: {rel} was loaded eagerly but never read {where}; "
                f"drop its selectinload/joinedload option"
            ),
            evidence=UnusedEagerLoadEvidence(
                relationship=rel, suggestion=f"remove the loader option for {rel}"
            ),
        )
        for rel in sorted(set(eager) - read)
    ]


def is_missing_greenlet(exc: BaseException) -> bool:
    """A lazy load on attribute access under AsyncSession (aiosqlite wraps it in StatementError)."""
    orig = getattr(exc, "orig", None)
    return isinstance(exc, sa_exc.MissingGreenlet) or isinstance(orig, sa_exc.MissingGreenlet)


def missing_greenlet_finding(relationship: str | None, *, operation: str | None) -> Finding:
    """The finding for a MissingGreenlet, naming the relationship SQLAlchemy was loading."""
    if relationship:
        what = f"lazy load of {relationship}"
        attr = relationship.split(".")[-1]
        fix = f".options(selectinload({relationship})) or `await obj.awaitable_attrs.{attr}`"
    else:
        what, fix = "a lazy load", "an eager loader option or awaitable_attrs"
    return Finding(
        kind=FindingKind.MISSING_GREENLET,
        severity=Severity.ERROR,
        operation=operation,
        message=(
            f"{what} ran outside SQLAlchemy's async context (MissingGreenlet): an "
            f"AsyncSession cannot load lazily on attribute access; use {fix}"
        ),
        evidence=MissingGreenletEvidence(relationship=relationship, suggestion=fix),
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
