"""Query plans and the columns a statement filters on, read from text (pure).

:func:`parse_postgres_plan` turns PostgreSQL's ``EXPLAIN (FORMAT JSON)``
output and :func:`parse_sqlite_plan` SQLite's ``EXPLAIN QUERY PLAN`` rows
into :class:`~dbprobe.result.plans.PlanNode` records. SQLite's plan does not
say which column a scan filters on, and PostgreSQL's says it in expression
text, so :func:`statement_columns` reads the columns a statement filters,
joins or orders on from the SQL itself: the same answer on both backends,
from the statement SQLAlchemy rendered (columns qualified by their table or
alias) or a hand-written one on a single table.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from dbprobe.instrument.fingerprint import fingerprint
from dbprobe.result.plans import PlanNode

__all__ = [
    "ColumnRef",
    "StatementColumns",
    "parse_postgres_plan",
    "parse_sqlite_plan",
    "statement_columns",
]

# The conditions of a PostgreSQL node that name the columns it filters or joins on.
_PG_CONDITIONS = ("Index Cond", "Recheck Cond", "Filter", "Hash Cond", "Merge Cond", "Join Filter")
# A condition is kept to this many characters: an IN list of a thousand ids
# says nothing more than its first few.
_MAX_CONDITION = 160


def _condition(text: str) -> str:
    """A node's condition with its values as ``?``: they are the user's data (an email, a
    name), and the shape is what tells one plan from another."""
    text = fingerprint(text)
    return text if len(text) <= _MAX_CONDITION else text[: _MAX_CONDITION - 1] + "…"


def parse_postgres_plan(explained: Any) -> tuple[PlanNode, ...]:
    """The nodes of ``EXPLAIN (FORMAT JSON)`` output (the JSON text or its parsed list),
    with their actual rows and buffers when it was ``EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)``.

    Raises ValueError when it is not such output.
    """
    data = json.loads(explained) if isinstance(explained, str | bytes) else explained
    try:
        root = data[0]["Plan"]
    except (KeyError, IndexError, TypeError):
        raise ValueError("not the output of EXPLAIN (FORMAT JSON)") from None
    nodes: list[PlanNode] = []

    def walk(node: Mapping[str, Any], depth: int) -> None:
        node_type = str(node["Node Type"])
        if node_type == "ModifyTable":  # the write itself: Insert, Update, Delete
            node_type = str(node.get("Operation", node_type))
        parts = [f"{key}: {_condition(str(node[key]))}" for key in _PG_CONDITIONS if node.get(key)]
        if node.get("Sort Key"):
            parts.append("Sort Key: " + ", ".join(str(k) for k in node["Sort Key"]))
        rows = node.get("Plan Rows")
        # EXPLAIN ANALYZE: "Actual Rows" is per loop; "Never Executed" nodes have loops 0.
        actual = node.get("Actual Rows")
        loops = node.get("Actual Loops", 1)
        blocks = [node.get(k) for k in ("Shared Hit Blocks", "Shared Read Blocks")]
        nodes.append(
            PlanNode(
                depth=depth,
                node_type=node_type,
                seq_read=node_type == "Seq Scan",
                relation=node.get("Relation Name"),
                index=node.get("Index Name"),
                rows=float(rows) if rows is not None else None,
                detail="; ".join(parts) or None,
                actual_rows=float(actual) * float(loops) if actual is not None else None,
                buffers=sum(int(b) for b in blocks if b is not None)
                if any(b is not None for b in blocks)
                else None,
            )
        )
        for child in node.get("Plans", ()):
            walk(child, depth + 1)

    walk(root, 0)
    return tuple(nodes)


# SQLite 3.36+ writes "SCAN t", older releases "SCAN TABLE t AS a"; a query's
# alias stands in for the table ("SCAN sessions_1").
_SQLITE_READ = re.compile(
    r"^(?P<verb>SCAN|SEARCH)\s+(?:TABLE\s+)?(?P<name>[\w$]+)(?:\s+AS\s+(?P<alias>[\w$]+))?"
    r"(?P<rest>.*)$"
)
_SQLITE_INDEX = re.compile(r"USING\s+(?:COVERING\s+)?INDEX\s+([\w$]+)")
# An automatic index is built for one statement and dropped after it: SQLite's
# sign that an index is missing (https://sqlite.org/optoverview.html#autoindex).
_SQLITE_AUTOMATIC = re.compile(r"USING\s+AUTOMATIC\s+")


def parse_sqlite_plan(
    rows: Iterable[Sequence[Any]], aliases: Mapping[str, str] | None = None
) -> tuple[PlanNode, ...]:
    """The nodes of ``EXPLAIN QUERY PLAN`` rows ``(id, parent, notused, detail)``.

    ``aliases`` maps the statement's table aliases to tables
    (:attr:`StatementColumns.aliases`), so that a node names the real table.
    """
    aliases = aliases or {}
    depths: dict[int, int] = {}
    nodes: list[PlanNode] = []
    for row in rows:
        node_id, parent, detail = int(row[0]), int(row[1]), str(row[3])
        depth = depths[parent] + 1 if parent in depths else 0
        depths[node_id] = depth
        read = _SQLITE_READ.match(detail)
        if read is None:
            nodes.append(PlanNode(depth=depth, node_type=detail.split(" ", 1)[0], detail=detail))
            continue
        name = read["alias"] or read["name"]
        relation = aliases.get(name, read["name"])
        index = _SQLITE_INDEX.search(read["rest"])
        automatic = _SQLITE_AUTOMATIC.search(read["rest"]) is not None
        verb = read["verb"]
        nodes.append(
            PlanNode(
                depth=depth,
                node_type=verb,
                seq_read=automatic or (verb == "SCAN" and index is None),
                relation=relation,
                index=index[1] if index and not automatic else None,
                detail=detail,
            )
        )
    return tuple(nodes)


Usage = Literal["filter", "join", "order"]


@dataclass(frozen=True)
class ColumnRef:
    """A column a statement filters (WHERE), joins (ON) or orders (ORDER BY) on."""

    table: str
    column: str
    usage: Usage


@dataclass(frozen=True)
class StatementColumns:
    """What a statement's text says: its tables by alias, and the columns it searches by.

    ``limit``: the statement has a LIMIT (an index on its ORDER BY column
    serves it even when every row matches).
    """

    aliases: Mapping[str, str]
    refs: frozenset[ColumnRef]
    limit: bool

    def on(self, table: str) -> tuple[ColumnRef, ...]:
        """The references to columns of ``table``, sorted."""
        found = (r for r in self.refs if r.table == table)
        return tuple(sorted(found, key=lambda r: (r.column, r.usage)))


_KEYWORDS = frozenset(
    """where on join left right inner outer full cross order group limit offset set values
    returning for union having using as select from natural lateral window""".split()
)
_NAME = r'"?([A-Za-z_][\w$]*)"?'
# A table after FROM, JOIN, UPDATE, INTO or a comma, with its alias (never a
# keyword: "FROM movements WHERE" has none).
_NOT_KEYWORD = rf"(?!(?:{'|'.join(sorted(_KEYWORDS))})\b)"
_TABLE = re.compile(
    rf"(?:\b(?:FROM|JOIN|UPDATE|INTO)\s+|,\s*)(?:{_NAME}\.)?{_NAME}"
    rf"(?:\s+(?:AS\s+)?{_NOT_KEYWORD}{_NAME})?",
    re.IGNORECASE,
)
_QUALIFIED = re.compile(rf'(?<![\w."$]){_NAME}\.{_NAME}')
_CLAUSE = re.compile(
    r"\b(SELECT|FROM|WHERE|ON|ORDER\s+BY|GROUP\s+BY|HAVING|SET|VALUES|RETURNING|LIMIT|OFFSET)\b",
    re.IGNORECASE,
)
_USAGES: Mapping[str, Usage] = {
    "where": "filter",
    "having": "filter",
    "on": "join",
    "order": "order",
}
# An argument of a function (lower(t.name)) or the left side of a LIKE: a
# plain index on the column does not serve it.
_IN_FUNCTION = re.compile(r"\w\s*\(\s*$")
_LIKE = re.compile(r"^\s*(?:NOT\s+)?I?LIKE\b", re.IGNORECASE)
_STRING = re.compile(r"'(?:[^']|'')*'")
_LIMIT = re.compile(r"\bLIMIT\b", re.IGNORECASE)


def statement_columns(sql: str, tables: Mapping[str, Iterable[str]]) -> StatementColumns:
    """The columns ``sql`` filters, joins or orders on, among ``tables`` (name -> columns).

    A column counts where it appears in a WHERE, HAVING, ON or ORDER BY
    clause, qualified by its table or alias; unqualified only in a statement
    on one table. Columns inside a function call or left of a LIKE are left
    out: an index on the column would not serve them.
    """
    text = _STRING.sub("''", sql)  # a literal never names a column
    columns = {name: frozenset(cols) for name, cols in tables.items()}
    aliases: dict[str, str] = {}
    for match in _TABLE.finditer(text):
        table, alias = match[2], match[3]
        if table not in columns:
            continue
        aliases.setdefault(table, table)
        if alias:
            aliases[alias] = table
    clauses = [(m.start(), m[1].split()[0].lower()) for m in _CLAUSE.finditer(text)]

    def usage_at(pos: int) -> Usage | None:
        last = None
        for start, keyword in clauses:
            if start >= pos:
                break
            last = keyword
        return _USAGES.get(last or "")

    def searchable(start: int, end: int) -> bool:
        return not _IN_FUNCTION.search(text[:start]) and not _LIKE.match(text[end:])

    refs: set[ColumnRef] = set()
    for match in _QUALIFIED.finditer(text):
        table = aliases.get(match[1])
        usage = usage_at(match.start())
        if table is None or usage is None or match[2] not in columns[table]:
            continue
        if searchable(match.start(), match.end()):
            refs.add(ColumnRef(table, match[2], usage))
    only = set(aliases.values())
    if len(only) == 1:
        (table,) = only
        bare = re.compile(rf'(?<![\w."$:]){_NAME}(?![\w"$.(])')
        for match in bare.finditer(text):
            usage = usage_at(match.start())
            if usage is not None and match[1] in columns[table]:
                if searchable(match.start(), match.end()):
                    refs.add(ColumnRef(table, match[1], usage))
    return StatementColumns(aliases, frozenset(refs), _LIMIT.search(text) is not None)
