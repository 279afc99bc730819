"""Plans that changed between a baseline and a run (``--explain`` on both).

A plan that starts reading a table from end to end, or sorting what an index
gave in order, is the cause of the next slowdown before it is one: at today's
data the timing may not move at all, and the gate's verdict says unchanged.
So the shape of each statement's plan is compared on its own, whatever the
timings say: the nodes in order with what they read and through which index.
The planner's row estimates and the conditions' text are left out of the
shape; they move with the data without the plan changing.

Pure logic over :class:`~dbprobe.result.plans.StatementPlan` records.
"""

from __future__ import annotations

from collections.abc import Iterable

from dbprobe.result.plan_evidence import PlanChangeEvidence
from dbprobe.result.plans import PlanNode, StatementPlan

__all__ = ["plan_changes"]


def _shape(nodes: Iterable[PlanNode]) -> tuple[tuple[int, str, str | None, str | None, bool], ...]:
    return tuple((n.depth, n.node_type, n.relation, n.index, n.seq_read) for n in nodes)


def plan_changes(
    baseline: Iterable[StatementPlan], current: Iterable[StatementPlan]
) -> tuple[PlanChangeEvidence, ...]:
    """Every fingerprint explained in both (without error) whose plan's shape differs.

    A fingerprint explained on one side only, or on another backend, is not
    a change: there is nothing to compare it with.
    """
    before = {(p.fingerprint, p.backend): p for p in baseline if p.error is None and p.nodes}
    found = []
    for plan in current:
        old = before.get((plan.fingerprint, plan.backend))
        if old is None or plan.error is not None or not plan.nodes:
            continue
        if _shape(old.nodes) == _shape(plan.nodes):
            continue
        full_before = {n.relation for n in old.nodes if n.seq_read and n.relation}
        full_now = [n.relation for n in plan.nodes if n.seq_read and n.relation]
        used_now = set(plan.indexes)
        found.append(
            PlanChangeEvidence(
                fingerprint=plan.fingerprint,
                operations=tuple(sorted(set(old.operations) | set(plan.operations))),
                before=old.summary(),
                after=plan.summary(),
                new_full_reads=tuple(dict.fromkeys(r for r in full_now if r not in full_before)),
                lost_indexes=tuple(dict.fromkeys(i for i in old.indexes if i not in used_now)),
                new_sort=plan.sorts and not old.sorts,
            )
        )
    return tuple(found)
