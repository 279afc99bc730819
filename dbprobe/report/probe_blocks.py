"""The pool, deadlock and isolation probes' sections as blocks (pure).

Each probe's own findings: the pool's checkout wait apart from hold and
statement time, and its timeline; the deadlock probe's rates and ledger
invariant; the isolation probe's matrix of anomalies.
"""

from __future__ import annotations

from collections.abc import Sequence

from dbprobe.probes.isolation.verdicts import Outcome
from dbprobe.probes.pool.model import TimelineRow
from dbprobe.report.blocks import Block, Bullets, Cell, Heading, Lines, Preformatted, Tone, cell
from dbprobe.report.blocks import table as make_table
from dbprobe.report.probe_views import (
    DeadlockView,
    IsolationCell,
    IsolationView,
    LedgerView,
    Percentiles,
    PoolView,
)

__all__ = [
    "POOL_TIMELINE_ROWS",
    "coarsen_pool_timeline",
    "deadlock_blocks",
    "isolation_blocks",
    "pool_blocks",
]

#: Longer pool runs are shown a few seconds a row (the JSON keeps every second).
POOL_TIMELINE_ROWS = 60
_MAX_BAR = 40
_MAX_HOLDERS_SHOWN = 10


# --------------------------------------------------------------------------- pool


def coarsen_pool_timeline(
    rows: Sequence[TimelineRow], limit: int = POOL_TIMELINE_ROWS
) -> list[tuple[str, TimelineRow]]:
    """At most ``limit`` labelled rows: seconds merged (peaks kept, timeouts summed)."""
    if len(rows) <= limit:
        return [(str(r.second), r) for r in rows]
    width = -(-len(rows) // limit)
    out = []
    for i in range(0, len(rows), width):
        group = rows[i : i + width]
        merged = TimelineRow(
            second=group[0].second,
            demand=max(r.demand for r in group),
            checked_out=max(r.checked_out for r in group),
            waiting=max(r.waiting for r in group),
            timeouts=sum(r.timeouts for r in group),
        )
        out.append((f"{group[0].second}-{group[-1].second}", merged))
    return out


def _began(what: str, demand: int | None) -> str:
    return f"{what} began at demand {demand}" if demand is not None else f"no {what}"


def _pool_summary(view: PoolView) -> tuple[str, ...]:
    capacity = (
        f"{view.capacity_per_s:.1f}/s ({view.connections} connections ÷ mean hold "
        f"{view.hold_ms.mean_ms or 0.0:.0f} ms)"
        if view.capacity_per_s is not None
        else "unknown (no hold completed)"
    )
    attempts = view.checkouts + view.timeouts
    outcome = f"{_began('waits', view.waits_began_at_demand)}; " + _began(
        "timeouts", view.timeouts_began_at_demand
    )
    if view.recovered is not None:
        outcome += (
            f"; recovered {view.recovery_s:.2f} s after demand fell within the pool"
            if view.recovered and view.recovery_s is not None
            else "; workers still waited at the end of the run (not recovered)"
        )
    return (
        f"pool: size {view.pool_size} + overflow {view.max_overflow} = {view.connections} "
        f"connections, timeout {view.pool_timeout_s:g} s; up to {view.threads} workers holding "
        f"{view.hold_ms_target:g} ms ({view.hold_method})",
        f"capacity {capacity}; measured {view.measured_per_s:.1f}/s",
        f"peak checked out {view.peak_checked_out} of {view.connections}, overflow used "
        f"{view.overflow_used}; {view.timeouts} of {attempts} checkouts timed out",
        outcome,
    )


def _percentile_cells(s: Percentiles) -> list[Cell]:
    values = (s.p50_ms, s.p90_ms, s.p95_ms, s.p99_ms, s.p999_ms, s.max_ms)
    mean = f"{s.mean_ms:.2f}" if s.mean_ms is not None else "—"
    return [cell(s.count), *(cell(f"{v:.2f}") for v in values), cell(mean)]


def pool_blocks(view: PoolView) -> tuple[Block, ...]:
    waits = make_table(
        "pool: checkout wait, hold and statement apart, in ms",
        ("timing", "count", "p50", "p90", "p95", "p99", "p99.9", "max", "mean"),
        [
            (cell(label), *_percentile_cells(s))
            for label, s in (
                ("checkout wait", view.checkout_wait_ms),
                ("hold", view.hold_ms),
                ("statement", view.statement_ms),
            )
        ],
        caption="checkout wait: from asking the pool to getting a connection (or the timeout); "
        "hold: from checkout to return; statement: the statement alone",
    )
    timeline = make_table(
        "pool timeline, per second",
        ("second", "demand", "checked out", "waiting", "timeouts", "peaks"),
        [
            (
                cell(label),
                cell(row.demand),
                cell(row.checked_out),
                cell(row.waiting),
                cell(row.timeouts, Tone.BAD if row.timeouts else Tone.PLAIN),
                cell(("█" * row.checked_out + "░" * row.waiting)[:_MAX_BAR]),
            )
            for label, row in coarsen_pool_timeline(view.timeline)
        ],
        left=(0, 5),
        caption="peaks within each second: █ checked out, ░ waiting",
        long=True,
    )
    blocks: list[Block] = [Heading("Connection pool"), Lines(_pool_summary(view)), waits, timeline]
    if view.holders:
        blocks.append(
            make_table(
                "who held the connections (longest first)",
                ("location", "checkouts", "held ms total", "held ms max"),
                [
                    (
                        cell(h.location or "(unknown)", code=True),
                        cell(h.checkouts),
                        cell(f"{h.held_ms_total:.0f}"),
                        cell(f"{h.held_ms_max:.0f}"),
                    )
                    for h in view.holders[:_MAX_HOLDERS_SHOWN]
                ],
            )
        )
    if view.leaks:
        blocks.append(
            Bullets(
                "leaked connections (never returned to the pool)",
                tuple(leak.finding().message for leak in view.leaks),
                Tone.BAD,
            )
        )
    return tuple(blocks)


# --------------------------------------------------------------------------- deadlock


def _ledger_cell(inv: LedgerView | None) -> Cell:
    if inv is None:  # an interrupted run lost the server before the check
        return cell("not checked", Tone.WARN)
    if inv.holds:
        return cell(f"holds: {inv.transfers_checked} transfers, sum {inv.sum_after}", Tone.GOOD)
    return cell(
        f"VIOLATED: {inv.accounts_mismatched} accounts off by {inv.amount_lost_cents} cents; "
        f"sum {inv.sum_before} -> {inv.sum_after}",
        Tone.BAD,
    )


def deadlock_blocks(view: DeadlockView) -> tuple[Block, ...]:
    finished = view.transfers + view.give_ups
    lat = view.latency_ms
    rows: list[tuple[Cell, Cell]] = [
        (cell("committed transfers"), cell(f"{view.transfers} of {finished}")),
        (cell("success rate"), cell(f"{view.success_rate:.2%}")),
    ]
    # SQLite's single writer cannot deadlock: a row of zeros there would say nothing.
    if view.busy is None or view.deadlocks:
        rows.append(
            (
                cell("deadlocks (40P01)"),
                cell(
                    f"{view.deadlocks} ({view.deadlock_rate:.3f} per transfer)",
                    Tone.WARN if view.deadlocks else Tone.PLAIN,
                ),
            )
        )
    rows += [
        (cell("serialization failures"), cell(view.serialization_failures)),
        (cell("lock timeouts"), cell(view.lock_timeouts)),
    ]
    if view.busy is not None:  # SQLite only
        rows.append((cell("SQLITE_BUSY (all kinds)"), cell(view.busy)))
    tries = ", ".join(f"{k}: {n}" for k, n in view.commits_by_attempt)
    retries = f"{view.retries} / {view.give_ups}"
    after_deadlocks = (view.deadlock_retries, view.deadlock_give_ups)
    # Told apart only where a deadlock happened (never on SQLite).
    if None not in after_deadlocks and (view.deadlocks or any(after_deadlocks)):
        retries += f" ({view.deadlock_retries} / {view.deadlock_give_ups} after a deadlock)"
    rows += [
        (cell("retries / give-ups"), cell(retries)),
        (cell("committed on attempt"), cell(tries or "-")),
        (
            cell("latency p50 / p99 / max"),
            cell(f"{lat.p50_ms:.2f} / {lat.p99_ms:.2f} / {lat.max_ms:.2f} ms"),
        ),
    ]
    if view.write_lock_wait_ms is not None and view.write_lock_wait_total_ms is not None:
        wait = view.write_lock_wait_ms
        rows.append(
            (
                cell("write-lock wait p50 / p99"),
                cell(
                    f"{wait.p50_ms:.2f} / {wait.p99_ms:.2f} ms "
                    f"({view.write_lock_wait_total_ms / 1000:.2f} s in all)"
                ),
            )
        )
    rows.append((cell("ledger invariant"), _ledger_cell(view.invariant)))
    blocks: list[Block] = [
        Heading("Deadlocks and the ledger"),
        make_table(
            f"deadlock probe: pattern {view.pattern}, lock order {view.lock_order}, "
            f"isolation {view.isolation}, {view.accounts} accounts",
            ("metric", "value"),
            rows,
            left=(0, 1),
        ),
    ]
    inv = view.invariant
    if inv is not None and inv.mismatches:
        blocks.append(
            make_table(
                "accounts that do not match the transfers committed (cents)",
                ("account", "before", "expected", "actual", "difference"),
                [
                    (
                        cell(m.account_id),
                        cell(m.before_cents),
                        cell(m.expected_cents),
                        cell(m.actual_cents),
                        cell(f"{m.difference_cents:+d}", Tone.BAD),
                    )
                    for m in inv.mismatches
                ],
            )
        )
    if view.deadlock_details:
        blocks.append(
            Preformatted("first deadlock, as the server described it", view.deadlock_details[0])
        )
    return tuple(blocks)


# --------------------------------------------------------------------------- isolation

_OUTCOME_TONE = {Outcome.PREVENTED: Tone.GOOD, Outcome.ALLOWED: Tone.BAD, Outcome.ERROR: Tone.WARN}


def _isolation_cell(verdict: IsolationCell | None) -> Cell:
    if verdict is None:  # an interrupted run: the test never ran at this level
        return cell("not run", Tone.DIM)
    text = verdict.outcome.value
    if verdict.prevented_by is not None:
        text += f" ({verdict.prevented_by.value})"
    return cell(text, _OUTCOME_TONE[verdict.outcome])


def isolation_blocks(view: IsolationView) -> tuple[Block, ...]:
    rows = [
        (
            cell(test.name, code=True),
            cell(test.title),
            *(_isolation_cell(view.cells.get(lv.name, {}).get(test.name)) for lv in view.levels),
        )
        for test in view.tests
    ]
    matrix = make_table(
        "isolation anomalies (Hermitage): prevented or allowed at each level",
        ("test", "anomaly", *(lv.name for lv in view.levels)),
        rows,
        left=range(len(view.levels) + 2),
    )
    legend = Lines(
        (
            "prevented by: abort = a transaction was aborted (deadlock, serialization failure); "
            "busy = SQLite's write lock stayed taken for the whole busy timeout; "
            "lock_wait = a step waited until the other transaction ended; "
            "visibility = no read saw what it must not see",
            *(f"{lv.name}: {lv.description}" for lv in view.levels),
        ),
        Tone.DIM,
    )
    blocks: list[Block] = [Heading("Isolation anomalies"), matrix, legend]
    errors = tuple(
        f"{level} {test}: {verdict.note}"
        for level, by_test in view.cells.items()
        for test, verdict in by_test.items()
        if verdict.outcome is Outcome.ERROR
    )
    if errors:
        blocks.append(Bullets("could not be judged", errors, Tone.WARN))
    return tuple(blocks)
