"""The pool probe's part of the report: its JSON section and its finding.

Pure: built from what the probe measured, never touching a database.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dbprobe.instrument.pool_trace import Holder, LeakedConnection
from dbprobe.metrics import LatencySummary
from dbprobe.probes.pool.model import TimelineRow
from dbprobe.result.findings import Finding, FindingKind, PoolExhaustionEvidence, Severity

__all__ = ["PoolSection", "pool_exhaustion_finding"]

_SUMMARY_KEYS = ("p50", "p90", "p95", "p99", "p999", "max", "mean")


def _summary_to_json(s: LatencySummary) -> dict[str, float | int]:
    return {key: round(s.metric_ms(key), 3) for key in _SUMMARY_KEYS} | {"count": s.count}


@dataclass(frozen=True)
class PoolSection:
    """The pool probe's results (JSON key ``pool``).

    Attributes:
        pool_size, max_overflow, pool_timeout_s: the pool under test.
        threads, hold_ms_target: the demand: workers, and how long each holds a connection.
        hold_method: how a connection is held (``pg_sleep``; on SQLite a short
            statement, then ``asyncio.sleep`` with the connection still checked out).
        checkout_wait_ms: every checkout attempt, served or timed out, from the
            request to the connection (or the timeout).
        hold_ms: from checkout to return, statement included.
        statement_ms: the statement alone.
        checkouts: checkouts served; timeouts: checkouts that gave up
            (``sqlalchemy.exc.TimeoutError``).
        peak_checked_out: most connections out at once; overflow_used: how many of them
            were beyond ``pool_size``.
        capacity_per_s: connections ÷ mean hold time (None with no hold measured);
            measured_per_s: holds completed per second of the run.
        waits_began_at_demand, timeouts_began_at_demand: the demand in effect when the
            first checkout had to queue (every connection out) and the first timed out.
        recovery_s: from demand falling back within the pool's connections to nobody
            waiting (ramp only); recovered: False if workers still waited at the end.
        timeline: one row per second. holders: locations that held connections longest
            (with ``trace_holders``). leaks: connections not returned.
    """

    pool_size: int
    max_overflow: int
    pool_timeout_s: float
    threads: int
    hold_ms_target: float
    hold_method: str
    checkout_wait_ms: LatencySummary
    hold_ms: LatencySummary
    statement_ms: LatencySummary
    checkouts: int
    timeouts: int
    peak_checked_out: int
    capacity_per_s: float | None
    measured_per_s: float
    waits_began_at_demand: int | None
    timeouts_began_at_demand: int | None
    recovery_s: float | None
    recovered: bool | None
    timeline: tuple[TimelineRow, ...]
    holders: tuple[Holder, ...] = ()
    leaks: tuple[LeakedConnection, ...] = ()

    @property
    def name(self) -> str:
        return "pool"

    @property
    def connections(self) -> int:
        """Most connections the pool may open: ``pool_size + max_overflow``."""
        return self.pool_size + self.max_overflow

    @property
    def overflow_used(self) -> int:
        return max(0, self.peak_checked_out - self.pool_size)

    def to_json(self) -> dict[str, Any]:
        return {
            "pool_size": self.pool_size,
            "max_overflow": self.max_overflow,
            "pool_timeout_s": self.pool_timeout_s,
            "threads": self.threads,
            "hold_ms_target": self.hold_ms_target,
            "hold_method": self.hold_method,
            "checkout_wait_ms": _summary_to_json(self.checkout_wait_ms),
            "hold_ms": _summary_to_json(self.hold_ms),
            "statement_ms": _summary_to_json(self.statement_ms),
            "checkouts": self.checkouts,
            "timeouts": self.timeouts,
            "peak_checked_out": self.peak_checked_out,
            "overflow_used": self.overflow_used,
            "capacity_per_s": _round(self.capacity_per_s),
            "measured_per_s": round(self.measured_per_s, 3),
            "waits_began_at_demand": self.waits_began_at_demand,
            "timeouts_began_at_demand": self.timeouts_began_at_demand,
            "recovery_s": _round(self.recovery_s),
            "recovered": self.recovered,
            "timeline": [
                {
                    "second": r.second,
                    "demand": r.demand,
                    "checked_out": r.checked_out,
                    "waiting": r.waiting,
                    "timeouts": r.timeouts,
                }
                for r in self.timeline
            ],
            "holders": [
                {
                    "location": h.location,
                    "checkouts": h.checkouts,
                    "held_ms_total": round(h.held_ms_total, 3),
                    "held_ms_max": round(h.held_ms_max, 3),
                }
                for h in self.holders
            ],
            "leaks": [leak.finding().evidence.to_json() for leak in self.leaks],
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def pool_exhaustion_finding(
    section: PoolSection, pg_stat_activity: Sequence[Mapping[str, Any]] = ()
) -> Finding | None:
    """A ``pool_exhaustion`` warning with the numbers, when any checkout timed out.

    ``pg_stat_activity``: the probe's own server sessions as seen at the first
    timeout (PostgreSQL), added to the evidence.
    """
    if section.timeouts == 0:
        return None
    attempts = section.checkouts + section.timeouts
    capacity = f"{section.capacity_per_s:.1f}/s" if section.capacity_per_s is not None else "?"
    evidence = PoolExhaustionEvidence(
        timeouts=section.timeouts,
        checkout_attempts=attempts,
        pool_size=section.pool_size,
        max_overflow=section.max_overflow,
        pool_timeout_s=section.pool_timeout_s,
        peak_checked_out=section.peak_checked_out,
        peak_demand=max((r.demand for r in section.timeline), default=section.threads),
        hold_ms_mean=round(section.hold_ms.mean_ms, 3),
        checkout_wait_ms_max=round(section.checkout_wait_ms.max_ms, 3),
        capacity_per_s=_round(section.capacity_per_s),
        measured_per_s=round(section.measured_per_s, 3),
        waits_began_at_demand=section.waits_began_at_demand,
        timeouts_began_at_demand=section.timeouts_began_at_demand,
        pg_stat_activity=tuple(dict(row) for row in pg_stat_activity) or None,
    )
    return Finding(
        kind=FindingKind.POOL_EXHAUSTION,
        severity=Severity.WARNING,
        operation="hold",
        message=(
            f"{section.timeouts} of {attempts} checkouts timed out after "
            f"{section.pool_timeout_s:g} s: {section.peak_checked_out} of {section.connections} "
            f"connections (size {section.pool_size} + overflow {section.max_overflow}) were out, "
            f"serving up to {evidence.peak_demand} workers that hold one "
            f"{section.hold_ms.mean_ms:.0f} ms on average; the pool serves {capacity}, "
            f"measured {section.measured_per_s:.1f}/s; timeouts began at demand "
            f"{section.timeouts_began_at_demand}. Raise pool_size/max_overflow, hold "
            "connections for less time, or limit concurrency"
        ),
        evidence=evidence,
    )
