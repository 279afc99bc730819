"""The evidence of findings about query plans (``--explain``): indexes missing, plans changed,
cost that grows with the data (``--scales``).

Registered with their kinds in :data:`dbprobe.result.findings.EVIDENCE_TYPES`.
Standard library only, as the rest of :mod:`dbprobe.result`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from dbprobe.result.evidence import Evidence

__all__ = ["GrowthEvidence", "IndexEvidence", "PlanChangeEvidence"]


@dataclass(frozen=True)
class PlanChangeEvidence(Evidence):
    """A statement whose plan has another shape than in the baseline (``--explain`` on both).

    ``before``/``after`` summarise the two plans; ``new_full_reads`` are tables
    now read from end to end, ``lost_indexes`` indexes no longer used,
    ``new_sort`` a sort node that appeared.
    """

    fingerprint: str
    operations: tuple[str, ...]
    before: str
    after: str
    new_full_reads: tuple[str, ...]
    lost_indexes: tuple[str, ...]
    new_sort: bool

    @property
    def worse(self) -> bool:
        """A table now read end to end, an index lost or a sort gained."""
        return bool(self.new_full_reads or self.lost_indexes or self.new_sort)

    def describe(self) -> str:
        """``plan changed (read_program) (now sorts): SEARCH ... -> SCAN ...; statement: ...``."""
        what = []
        if self.new_full_reads:
            what.append("now reads " + ", ".join(self.new_full_reads) + " from end to end")
        if self.lost_indexes:
            what.append("no longer uses " + ", ".join(self.lost_indexes))
        if self.new_sort:
            what.append("now sorts")
        because = f" ({'; '.join(what)})" if what else ""
        return (
            f"plan changed ({', '.join(self.operations) or '?'}){because}: "
            f"{self.before} -> {self.after}; statement: {self.fingerprint}"
        )


@dataclass(frozen=True)
class IndexEvidence(Evidence):
    """An index the captured statements lack (``--explain``), and the SQL that creates it.

    ``table``/``columns`` are what to index, ``rows`` the table's rows when it
    was explained, ``create_index`` the statement that resolves the finding
    (quoted identifiers; schema-qualified on PostgreSQL), runnable as written.
    ``fingerprints`` are the statements that filter, join or order on the
    columns, issued by ``operations``; ``plan`` how the first of them read the
    table. ``references`` is the key a foreign key points at
    (``unindexed_foreign_key``); ``distinct_values`` the column's distinct
    values, which made an index worth having (``seq_scan``).
    """

    _OPTIONAL: ClassVar[frozenset[str]] = frozenset({"references", "distinct_values"})

    table: str
    columns: tuple[str, ...]
    rows: int
    create_index: str
    fingerprints: tuple[str, ...]
    operations: tuple[str, ...]
    plan: str
    references: str | None = None
    distinct_values: int | None = None


@dataclass(frozen=True)
class GrowthEvidence(Evidence):
    """An operation whose latency grows with the rows it reads (``--scales``).

    ``table`` is the largest table its statements read, ``scales``/``rows``/
    ``p50_ms`` the medians of its rounds' p50 at each scale, ``exponent`` the
    fitted power of the rows with its interval ``low``..``high``, ``growth``
    the name the interval gives (``linear``, ``worse than linear``), and
    ``plan`` how its statements read that table at the largest scale.
    """

    table: str
    scales: tuple[str, ...]
    rows: tuple[int, ...]
    p50_ms: tuple[float, ...]
    exponent: float
    low: float
    high: float
    growth: str
    plan: str
