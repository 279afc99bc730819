"""Pure parts of the deadlock probe on fixed inputs: the ledger arithmetic, transfers, options."""

from __future__ import annotations

import io
import random
from collections import Counter

import pytest
from rich.console import Console

from dbprobe.errors import ConfigError
from dbprobe.load.plan import LoadPlan
from dbprobe.metrics import LatencySummary
from dbprobe.probes.deadlock.ledger import AccountMismatch, LedgerCheck, PairFlow, check_ledger
from dbprobe.probes.deadlock.options import MAX_AMOUNT_CENTS, DeadlockOptions, LockOrder, Pattern
from dbprobe.probes.deadlock.probe import TransferPlan, draw_transfer, lock_sequence
from dbprobe.probes.deadlock.section import DeadlockSection, deadlock_finding, lost_update_finding
from dbprobe.report.section_views import read_section
from dbprobe.report.sections_console import format_section_views
from dbprobe.result.findings import Severity

BEFORE = {1: 1_000, 2: 1_000, 3: 1_000}


# --------------------------------------------------------------------------- the ledger


def test_balances_that_reflect_every_transfer_hold() -> None:
    # 1 -> 2: two transfers, 300 cents in all; 2 -> 3: one of 50.
    flows = [PairFlow(1, 2, 2, 300), PairFlow(2, 3, 1, 50)]
    check = check_ledger(BEFORE, {1: 700, 2: 1_250, 3: 1_050}, flows, transfers_committed=3)

    assert check.holds
    assert check.mismatches == ()
    assert (check.sum_before, check.sum_after, check.sum_drift_cents) == (3_000, 3_000, 0)
    assert check.transfers_checked == 3
    assert check.amount_lost_cents == 0
    assert check.transfers_affected == 0


def test_an_overwritten_debit_is_a_lost_update_of_its_amount() -> None:
    # Both transfers read account 1 at 1000; the second write (1000 - 30) overwrote
    # the first (1000 - 100): the 100-cent debit is lost, and money appeared.
    flows = [PairFlow(1, 2, 1, 100), PairFlow(1, 3, 1, 30)]
    check = check_ledger(BEFORE, {1: 970, 2: 1_100, 3: 1_030}, flows, transfers_committed=2)

    assert not check.holds
    assert check.mismatches == (AccountMismatch(1, 1_000, 870, 970),)
    assert check.mismatches[0].difference_cents == 100
    assert check.accounts_mismatched == 1
    assert check.amount_lost_cents == 100
    assert check.sum_drift_cents == 100
    assert check.transfers_affected == 2


def test_lost_updates_that_cancel_in_the_sum_are_still_found() -> None:
    # A lost debit of 40 on account 1 and a lost credit of 40 on account 2 leave
    # the sum unchanged: only the per-account equation sees them.
    flows = [PairFlow(1, 2, 1, 40), PairFlow(3, 1, 1, 10)]
    after = {1: 1_010, 2: 1_000, 3: 990}
    check = check_ledger(BEFORE, after, flows)

    assert check.sum_drift_cents == 0
    assert not check.holds
    assert [(m.account_id, m.difference_cents) for m in check.mismatches] == [(1, 40), (2, -40)]
    assert check.amount_lost_cents == 80
    assert check.transfers_affected == 2


def test_a_committed_transfer_without_its_row_breaks_the_invariant() -> None:
    check = check_ledger(BEFORE, BEFORE, [], transfers_committed=1)

    assert not check.rows_match_commits
    assert not check.holds
    assert check_ledger(BEFORE, BEFORE, [], transfers_committed=None).holds


def test_ledger_check_json_names_the_figures() -> None:
    flows = [PairFlow(1, 2, 1, 100), PairFlow(1, 3, 1, 30)]
    data = check_ledger(BEFORE, {1: 970, 2: 1_100, 3: 1_030}, flows).to_json()

    assert data == {
        "holds": False,
        "sum_before": 3_000,
        "sum_after": 3_100,
        "sum_drift_cents": 100,
        "accounts_checked": 3,
        "accounts_mismatched": 1,
        "amount_lost_cents": 100,
        "transfers_checked": 2,
        "transfers_committed": None,
        "transfers_affected": 2,
        "mismatches": [
            {
                "account_id": 1,
                "before_cents": 1_000,
                "expected_cents": 870,
                "actual_cents": 970,
                "difference_cents": 100,
            }
        ],
    }


# --------------------------------------------------------------------------- transfers


def test_transfers_join_two_distinct_accounts_with_small_amounts() -> None:
    rng = random.Random(7)
    draws = [draw_transfer(rng, 3) for _ in range(600)]

    pairs = Counter((t.from_id, t.to_id) for t in draws)
    assert set(pairs) == {(a, b) for a in (1, 2, 3) for b in (1, 2, 3) if a != b}
    assert all(1 <= t.amount_cents <= MAX_AMOUNT_CENTS for t in draws)
    assert draws[:3] == [draw_transfer(r, 3) for r in [random.Random(7)] for _ in range(3)]


def test_lock_order_random_keeps_the_transfer_order_and_sorted_sorts() -> None:
    t = TransferPlan(from_id=4, to_id=2, amount_cents=10)

    assert lock_sequence(t, LockOrder.RANDOM) == (4, 2)
    assert lock_sequence(t, LockOrder.SORTED) == (2, 4)
    assert lock_sequence(TransferPlan(2, 4, 10), LockOrder.RANDOM) == (2, 4)


# --------------------------------------------------------------------------- options


PLAN = LoadPlan(workers=8, transactions_per_worker=10)


def test_options_accept_names_as_text() -> None:
    options = DeadlockOptions(PLAN, pattern="naive", lock_order="sorted")  # type: ignore[arg-type]

    assert options.pattern is Pattern.NAIVE
    assert options.lock_order is LockOrder.SORTED
    assert options.as_config().pattern == "naive"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"accounts": 1}, r"^--accounts must be at least 2 .*got 1$"),
        ({"pattern": "optimistic"}, r"^unknown --pattern 'optimistic': choose one of for_update, "),
        (
            {"lock_order": "reverse"},
            r"^unknown --lock-order 'reverse': choose one of random, sorted$",
        ),
    ],
)
def test_bad_options_are_config_errors_naming_the_option(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        DeadlockOptions(PLAN, **kwargs)  # type: ignore[arg-type]


def test_a_warmup_is_refused_because_every_transfer_is_checked() -> None:
    with pytest.raises(ConfigError, match=r"^--warmup is not available"):
        DeadlockOptions(LoadPlan(workers=2, duration_s=1.0, warmup_s=0.5))


# --------------------------------------------------------------------------- section and findings


def _section(check: LedgerCheck, deadlocks: int, details: tuple[str, ...] = ()) -> DeadlockSection:
    return DeadlockSection(
        backend="postgresql",
        pattern="naive",
        lock_order="random",
        isolation="read_committed",
        accounts=3,
        transfers=40,
        attempts=52,
        deadlocks=deadlocks,
        serialization_failures=0,
        lock_timeouts=0,
        busy=None,
        retries=10,
        give_ups=2,
        commits_by_attempt={1: 32, 2: 6, 3: 2},
        latency_ms=LatencySummary.empty(),
        write_lock_wait_ms=None,
        write_lock_wait_total_ms=None,
        invariant=check,
        deadlock_details=details,
    )


def test_rates_are_per_committed_and_per_finished_transfer() -> None:
    section = _section(check_ledger(BEFORE, BEFORE, []), deadlocks=12)

    assert section.deadlock_rate == 12 / 40
    assert section.success_rate == 40 / 42
    assert section.to_json()["commits_by_attempt"] == {"1": 32, "2": 6, "3": 2}


def test_lost_update_finding_is_an_error_with_the_amount() -> None:
    flows = [PairFlow(1, 2, 1, 100), PairFlow(1, 3, 1, 30)]
    check = check_ledger(BEFORE, {1: 970, 2: 1_100, 3: 1_030}, flows)
    options = DeadlockOptions(PLAN, pattern=Pattern.NAIVE)

    finding = lost_update_finding(check, options, "read_committed")

    assert (finding.kind, finding.severity, finding.operation) == (
        "lost_update",
        Severity.ERROR,
        "transfer",
    )
    assert finding.message.startswith(
        "1 of 3 accounts do not match the 2 transfers committed by this run: "
        "100 cents of updates lost (sum of balances 3000 -> 3100, +100 cents)"
    )
    assert "--pattern for_update" in finding.message
    assert finding.evidence.amount_lost_cents == 100


def test_deadlock_finding_is_a_warning_carrying_the_server_detail() -> None:
    detail = "Process 1 waits for ShareLock on transaction 9; blocked by process 2."
    section = _section(check_ledger(BEFORE, BEFORE, []), deadlocks=12, details=(detail,))

    finding = deadlock_finding(section)

    assert finding.severity is Severity.WARNING
    assert finding.message.startswith("12 deadlocks in 40 committed transfers (0.300 per transfer")
    assert finding.evidence.details == (detail,)


def test_section_renders_a_violated_invariant_and_the_first_deadlock() -> None:
    flows = [PairFlow(1, 2, 1, 100), PairFlow(1, 3, 1, 30)]
    check = check_ledger(BEFORE, {1: 970, 2: 1_100, 3: 1_030}, flows)
    detail = "Process 1 waits for ShareLock on transaction 9; blocked by process 2."
    console = Console(record=True, width=120, file=io.StringIO())
    section = _section(check, deadlocks=12, details=(detail,))

    # As the report renders it: from the section's JSON.
    console.print(*format_section_views([read_section(section.name, section.to_json())]))
    text = console.export_text()

    assert "VIOLATED: 1 accounts off by 100 cents; sum 3000 -> 3100" in text
    assert "12 (0.300 per transfer)" in text
    assert "1: 32, 2: 6, 3: 2" in text
    assert detail in text


def test_several_processes_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"^--processes is not available .*got 2"):
        DeadlockOptions(LoadPlan(workers=2, transactions_per_worker=5, processes=2))
