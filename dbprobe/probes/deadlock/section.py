"""The deadlock probe's report section (ledger, deadlock rate, retries) and its findings (pure).

The section is what the JSON carries under ``deadlock`` (the report's
renderers read it there); ``lost_update`` (a violated ledger invariant) and ``deadlock`` are the
findings read off it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dbprobe.metrics import LatencySummary
from dbprobe.probes.deadlock.ledger import MISMATCH_SAMPLES, LedgerCheck
from dbprobe.probes.deadlock.options import OPERATION_NAME, DeadlockOptions, LockOrder, Pattern
from dbprobe.result.findings import (
    DeadlockEvidence,
    Finding,
    FindingKind,
    LostUpdateEvidence,
    Severity,
)

__all__ = ["DeadlockSection", "deadlock_finding", "lost_update_finding"]


@dataclass(frozen=True)
class DeadlockSection:
    """The deadlock probe's own results (JSON key ``deadlock``).

    Failure counts are failed attempts by error class, as in ``operations``:
    on SQLite, SQLITE_BUSY/SQLITE_LOCKED count as ``lock_timeouts`` and
    SQLITE_BUSY_SNAPSHOT as ``serialization_failures``; ``busy`` is their sum
    there and None on PostgreSQL. ``write_lock_wait_ms`` (SQLite only) is the
    time each attempt waited in BEGIN IMMEDIATE for the write lock, which the
    busy timeout turns into waiting rather than errors.
    """

    backend: str
    pattern: str
    lock_order: str
    isolation: str
    accounts: int
    transfers: int  # committed
    attempts: int
    deadlocks: int
    serialization_failures: int
    lock_timeouts: int
    busy: int | None
    retries: int
    give_ups: int
    commits_by_attempt: Mapping[int, int]
    latency_ms: LatencySummary
    write_lock_wait_ms: LatencySummary | None
    write_lock_wait_total_ms: float | None
    invariant: LedgerCheck | None  # None: not checked (an interrupted run lost the server)
    deadlock_details: tuple[str, ...]
    # Of the retries and give-ups above, those that followed a deadlock: a lost
    # connection or a lock timeout is counted under its own class, not here.
    deadlock_retries: int = 0
    deadlock_give_ups: int = 0

    @property
    def name(self) -> str:
        return "deadlock"

    @property
    def deadlock_rate(self) -> float:
        """Deadlocks per committed transfer."""
        return self.deadlocks / self.transfers if self.transfers else 0.0

    @property
    def success_rate(self) -> float:
        """Share of finished transfers that committed (the rest gave up)."""
        finished = self.transfers + self.give_ups
        return self.transfers / finished if finished else 0.0

    def to_json(self) -> dict[str, Any]:
        def latency(s: LatencySummary) -> dict[str, float]:
            keys = ("p50", "p90", "p95", "p99", "p999", "max")
            return {k: round(s.metric_ms(k), 3) for k in keys} | {"count": s.count}

        return {
            "backend": self.backend,
            "pattern": self.pattern,
            "lock_order": self.lock_order,
            "isolation": self.isolation,
            "accounts": self.accounts,
            "transfers": self.transfers,
            "attempts": self.attempts,
            "deadlocks": self.deadlocks,
            "serialization_failures": self.serialization_failures,
            "lock_timeouts": self.lock_timeouts,
            "busy": self.busy,
            "retries": self.retries,
            "give_ups": self.give_ups,
            "deadlock_retries": self.deadlock_retries,
            "deadlock_give_ups": self.deadlock_give_ups,
            "deadlock_rate": round(self.deadlock_rate, 6),
            "success_rate": round(self.success_rate, 6),
            "commits_by_attempt": {str(k): n for k, n in sorted(self.commits_by_attempt.items())},
            "latency_ms": latency(self.latency_ms),
            "write_lock_wait_ms": (
                latency(self.write_lock_wait_ms) if self.write_lock_wait_ms is not None else None
            ),
            "write_lock_wait_total_ms": (
                round(self.write_lock_wait_total_ms, 3)
                if self.write_lock_wait_total_ms is not None
                else None
            ),
            "invariant": self.invariant.to_json() if self.invariant is not None else None,
            "deadlock_details": list(self.deadlock_details),
        }


def lost_update_finding(check: LedgerCheck, options: DeadlockOptions, isolation: str) -> Finding:
    """The ERROR finding of a violated ledger invariant."""
    parts = []
    if check.mismatches:
        parts.append(
            f"{check.accounts_mismatched} of {check.accounts_checked} accounts do not match the "
            f"{check.transfers_checked} transfers committed by this run: "
            f"{check.amount_lost_cents} cents of updates lost "
            f"(sum of balances {check.sum_before} -> {check.sum_after}, "
            f"{check.sum_drift_cents:+d} cents)"
        )
    elif check.sum_drift_cents:
        parts.append(f"the sum of balances moved by {check.sum_drift_cents:+d} cents")
    if not check.rows_match_commits:
        parts.append(
            f"{check.transfers_committed} transfers committed but "
            f"{check.transfers_checked} transfer rows found"
        )
    advice = (
        f"; pattern {options.pattern.value} at {isolation} overwrites concurrent writes: "
        "lock the rows (--pattern for_update), update atomically (--pattern atomic) "
        "or use --isolation repeatable_read"
        if options.pattern is Pattern.NAIVE
        else ""
    )
    evidence = LostUpdateEvidence(
        holds=check.holds,
        sum_before=check.sum_before,
        sum_after=check.sum_after,
        sum_drift_cents=check.sum_drift_cents,
        accounts_checked=check.accounts_checked,
        accounts_mismatched=check.accounts_mismatched,
        amount_lost_cents=check.amount_lost_cents,
        transfers_checked=check.transfers_checked,
        transfers_committed=check.transfers_committed,
        transfers_affected=check.transfers_affected,
        mismatches=tuple(m.to_json() for m in check.mismatches[:MISMATCH_SAMPLES]),
        pattern=options.pattern.value,
        isolation=isolation,
    )
    return Finding(
        FindingKind.LOST_UPDATE, Severity.ERROR, OPERATION_NAME, "; ".join(parts) + advice, evidence
    )


def deadlock_finding(section: DeadlockSection) -> Finding:
    """The WARNING finding summarising the deadlocks of a run."""
    advice = (
        ": transfers lock their accounts in the order they name them; "
        "lock in one global order (--lock-order sorted)"
        if section.lock_order == LockOrder.RANDOM.value
        else ""
    )
    # Only what deadlocks caused: other failures (a lost connection) have their own findings.
    message = (
        f"{section.deadlocks} deadlocks in {section.transfers} committed transfers "
        f"({section.deadlock_rate:.3f} per transfer; {section.deadlock_retries} retried, "
        f"{section.deadlock_give_ups} gave up){advice}"
    )
    evidence = DeadlockEvidence(
        deadlocks=section.deadlocks,
        transfers=section.transfers,
        deadlock_rate=round(section.deadlock_rate, 6),
        retries=section.deadlock_retries,
        give_ups=section.deadlock_give_ups,
        lock_order=section.lock_order,
        details=section.deadlock_details,
    )
    return Finding(FindingKind.DEADLOCK, Severity.WARNING, OPERATION_NAME, message, evidence)
