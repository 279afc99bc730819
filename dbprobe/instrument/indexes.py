"""Missing indexes proven by query plans: the ``--explain`` findings (pure).

Three kinds, each with the ``CREATE INDEX`` that resolves it:

- ``unindexed_foreign_key``: a foreign key whose columns lead no index, which
  a captured statement filters or joins on. Every lazy load of the child
  side of a relationship filters on it; without an index each one reads the
  whole child table: the hidden cost behind many N+1s.
- ``seq_scan``: a statement read a table by a sequential scan (PostgreSQL
  ``Seq Scan``, SQLite ``SCAN`` without an index) while filtering, joining
  or (with a LIMIT) ordering on a column no index leads, where an index on
  that column would serve;
- ``sort_without_index``: such a read for an ORDER BY ... LIMIT (a page),
  where the plan sorts what it read (PostgreSQL ``Sort``, SQLite ``USE TEMP
  B-TREE FOR ORDER BY``): every row is read and sorted to return the first
  few, which an index on the column would give in order.

What is kept out, so that a finding is worth acting on:

- tables below ``min_rows`` rows (default :data:`DEFAULT_MIN_ROWS`): a few
  pages read in full cost about what an index lookup does;
- statements that read the whole table anyway: no WHERE, ON or ORDER BY
  naming a column of it (``SELECT count(*) FROM t``), a join in a statement
  with no WHERE (whole tables joined), an ORDER BY without a LIMIT;
- columns an index already leads: the planner chose the scan knowing it;
- columns inside a function call or left of a LIKE (``lower(name) LIKE ...``):
  a plain index does not serve them;
- filters on a column with few distinct values: where one value picks more
  than :data:`MAX_MATCH_SHARE` of the rows on average (a boolean, a status),
  or where PostgreSQL's estimate for the scan says so, reading the table is
  what an index would end up doing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from dbprobe.instrument.plans import ColumnRef, StatementColumns
from dbprobe.result.findings import Finding, FindingKind, IndexEvidence, Severity
from dbprobe.result.options import DEFAULT_EXPLAIN_MIN_ROWS
from dbprobe.result.plans import StatementPlan

__all__ = [
    "DEFAULT_MIN_ROWS",
    "MAX_MATCH_SHARE",
    "ExplainedStatement",
    "ForeignKeyInfo",
    "TableInfo",
    "create_index_sql",
    "index_findings",
    "quote_identifier",
    "seq_scan_candidates",
]

#: Tables with fewer rows than this are never a finding.
DEFAULT_MIN_ROWS = DEFAULT_EXPLAIN_MIN_ROWS
#: An index serves a filter when one value matches at most this share of the rows.
MAX_MATCH_SHARE = 0.1
# PostgreSQL's identifiers are cut at 63 bytes (NAMEDATALEN - 1).
_MAX_NAME = 63


@dataclass(frozen=True)
class ForeignKeyInfo:
    """A foreign key: its columns, and the table and columns it refers to."""

    columns: tuple[str, ...]
    referred_table: str
    referred_columns: tuple[str, ...]


@dataclass(frozen=True)
class TableInfo:
    """What the inspector says of a table, and how many rows it held.

    ``indexes`` are the column lists of its indexes, primary key and unique
    constraints included: a lookup on their leading columns is served.
    """

    name: str
    schema: str | None
    rows: int
    columns: frozenset[str]
    indexes: tuple[tuple[str, ...], ...]
    foreign_keys: tuple[ForeignKeyInfo, ...]

    def indexed(self, columns: Sequence[str]) -> bool:
        """Whether an index leads with ``columns``."""
        n = len(columns)
        return any(tuple(index[:n]) == tuple(columns) for index in self.indexes)


@dataclass(frozen=True)
class ExplainedStatement:
    """A captured statement's plan and the columns its text searches by."""

    plan: StatementPlan
    columns: StatementColumns


def quote_identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier, the same on PostgreSQL and SQLite."""
    return '"' + name.replace('"', '""') + '"'


def create_index_sql(table: TableInfo, columns: Sequence[str]) -> str:
    """``CREATE INDEX`` on ``table(columns)``, identifiers quoted, the schema named if any.

    The name follows SQLAlchemy's ``ix_<table>_<column>`` convention, cut to
    PostgreSQL's 63 bytes.
    """
    name = f"ix_{table.name}_{'_'.join(columns)}".encode()[:_MAX_NAME].decode(errors="ignore")
    target = quote_identifier(table.name)
    if table.schema:
        target = f"{quote_identifier(table.schema)}.{target}"
    listed = ", ".join(quote_identifier(c) for c in columns)
    return f"CREATE INDEX {quote_identifier(name)} ON {target} ({listed})"


def _searched(statement: ExplainedStatement, table: str) -> tuple[ColumnRef, ...]:
    """The columns of ``table`` the statement looks rows up by, so that an index would serve.

    A join counts only in a statement that filters (a WHERE somewhere): a join
    of whole tables reads them whole, index or not. An ORDER BY counts only
    with a LIMIT: the index then gives the first rows in order.
    """
    columns = statement.columns
    filters = any(r.usage == "filter" for r in columns.refs)
    return tuple(
        r
        for r in columns.on(table)
        if r.usage == "filter"
        or (r.usage == "join" and filters)
        or (r.usage == "order" and columns.limit)
    )


def _reads(statement: ExplainedStatement, table: str) -> str:
    """How the statement's plan read ``table``: its nodes on it, on one line."""
    lines = [n.line().strip() for n in statement.plan.nodes if n.relation == table]
    return "; ".join(lines) or statement.plan.summary()


def _seq_scanned(statement: ExplainedStatement, table: TableInfo) -> tuple[float | None, ...]:
    """The row estimates of each sequential read of ``table`` in the plan (None: no estimate)."""
    return tuple(n.rows for n in statement.plan.nodes if n.seq_read and n.relation == table.name)


def seq_scan_candidates(
    statements: Iterable[ExplainedStatement], tables: Mapping[str, TableInfo], *, min_rows: int
) -> set[tuple[str, str]]:
    """(table, column) pairs whose distinct values decide a ``seq_scan`` finding.

    The I/O shell counts those (``COUNT(DISTINCT ...)``) and passes them to
    :func:`index_findings`; nothing else needs counting.
    """
    found = set()
    for statement in statements:
        for name in {n.relation for n in statement.plan.nodes if n.seq_read and n.relation}:
            table = tables.get(name)
            if table is None or table.rows < min_rows:
                continue
            for ref in _searched(statement, name):
                if ref.usage != "order" and not table.indexed((ref.column,)):
                    found.add((name, ref.column))
    return found


def _unindexed_foreign_keys(
    statements: Sequence[ExplainedStatement], tables: Mapping[str, TableInfo], min_rows: int
) -> tuple[list[Finding], set[tuple[str, str]]]:
    findings = []
    covered: set[tuple[str, str]] = set()
    for table in sorted(tables.values(), key=lambda t: t.name):
        if table.rows < min_rows:
            continue
        for fk in table.foreign_keys:
            if not fk.columns or table.indexed(fk.columns):
                continue
            using = [
                s
                for s in statements
                if any(
                    r.column == fk.columns[0] and r.usage != "order"
                    for r in _searched(s, table.name)
                )
            ]
            if not using:
                continue
            covered |= {(table.name, c) for c in fk.columns}
            column = ", ".join(f"{table.name}.{c}" for c in fk.columns)
            referred = ", ".join(f"{fk.referred_table}.{c}" for c in fk.referred_columns)
            sql = create_index_sql(table, fk.columns)
            plan = _reads(using[0], table.name)
            findings.append(
                Finding(
                    kind=FindingKind.UNINDEXED_FOREIGN_KEY,
                    severity=Severity.WARNING,
                    operation=using[0].plan.operations[0] if using[0].plan.operations else None,
                    message=(
                        f"unindexed foreign key: {column} (references {referred}) has no index, "
                        f"and {_statements(len(using), 'filter', 'join')} on it "
                        f"({table.name}: {table.rows:,} rows; plan: {plan}); "
                        f"create one: {sql}"
                    ),
                    evidence=IndexEvidence(
                        table=table.name,
                        columns=fk.columns,
                        rows=table.rows,
                        create_index=sql,
                        fingerprints=tuple(s.plan.fingerprint for s in using),
                        operations=_operations(using),
                        plan=plan,
                        references=referred,
                    ),
                )
            )
    return findings, covered


def _statements(n: int, *verbs: str) -> str:
    """``1 statement filters or joins``, ``2 statements filter or join``."""
    if n == 1:
        return "1 statement " + " or ".join(v + "s" for v in verbs)
    return f"{n} statements " + " or ".join(verbs)


def _operations(statements: Iterable[ExplainedStatement]) -> tuple[str, ...]:
    seen: dict[str, None] = {}
    for s in statements:
        seen.update(dict.fromkeys(s.plan.operations))
    return tuple(seen)


def _serves(
    table: TableInfo, usage: str, distinct: int | None, estimates: Sequence[float | None]
) -> bool:
    """Whether an index on the column would serve the statement rather than a full read."""
    if usage == "order":
        return True  # ORDER BY ... LIMIT: the index gives the first rows in order
    if distinct is None or distinct <= 0:
        return False
    if table.rows / distinct > MAX_MATCH_SHARE * table.rows:
        return False
    # PostgreSQL's own estimate of the rows the scan keeps, where it has one.
    known = [e for e in estimates if e is not None]
    return not known or min(known) <= MAX_MATCH_SHARE * table.rows


def index_findings(
    statements: Sequence[ExplainedStatement],
    tables: Mapping[str, TableInfo],
    distinct: Mapping[tuple[str, str], int],
    *,
    min_rows: int = DEFAULT_MIN_ROWS,
) -> list[Finding]:
    """The ``unindexed_foreign_key``, ``seq_scan`` and ``sort_without_index`` findings.

    ``distinct`` holds the distinct values of the columns
    :func:`seq_scan_candidates` named. A column reported as an unindexed
    foreign key is not reported again as a sequential scan: one index fixes both.
    """
    findings, covered = _unindexed_foreign_keys(statements, tables, min_rows)
    scans: dict[tuple[str, str], list[tuple[ExplainedStatement, str]]] = {}
    for statement in statements:
        for name in sorted({n.relation for n in statement.plan.nodes if n.seq_read and n.relation}):
            table = tables.get(name)
            if table is None or table.rows < min_rows:
                continue
            refs = [r for r in _searched(statement, name) if (name, r.column) not in covered]
            estimates = _seq_scanned(statement, table)
            best: tuple[int, str, str] | None = None
            for ref in refs:
                if table.indexed((ref.column,)):
                    continue
                count = distinct.get((name, ref.column))
                if _serves(table, ref.usage, count, estimates):
                    # Of several columns, the most selective one: a filter's ORDER BY
                    # column (usage order) ranks below any filter that serves.
                    rank = (count or 0) if ref.usage != "order" else -1
                    if best is None or rank > best[0]:
                        best = (rank, ref.column, ref.usage)
            if best is not None:
                scans.setdefault((name, best[1]), []).append((statement, best[2]))
    for (name, column), found in sorted(scans.items()):
        table = tables[name]
        using = [s for s, _ in found]
        sql = create_index_sql(table, (column,))
        plan = _reads(using[0], name)
        count = distinct.get((name, column))
        usage = found[0][1]
        values = f", {count:,} distinct values" if count else ""
        sorted_page = usage == "order" and any(s.plan.sorts for s in using)
        if sorted_page:
            # The sort is no node on the table: show the whole plan.
            plan = "; ".join(n.line().strip() for n in using[0].plan.nodes)
        what = (
            f"sort without index: {_statements(len(using), usage)} (with a LIMIT) on "
            f"{name}.{column} but read and sorted all {table.rows:,} rows of {name} "
            "for the first few"
            if sorted_page
            else f"sequential scan: {_statements(len(using), usage)}"
            f"{' (with a LIMIT)' if usage == 'order' else ''} on {name}.{column} "
            f"but read all {table.rows:,} rows of {name}"
        )
        findings.append(
            Finding(
                kind=FindingKind.SORT_WITHOUT_INDEX if sorted_page else FindingKind.SEQ_SCAN,
                severity=Severity.WARNING,
                operation=using[0].plan.operations[0] if using[0].plan.operations else None,
                message=f"{what} (plan: {plan}{values}); create an index: {sql}",
                evidence=IndexEvidence(
                    table=name,
                    columns=(column,),
                    rows=table.rows,
                    create_index=sql,
                    fingerprints=tuple(s.plan.fingerprint for s in using),
                    operations=_operations(using),
                    plan=plan,
                    distinct_values=count,
                ),
            )
        )
    return findings
