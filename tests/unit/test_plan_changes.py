"""Plans compared between a baseline and a run: a changed shape is named, nothing else is."""

from __future__ import annotations

from dbprobe.gate.plan_changes import plan_changes
from dbprobe.result.plans import PlanNode, StatementPlan

FP = "SELECT ... FROM session_exercises WHERE ? = session_exercises.session_id"


def _plan(*nodes: PlanNode, fingerprint: str = FP, error: str | None = None) -> StatementPlan:
    return StatementPlan(
        fingerprint=fingerprint,
        backend="postgresql",
        statement="SELECT 1",
        operations=("session_exercises_lazy",),
        nodes=nodes,
        error=error,
    )


INDEXED = _plan(
    PlanNode(0, "Bitmap Heap Scan", relation="session_exercises", rows=12.0),
    PlanNode(1, "Bitmap Index Scan", index="ix_session_exercises_session_id", rows=12.0),
)
FULL_READ = _plan(
    PlanNode(0, "Seq Scan", seq_read=True, relation="session_exercises", rows=11.0,
             detail="(? = session_id)"),
)  # fmt: skip


def test_an_index_scan_become_a_full_read_is_a_change_for_the_worse() -> None:
    (change,) = plan_changes([INDEXED], [FULL_READ])
    assert change.fingerprint == FP
    assert change.operations == ("session_exercises_lazy",)
    assert change.new_full_reads == ("session_exercises",)
    assert change.lost_indexes == ("ix_session_exercises_session_id",)
    assert change.worse
    assert change.describe().startswith(
        "plan changed (session_exercises_lazy) (now reads session_exercises from end to end; "
        "no longer uses ix_session_exercises_session_id): "
        "Bitmap Heap Scan on session_exercises (rows 12) -> "
        "Seq Scan on session_exercises (rows 11) [(? = session_id)]"
    )


def test_the_other_way_is_a_change_but_not_worse() -> None:
    (change,) = plan_changes([FULL_READ], [INDEXED])
    assert (change.new_full_reads, change.lost_indexes, change.new_sort) == ((), (), False)
    assert not change.worse


def test_other_row_estimates_and_conditions_are_the_same_plan() -> None:
    # Estimates move with the data, the condition's text with the parameters.
    moved = _plan(
        PlanNode(0, "Bitmap Heap Scan", relation="session_exercises", rows=900.0),
        PlanNode(1, "Bitmap Index Scan", index="ix_session_exercises_session_id", rows=900.0,
                 detail="(session_id = ?)"),
    )  # fmt: skip
    assert plan_changes([INDEXED], [moved]) == ()
    assert plan_changes([INDEXED], [INDEXED]) == ()


def test_a_new_sort_is_named() -> None:
    sqlite = _plan(PlanNode(0, "SCAN", relation="programs", index="ix_programs_user"))
    sorted_now = _plan(
        PlanNode(0, "SCAN", relation="programs", index="ix_programs_user"),
        PlanNode(0, "USE", detail="USE TEMP B-TREE FOR ORDER BY"),
    )
    (change,) = plan_changes([sqlite], [sorted_now])
    assert change.new_sort
    assert change.worse
    assert "now sorts" in change.describe()


def test_statements_on_one_side_only_or_not_explained_are_no_change() -> None:
    other = _plan(PlanNode(0, "Seq Scan", seq_read=True, relation="movements"), fingerprint="x")
    failed = _plan(error="syntax error")
    assert plan_changes([INDEXED], [other]) == ()
    assert plan_changes([INDEXED], [failed]) == ()
    assert plan_changes([failed], [INDEXED]) == ()
    assert plan_changes([], [INDEXED]) == ()
