"""The ids a table holds, for operations to pick rows that exist.

Ids are not dense 1..max(id). On PostgreSQL a rolled-back insert keeps the
sequence values it took ("nextval operations are never rolled back",
https://www.postgresql.org/docs/current/functions-sequence.html), so every
``create_program`` that rolled back leaves a gap; deleted rows leave holes
anywhere. Picking from 1..max(id) then asks for rows that are not there, and
the probe reports errors the database never made.

An :class:`IdSet` holds the ids as runs of consecutive ids (one run for a
table as seeded, so it costs nothing), and maps a draw of rank 1..count to
the id of that rank: on a dense table a seed picks exactly the ids
``rng.randint(1, max)`` picked. :func:`existing_ids` reads one from a table.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import accumulate

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import InstrumentedAttribute

__all__ = ["IdSet", "existing_ids"]


@dataclass(frozen=True)
class IdSet:
    """Ids as ascending, disjoint runs ``(first, last)``, both ends included.

    Raises ValueError for runs that are empty, out of order or overlapping.
    """

    runs: tuple[tuple[int, int], ...]
    # Ids in the runs up to and including each one: the rank of a run's last id.
    _ends: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        previous = None
        for first, last in self.runs:
            if last < first or (previous is not None and first <= previous):
                raise ValueError(f"id runs must be ascending and disjoint, got {self.runs}")
            previous = last
        ends = tuple(accumulate(last - first + 1 for first, last in self.runs))
        object.__setattr__(self, "_ends", ends)

    @classmethod
    def dense(cls, count: int) -> IdSet:
        """Ids 1..count (none when count < 1): a table as seeded."""
        return cls(((1, count),) if count >= 1 else ())

    @classmethod
    def of(cls, ids: Iterable[int]) -> IdSet:
        """The set of ``ids``, in any order, repeats ignored."""
        runs: list[tuple[int, int]] = []
        for i in sorted(set(ids)):
            if runs and runs[-1][1] == i - 1:
                runs[-1] = (runs[-1][0], i)
            else:
                runs.append((i, i))
        return cls(tuple(runs))

    @property
    def count(self) -> int:
        return self._ends[-1] if self._ends else 0

    def nth(self, rank: int) -> int:
        """The id of rank ``rank`` (1 for the smallest); IndexError outside 1..count."""
        if not 1 <= rank <= self.count:
            raise IndexError(f"rank {rank} is outside 1..{self.count}")
        run = bisect_left(self._ends, rank)
        before = self._ends[run - 1] if run else 0
        return self.runs[run][0] + rank - before - 1

    def pick(self, rng: random.Random) -> int:
        """One id, uniformly; the same draw as ``rng.randint(1, count)``."""
        if not self.count:
            raise LookupError("there are no ids to pick from")
        return self.nth(rng.randint(1, self.count))

    def sample(self, rng: random.Random, k: int) -> list[int]:
        """``k`` distinct ids; the same draws as ``rng.sample(range(1, count + 1), k)``."""
        return [self.nth(rank) for rank in rng.sample(range(1, self.count + 1), k)]

    def first(self, k: int) -> IdSet:
        """The ``k`` smallest ids."""
        return IdSet.of(self.nth(rank) for rank in range(1, min(k, self.count) + 1))


async def existing_ids(conn: AsyncConnection, column: InstrumentedAttribute[int]) -> IdSet:
    """The ids in ``column`` (an integer primary key): one aggregate when they are dense."""
    count, low, high = (
        await conn.execute(select(func.count(column), func.min(column), func.max(column)))
    ).one()
    if not count:
        return IdSet(())
    if high - low + 1 == count:
        return IdSet(((int(low), int(high)),))
    # Gaps and islands: consecutive ids share the same id - row_number().
    numbered = select(
        column.label("id"), (column - func.row_number().over(order_by=column)).label("island")
    ).subquery()
    rows = await conn.execute(
        select(func.min(numbered.c.id), func.max(numbered.c.id))
        .group_by(numbered.c.island)
        .order_by(func.min(numbered.c.id))
    )
    return IdSet(tuple((int(first), int(last)) for first, last in rows))
