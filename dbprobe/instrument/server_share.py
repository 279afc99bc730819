"""How much of each operation's time the server spent executing its statements.

PostgreSQL's ``pg_stat_statements`` sums each statement's execution time
(``total_exec_time``) by query id, whoever ran it. Read before and after a
run, the difference is what this run's statements cost the server: each
statement's mean execution time over its calls, times how often an
operation issued it, is that operation's server time. Statements are matched
by fingerprint: the server's normalised text and the text dbprobe captured
fingerprint alike, both being the statement as sent, with ``$1``, ``$2``....

Pure logic: the reading is :mod:`dbprobe.instrument.server_time`'s.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from dbprobe.instrument.fingerprint import fingerprint

__all__ = ["StatementTime", "server_ms_by_operation"]


@dataclass(frozen=True)
class StatementTime:
    """One row of ``pg_stat_statements``: the statement's text, calls and execution time."""

    query: str
    calls: int
    exec_ms: float


def server_ms_by_operation(
    before: Mapping[int, StatementTime],
    after: Mapping[int, StatementTime],
    executions: Mapping[tuple[str, str], int],
    committed: Mapping[str, int],
) -> dict[str, float]:
    """Mean server execution time (ms) per committed operation, from two readings.

    ``before``/``after`` are ``pg_stat_statements`` by query id; ``executions``
    how often each operation ran each statement fingerprint, ``(operation,
    fingerprint) -> n``, over its ``committed`` attempts. Each statement costs
    its mean over the calls between the readings (the warm-up's, another
    client's of the same statement: the mean is the same statement's); an
    operation none of whose statements was read gets no entry.
    """
    spent: dict[str, float] = defaultdict(float)
    calls: dict[str, int] = defaultdict(int)
    for query_id, now in after.items():
        then = before.get(query_id)
        n = now.calls - (then.calls if then is not None else 0)
        if n <= 0:
            continue
        fp = fingerprint(now.query)
        spent[fp] += now.exec_ms - (then.exec_ms if then is not None else 0.0)
        calls[fp] += n
    total: dict[str, float] = defaultdict(float)
    for (operation, fp), n in executions.items():
        if n > 0 and calls.get(fp):
            total[operation] += n * spent[fp] / calls[fp]
    return {op: ms / committed[op] for op, ms in total.items() if committed.get(op)}
