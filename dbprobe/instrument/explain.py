"""``--explain``: each statement fingerprint a run captured, explained once after it.

While the run measures, :class:`StatementSamples` keeps the first execution
of each fingerprint (its SQL and parameters, as the driver received them)
and the operations that issued it. After the run, :func:`explain_samples`
explains each one with those parameters (PostgreSQL ``EXPLAIN (FORMAT
JSON)``, or with ``--explain analyze`` ``EXPLAIN (ANALYZE, BUFFERS, FORMAT
JSON)``; SQLite ``EXPLAIN QUERY PLAN``) inside a transaction that is rolled
back (EXPLAIN without ANALYZE executes nothing; with it, or for writes, the
rollback undoes what ran), reads the tables' foreign keys and indexes through
SQLAlchemy's inspector, counts rows, and hands it all to the pure decisions
of :mod:`dbprobe.instrument.indexes`. The I/O shell; nothing here decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from dbprobe.instrument.indexes import (
    DEFAULT_MIN_ROWS,
    ExplainedStatement,
    ForeignKeyInfo,
    TableInfo,
    index_findings,
    quote_identifier,
    seq_scan_candidates,
)
from dbprobe.instrument.plans import parse_postgres_plan, parse_sqlite_plan, statement_columns
from dbprobe.instrument.statements import StatementStats
from dbprobe.result.findings import Finding
from dbprobe.result.plans import StatementPlan

__all__ = ["ExplainResult", "StatementSample", "StatementSamples", "explain_samples"]

_WORD = re.compile(r"[\w$]+")
# Statements EXPLAIN takes; anything else (DDL, PRAGMA, SET) is not explained.
_EXPLAINABLE = ("SELECT", "WITH", "INSERT", "UPDATE", "DELETE")


@dataclass
class StatementSample:
    """One execution of a fingerprint: its SQL and parameters, and who issued it."""

    fingerprint: str
    statement: str
    parameters: Any
    operations: list[str] = field(default_factory=list)


class StatementSamples:
    """The first execution of every fingerprint of a run (one sample of parameters each),
    and how often each operation ran each (``executions[(operation, fingerprint)]``) over
    its ``committed[operation]`` committed attempts, warm-up included."""

    def __init__(self) -> None:
        self.samples: dict[str, StatementSample] = {}
        self.executions: dict[tuple[str, str], int] = {}
        self.committed: dict[str, int] = {}

    def add(self, operation: str, statements: Iterable[StatementStats]) -> None:
        """Note the statements of one committed attempt of ``operation``."""
        self.committed[operation] = self.committed.get(operation, 0) + 1
        for s in statements:
            key = (operation, s.fingerprint)
            self.executions[key] = self.executions.get(key, 0) + s.executions
            sample = self.samples.get(s.fingerprint)
            if sample is None:
                self.samples[s.fingerprint] = StatementSample(
                    s.fingerprint, s.sql, s.parameters, [operation]
                )
            elif operation not in sample.operations:
                sample.operations.append(operation)


@dataclass(frozen=True)
class ExplainResult:
    """The plans, in the order the statements were first seen, and what they prove."""

    plans: tuple[StatementPlan, ...]
    findings: tuple[Finding, ...]


def _inspect_tables(sync: Connection, words: frozenset[str]) -> dict[str, TableInfo]:
    """The tables of the connection's default schema that the statements name (``words``):
    columns, indexes, foreign keys. A user's database may hold hundreds of tables;
    only those named are reflected."""
    inspector = inspect(sync)
    schema = inspector.default_schema_name if sync.dialect.name == "postgresql" else None
    tables = {}
    for name in inspector.get_table_names():
        if name.lower() not in words:  # unquoted names fold case
            continue
        indexes = [
            tuple(str(c) for c in ix["column_names"] if c) for ix in inspector.get_indexes(name)
        ]
        pk = inspector.get_pk_constraint(name).get("constrained_columns") or []
        if pk:
            indexes.append(tuple(pk))
        for unique in inspector.get_unique_constraints(name):
            indexes.append(tuple(unique["column_names"]))
        fks = tuple(
            ForeignKeyInfo(
                tuple(fk["constrained_columns"]),
                str(fk["referred_table"]),
                tuple(fk["referred_columns"]),
            )
            for fk in inspector.get_foreign_keys(name)
        )
        columns = frozenset(str(c["name"]) for c in inspector.get_columns(name))
        tables[name] = TableInfo(name, schema, 0, columns, tuple(indexes), fks)
    return tables


async def _scalar(conn: AsyncConnection, sql: str) -> int:
    return int((await conn.exec_driver_sql(sql)).scalar_one() or 0)


async def _explain(
    conn: AsyncConnection, sample: StatementSample, aliases: Mapping[str, str], analyze: bool
) -> StatementPlan:
    postgres = conn.dialect.name == "postgresql"
    parameters = sample.parameters
    if isinstance(parameters, list):  # executemany: the first row's parameters
        parameters = parameters[0] if parameters else ()
    # SQLite has no EXPLAIN ANALYZE: its plan is the same either way.
    prefix = (
        ("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " if analyze else "EXPLAIN (FORMAT JSON) ")
        if postgres
        else "EXPLAIN QUERY PLAN "
    )
    plan = StatementPlan(
        fingerprint=sample.fingerprint,
        backend=conn.dialect.name,
        statement=sample.statement,
        operations=tuple(sample.operations),
        nodes=(),
    )
    if not sample.statement.lstrip().upper().startswith(_EXPLAINABLE):
        return replace(plan, error="not a query EXPLAIN takes")
    # A savepoint per statement: one that fails to explain (a statement the
    # driver rewrote) must not abort the transaction the others run in.
    savepoint = await conn.begin_nested()
    try:
        result = await conn.exec_driver_sql(prefix + sample.statement, parameters or ())
        rows = result.fetchall()
    except (DBAPIError, SQLAlchemyError) as exc:
        await savepoint.rollback()
        message = str(getattr(exc, "orig", exc) or exc).splitlines()[0][:200]
        return replace(plan, error=message)
    await savepoint.rollback()
    try:
        nodes = parse_postgres_plan(rows[0][0]) if postgres else parse_sqlite_plan(rows, aliases)
    except ValueError as exc:
        return replace(plan, error=str(exc))
    return replace(plan, nodes=nodes)


async def explain_samples(
    engine: AsyncEngine,
    samples: StatementSamples,
    *,
    min_rows: int = DEFAULT_MIN_ROWS,
    analyze: bool = False,
) -> ExplainResult:
    """Explain every sampled statement once; the plans and the index findings they prove.

    Everything runs in one transaction that is rolled back: nothing is
    written, whatever the statements were. ``analyze`` (PostgreSQL) runs each
    statement too, under ``EXPLAIN (ANALYZE, BUFFERS)``, for its actual rows
    and buffers: a write then changes rows inside that transaction only (a
    sequence it draws from still moves on, as for any rolled-back insert).
    """
    if not samples.samples:
        return ExplainResult((), ())
    async with engine.connect() as conn:
        await conn.begin()
        try:
            words = frozenset(
                w.lower() for s in samples.samples.values() for w in _WORD.findall(s.statement)
            )
            tables = await conn.run_sync(_inspect_tables, words)
            columns = {name: t.columns for name, t in tables.items()}
            explained = []
            for sample in samples.samples.values():
                searched = statement_columns(sample.statement, columns)
                plan = await _explain(conn, sample, searched.aliases, analyze)
                explained.append(ExplainedStatement(plan, searched))
            used = {n.relation for s in explained for n in s.plan.nodes if n.relation}
            used |= {a for s in explained for a in s.columns.aliases.values()}
            counted = {}
            for name in sorted(used & tables.keys()):
                rows = await _scalar(conn, f"SELECT COUNT(*) FROM {quote_identifier(name)}")
                counted[name] = replace(tables[name], rows=rows)
            q = quote_identifier
            distinct = {
                (name, column): await _scalar(
                    conn, f"SELECT COUNT(DISTINCT {q(column)}) FROM {q(name)}"
                )
                for name, column in sorted(
                    seq_scan_candidates(explained, counted, min_rows=min_rows)
                )
            }
        finally:
            await conn.rollback()
    findings = index_findings(explained, counted, distinct, min_rows=min_rows)
    plans = tuple(
        replace(
            s.plan,
            table_rows=tuple((t, counted[t].rows) for t in s.plan.relations if t in counted)
            or None,
        )
        for s in explained
    )
    return ExplainResult(plans, tuple(findings))
