"""The ledger invariant: did every committed transfer land exactly once? (pure)

A transfer moves ``amount`` cents from one account to another and inserts a
``transfers`` row in the same transaction. So, over the rows a run inserted,
each account must end at::

    balance_after == balance_before - sum(amounts sent) + sum(amounts received)

and the sum of balances must not move. A lost update (a write computed from a
stale read that overwrites a concurrent one) breaks the first equation for the
account it hit, and usually the second. No database error ever reports it, so
this check is the only way to see it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["AccountMismatch", "LedgerCheck", "PairFlow", "check_ledger"]

#: Mismatched accounts kept as evidence in the report; the counts cover all of them.
MISMATCH_SAMPLES = 10


@dataclass(frozen=True)
class PairFlow:
    """The transfers a run inserted from one account to another, aggregated.

    The probe reads these with one ``GROUP BY from_id, to_id`` so that memory
    does not grow with the length of the run (at most K x (K-1) rows).
    """

    from_id: int
    to_id: int
    transfers: int
    amount_cents: int


@dataclass(frozen=True)
class AccountMismatch:
    """One account whose balance is not what its transfers say it must be.

    ``difference_cents = actual_cents - expected_cents``: positive when money
    appeared (a debit was overwritten), negative when it vanished (a credit was).
    """

    account_id: int
    before_cents: int
    expected_cents: int
    actual_cents: int

    @property
    def difference_cents(self) -> int:
        return self.actual_cents - self.expected_cents

    def to_json(self) -> dict[str, int]:
        return {
            "account_id": self.account_id,
            "before_cents": self.before_cents,
            "expected_cents": self.expected_cents,
            "actual_cents": self.actual_cents,
            "difference_cents": self.difference_cents,
        }


@dataclass(frozen=True)
class LedgerCheck:
    """The outcome of :func:`check_ledger`.

    Attributes:
        accounts_checked: accounts in the before-snapshot.
        sum_before, sum_after: sum of their balances, in cents.
        transfers_checked: transfer rows the run inserted.
        transfers_committed: committed transfers as the runner counted them
            (None when unknown, e.g. after an interrupt, when an attempt that
            was cancelled may still have committed on the server).
        mismatches: every account whose balance disagrees with its transfers.
        transfers_affected: transfer rows touching a mismatched account: an
            upper bound on the transfers whose effect was lost.
    """

    accounts_checked: int
    sum_before: int
    sum_after: int
    transfers_checked: int
    transfers_committed: int | None
    mismatches: tuple[AccountMismatch, ...]
    transfers_affected: int

    @property
    def accounts_mismatched(self) -> int:
        return len(self.mismatches)

    @property
    def amount_lost_cents(self) -> int:
        """Sum of |actual - expected| over accounts: the cents of overwritten updates."""
        return sum(abs(m.difference_cents) for m in self.mismatches)

    @property
    def sum_drift_cents(self) -> int:
        """Money created (positive) or destroyed (negative) by the run."""
        return self.sum_after - self.sum_before

    @property
    def rows_match_commits(self) -> bool:
        return (
            self.transfers_committed is None or self.transfers_committed == self.transfers_checked
        )

    @property
    def holds(self) -> bool:
        return not self.mismatches and self.sum_drift_cents == 0 and self.rows_match_commits

    def to_json(self) -> dict[str, Any]:
        return {
            "holds": self.holds,
            "sum_before": self.sum_before,
            "sum_after": self.sum_after,
            "sum_drift_cents": self.sum_drift_cents,
            "accounts_checked": self.accounts_checked,
            "accounts_mismatched": self.accounts_mismatched,
            "amount_lost_cents": self.amount_lost_cents,
            "transfers_checked": self.transfers_checked,
            "transfers_committed": self.transfers_committed,
            "transfers_affected": self.transfers_affected,
            "mismatches": [m.to_json() for m in self.mismatches[:MISMATCH_SAMPLES]],
        }


def check_ledger(
    before: Mapping[int, int],
    after: Mapping[int, int],
    flows: Iterable[PairFlow],
    *,
    transfers_committed: int | None = None,
) -> LedgerCheck:
    """Compare balances after a run with those before plus the run's transfers.

    ``before`` and ``after`` map account id to balance in cents over the same
    accounts; an account missing from ``after`` counts as balance 0 (it can
    only be missing if something outside the probe deleted it).
    """
    flows = list(flows)
    expected = dict(before)
    for flow in flows:
        if flow.from_id in expected:
            expected[flow.from_id] -= flow.amount_cents
        if flow.to_id in expected:
            expected[flow.to_id] += flow.amount_cents
    mismatches = tuple(
        AccountMismatch(account, before[account], expected[account], after.get(account, 0))
        for account in sorted(expected)
        if after.get(account, 0) != expected[account]
    )
    bad = {m.account_id for m in mismatches}
    return LedgerCheck(
        accounts_checked=len(before),
        sum_before=sum(before.values()),
        sum_after=sum(after.get(account, 0) for account in before),
        transfers_checked=sum(f.transfers for f in flows),
        transfers_committed=transfers_committed,
        mismatches=mismatches,
        transfers_affected=sum(f.transfers for f in flows if f.from_id in bad or f.to_id in bad),
    )
