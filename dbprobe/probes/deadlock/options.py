"""The deadlock probe's options: how transfers write (pattern), in which order they lock.

Validated where built, so the CLI and the pytest plugin refuse the same bad
values with the same message.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TypeVar

from dbprobe.errors import ConfigError
from dbprobe.load.plan import LoadPlan, RetryPolicy
from dbprobe.result.config import DeadlockConfig

__all__ = ["MAX_AMOUNT_CENTS", "OPERATION_NAME", "DeadlockOptions", "LockOrder", "Pattern"]


OPERATION_NAME = "transfer"


#: Amounts are 1..this many cents: small against the seeded balances, so
#: balances stay positive and any lost update shows as an exact cent figure.
MAX_AMOUNT_CENTS = 500


E = TypeVar("E", bound=enum.StrEnum)


class Pattern(enum.StrEnum):
    """How a transfer writes the two balances."""

    FOR_UPDATE = "for_update"
    ATOMIC = "atomic"
    NAIVE = "naive"


class LockOrder(enum.StrEnum):
    """In which order a transfer touches its two accounts."""

    RANDOM = "random"  # as the transfer names them: A->B and B->A cross
    SORTED = "sorted"  # by id: one global order


def _choice(kind: type[E], value: str, option: str) -> E:
    try:
        return kind(value)
    except ValueError:
        names = ", ".join(m.value for m in kind)
        raise ConfigError(f"unknown {option} {value!r}: choose one of {names}") from None


@dataclass(frozen=True)
class DeadlockOptions:
    """Options of the deadlock probe (validated; shared by the CLI and the pytest plugin).

    ``pattern`` and ``lock_order`` also accept their names as text. The
    isolation level is the target's (``TargetOptions.isolation``), as for every
    probe.
    """

    plan: LoadPlan
    accounts: int = 4
    pattern: Pattern = Pattern.FOR_UPDATE
    lock_order: LockOrder = LockOrder.RANDOM
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if self.accounts < 2:
            raise ConfigError(
                f"--accounts must be at least 2 (a transfer needs two), got {self.accounts}"
            )
        object.__setattr__(self, "pattern", _choice(Pattern, self.pattern, "--pattern"))
        object.__setattr__(self, "lock_order", _choice(LockOrder, self.lock_order, "--lock-order"))
        if self.plan.warmup_s:
            # Every transfer since the snapshot is checked against the ledger,
            # so unmeasured warm-up transfers would blur what the counts mean.
            raise ConfigError(
                f"--warmup is not available for the deadlock probe (got {self.plan.warmup_s:g}): "
                "every transfer is checked against the ledger"
            )
        if self.plan.processes != 1:
            # The attempt counts and the write-lock timing live in this process.
            raise ConfigError(
                f"--processes is not available for the deadlock probe (got {self.plan.processes}):"
                " its workers run in one process"
            )

    def as_config(self) -> DeadlockConfig:
        return DeadlockConfig(
            threads=self.plan.workers,
            transactions=self.plan.transactions_per_worker,
            duration_s=self.plan.duration_s,
            accounts=self.accounts,
            pattern=self.pattern.value,
            lock_order=self.lock_order.value,
            retries=self.retry.retries,
        )
