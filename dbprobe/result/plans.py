"""Query plans kept in a report: one compact plan per statement fingerprint (``--explain``).

A plan is the list of its nodes in depth-first order, each with its depth,
so that it reads as the database printed it without keeping the database's
own format: PostgreSQL's ``EXPLAIN (FORMAT JSON)`` and SQLite's ``EXPLAIN
QUERY PLAN`` rows both become :class:`PlanNode` records
(:mod:`dbprobe.instrument.plans` parses them). The parameters a statement was
explained with are not kept: they are the user's data.

Standard library only, as the rest of :mod:`dbprobe.result`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from dbprobe.result.record import Record

__all__ = ["PlanNode", "StatementPlan"]


@dataclass(frozen=True)
class PlanNode(Record):
    """One node of a plan.

    ``node_type``: PostgreSQL's node type (``Seq Scan``, ``Index Scan``,
    ``Hash Join``...) or the first word of SQLite's line (``SCAN``, ``SEARCH``,
    ``USE``...). ``relation`` is the table read (the real name, not the
    query's alias), ``index`` the index used, ``rows`` the planner's estimate
    (PostgreSQL only), ``detail`` the condition or SQLite's own line.
    ``seq_read``: the node reads every row of ``relation`` (a PostgreSQL
    ``Seq Scan``; a SQLite ``SCAN`` without an index, or a SEARCH through an
    automatic index SQLite builds for that one statement). With ``--explain
    analyze`` (PostgreSQL), ``actual_rows`` is what the node returned over all
    its loops and ``buffers`` the shared blocks it hit or read.
    """

    _OPTIONAL: ClassVar[frozenset[str]] = frozenset(
        {"relation", "index", "rows", "detail", "actual_rows", "buffers"}
    )

    depth: int
    node_type: str
    seq_read: bool = False
    relation: str | None = None
    index: str | None = None
    rows: float | None = None
    detail: str | None = None
    actual_rows: float | None = None
    buffers: int | None = None

    def line(self) -> str:
        """The node as one line, indented by its depth: ``Seq Scan on sessions (rows 270)``
        (with ``, actual 266, 12 buffers`` after an ``--explain analyze``).

        A SQLite node is SQLite's own line (``SEARCH sessions USING INDEX ...``).
        """
        if self.detail and self.detail.startswith(self.node_type + " ") and self.rows is None:
            return "  " * self.depth + self.detail
        text = self.node_type
        if self.relation:
            text += f" on {self.relation}"
        if self.index:
            text += f" using {self.index}"
        figures = []
        if self.rows is not None:
            figures.append(f"rows {self.rows:g}")
        if self.actual_rows is not None:
            figures.append(f"actual {self.actual_rows:g}")
        if self.buffers is not None:
            figures.append(f"{self.buffers:,} buffers")
        if figures:
            text += f" ({', '.join(figures)})"
        if self.detail:
            text += f" [{self.detail}]"
        return "  " * self.depth + text


@dataclass(frozen=True)
class StatementPlan(Record):
    """The plan of one statement fingerprint, explained once after the measured run.

    ``statement`` is the SQL explained (one execution's text, its parameters
    left out), ``operations`` the operations that issued it, ``error`` why it
    could not be explained (then ``nodes`` is empty), ``table_rows`` the rows
    of each table it reads, counted after the run (``(table, rows)`` pairs;
    absent from reports written before they were kept).
    """

    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"error", "table_rows"})

    fingerprint: str
    backend: str
    statement: str
    operations: tuple[str, ...]
    nodes: tuple[PlanNode, ...]
    error: str | None = None
    table_rows: tuple[tuple[str, int], ...] | None = None

    @property
    def relations(self) -> tuple[str, ...]:
        """The tables the plan reads, each once, in plan order."""
        return tuple(dict.fromkeys(n.relation for n in self.nodes if n.relation))

    @property
    def sorts(self) -> bool:
        """Whether the plan sorts rows itself: a PostgreSQL ``Sort`` or ``Incremental Sort``
        node, SQLite's ``USE TEMP B-TREE FOR ORDER BY``."""
        return any(
            n.node_type in ("Sort", "Incremental Sort")
            or (n.node_type == "USE" and "ORDER BY" in (n.detail or ""))
            for n in self.nodes
        )

    @property
    def indexes(self) -> tuple[str, ...]:
        """The indexes the plan reads, in plan order."""
        return tuple(n.index for n in self.nodes if n.index)

    def summary(self) -> str:
        """The nodes that read tables, on one line: ``Seq Scan on sessions; SEARCH movements``."""
        if self.error:
            return f"not explained: {self.error}"
        reads = [n.line().strip() for n in self.nodes if n.relation]
        return "; ".join(reads) if reads else "; ".join(n.line().strip() for n in self.nodes)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            fingerprint=str(data["fingerprint"]),
            backend=str(data["backend"]),
            statement=str(data["statement"]),
            operations=tuple(str(op) for op in data["operations"]),
            nodes=tuple(PlanNode.from_json(node) for node in data["nodes"]),
            error=str(data["error"]) if data.get("error") is not None else None,
        )
