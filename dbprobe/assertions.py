"""Statement capture for any engine and session: the public API on the user's own code.

::

    async with dbprobe.capture(engine) as cap:
        await service.list_programs(user_id)
    cap.count, cap.statements, cap.findings
    explained = await cap.explain(engine)  # plans, and the indexes they prove missing

    async with dbprobe.assert_max_queries(5):
        ...
    async with dbprobe.assert_no_n_plus_one():
        ...

The capture covers the current task and the tasks it starts inside the block;
other tasks' statements are never counted (see
:mod:`dbprobe.instrument.statements`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from dbprobe.instrument.explain import ExplainResult, StatementSamples, explain_samples
from dbprobe.instrument.indexes import DEFAULT_MIN_ROWS
from dbprobe.instrument.nplusone import (
    DEFAULT_THRESHOLD,
    find_n_plus_one,
    find_unused_eager_loads,
    is_missing_greenlet,
    missing_greenlet_finding,
)
from dbprobe.instrument.statements import StatementRecorder, count_statements, failed_load
from dbprobe.result.findings import Finding, FindingKind

__all__ = [
    "Capture",
    "CapturedStatement",
    "NPlusOneError",
    "QueryBudgetError",
    "assert_max_queries",
    "assert_no_n_plus_one",
    "capture",
]


@dataclass(frozen=True)
class CapturedStatement:
    """One query shape seen in a capture.

    Attributes:
        fingerprint: the statement with literals and parameters replaced by ``?``.
        sql: the first statement text seen with this fingerprint.
        executions: how many times it ran (an ``executemany`` counts once).
        distinct_parameters: how many different parameter sets it ran with.
        total_ms: time spent executing it.
        relationship: ``Model.attribute`` when SQLAlchemy issued it as a relationship load.
        lazy: whether that relationship load was lazy.
        location: ``path:line`` of the first frame outside SQLAlchemy and dbprobe.
    """

    fingerprint: str
    sql: str
    executions: int
    distinct_parameters: int
    total_ms: float
    relationship: str | None
    lazy: bool
    location: str | None


class Capture:
    """What ran inside ``async with capture(...)``; read it inside or after the block."""

    def __init__(self, recorder: StatementRecorder, threshold: int) -> None:
        self._recorder = recorder
        self._threshold = threshold
        self._extra: list[Finding] = []

    @property
    def count(self) -> int:
        """Statements executed (transaction control that dbprobe emits excluded)."""
        return self._recorder.count

    @property
    def statements(self) -> list[CapturedStatement]:
        return [
            CapturedStatement(
                s.fingerprint,
                s.sql,
                s.executions,
                len(s.parameter_keys),
                s.total_ns / 1e6,
                s.relationship,
                s.lazy,
                s.location,
            )
            for s in self._recorder.statements.values()
        ]

    @property
    def executed(self) -> list[str]:
        """Every statement's SQL text in execution order (up to the first thousand)."""
        return list(self._recorder.log or ())

    @property
    def findings(self) -> list[Finding]:
        """N+1 patterns, unused eager loads and MissingGreenlet lazy loads seen so far."""
        r = self._recorder
        return (
            find_n_plus_one(r.statements.values(), operation=None, threshold=self._threshold)
            + find_unused_eager_loads(
                r.eager_loaded(), r.reads, operation=None, locations=r.eager_locations
            )
            + self._extra
        )

    async def explain(
        self,
        engine: AsyncEngine,
        *,
        analyze: bool = False,
        min_rows: int = DEFAULT_MIN_ROWS,
        operation: str = "captured",
    ) -> ExplainResult:
        """Each distinct statement captured, explained once on ``engine`` (as ``--explain``).

        With the parameters it first ran with, in one transaction rolled back;
        ``analyze`` uses PostgreSQL's ``EXPLAIN (ANALYZE, BUFFERS)``. The plans
        name ``operation`` as their issuer; the findings are the index ones
        (``unindexed_foreign_key``, ``seq_scan``, ``sort_without_index``) on
        tables of ``min_rows`` rows or more. Call it after the block.
        """
        samples = StatementSamples()
        samples.add(operation, self._recorder.statements.values())
        return await explain_samples(engine, samples, min_rows=min_rows, analyze=analyze)

    def _note_missing_greenlet(self) -> None:
        self._extra.append(missing_greenlet_finding(failed_load(self._recorder), operation=None))


@asynccontextmanager
async def capture(
    engine: AsyncEngine | Engine | None = None, *, n_plus_one_threshold: int = DEFAULT_THRESHOLD
) -> AsyncIterator[Capture]:
    """Record every statement the enclosed code issues, on any engine.

    ``engine`` is optional: dbprobe's listeners cover every engine. A
    ``MissingGreenlet`` raised inside the block (a lazy load on attribute access
    under AsyncSession) is recorded as a finding naming the relationship, then
    re-raised.
    """
    with count_statements(detail=True, locations=True, log=True) as recorder:
        cap = Capture(recorder, n_plus_one_threshold)
        try:
            yield cap
        except Exception as exc:  # a MissingGreenlet, or an error raised from one
            if is_missing_greenlet(exc):
                cap._note_missing_greenlet()
            raise


def _listing(cap: Capture) -> str:
    return "\n".join(f"{i}. {sql}" for i, sql in enumerate(cap.executed, 1))


class QueryBudgetError(AssertionError):
    """Raised by :func:`assert_max_queries` when the block ran more statements than allowed."""

    def __init__(self, limit: int, cap: Capture) -> None:
        self.limit = limit
        self.count = cap.count
        super().__init__(
            f"Expected to perform {limit} queries or less but {cap.count} were done:\n\n"
            + _listing(cap)
        )


def _with_location(finding: Finding) -> str:
    where = finding.location
    return (
        f"{finding.message} (at {where})"
        if where and where not in finding.message
        else finding.message
    )


class NPlusOneError(AssertionError):
    """Raised by :func:`assert_no_n_plus_one` when the block has an N+1 pattern."""

    def __init__(self, findings: list[Finding], cap: Capture) -> None:
        self.findings = findings
        super().__init__(
            "\n".join(map(_with_location, findings)) + "\n\nStatements:\n" + _listing(cap)
        )


@asynccontextmanager
async def assert_max_queries(limit: int) -> AsyncIterator[Capture]:
    """Fail (QueryBudgetError) if the block issues more than ``limit`` statements."""
    async with capture() as cap:
        yield cap
    if cap.count > limit:
        raise QueryBudgetError(limit, cap)


@asynccontextmanager
async def assert_no_n_plus_one(*, threshold: int = DEFAULT_THRESHOLD) -> AsyncIterator[Capture]:
    """Fail (NPlusOneError) if the block runs one SELECT per row of another query."""
    async with capture(n_plus_one_threshold=threshold) as cap:
        yield cap
    found = [f for f in cap.findings if f.kind is FindingKind.N_PLUS_ONE]
    if found:
        raise NPlusOneError(found, cap)
