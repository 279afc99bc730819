"""N+1 findings of the repo probe on the reference domain, on both backends."""

from __future__ import annotations

import pytest

from dbprobe.database.engine import Database, PoolOptions
from dbprobe.database.url import Target
from dbprobe.instrument import count_statements
from dbprobe.instrument.nplusone import find_n_plus_one, find_unused_eager_loads
from dbprobe.load.harness import TargetOptions
from dbprobe.load.operations import OperationContext
from dbprobe.load.plan import LoadPlan
from dbprobe.probes.repo.probe import run_repo
from tests.integration.test_repo_catalogue import RecordingRandom, _entries, _program_shape

pytestmark = pytest.mark.asyncio


async def _findings(db: Database, name: str, seed: int) -> tuple[list[dict[str, object]], int]:
    rng = RecordingRandom(seed)
    with count_statements() as rec:
        await _entries(db)[name].run(OperationContext(db, rng, 0))
    found = find_n_plus_one(rec.statements.values(), operation=name) + find_unused_eager_loads(
        rec.eager_loaded(), rec.reads, operation=name
    )
    return [f.evidence.to_json() | {"kind": f.kind} for f in found], rng.ints[0]


async def test_lazy_program_read_reports_each_relationship_it_walks_with_exact_counts(
    tiny_db: Database,
) -> None:
    for seed in (1, 2, 3):
        findings, program_id = await _findings(tiny_db, "program_full_lazy", seed)
        weeks, sessions, movements = await _program_shape(tiny_db, program_id)
        by_rel = {f["relationship"]: f for f in findings}
        # Program.microcycles is loaded once (one program): no N+1 there.
        assert set(by_rel) == {
            "Microcycle.sessions",
            "TrainingSession.exercises",
            "SessionExercise.movement",
        }
        assert by_rel["Microcycle.sessions"]["executions"] == weeks
        assert by_rel["TrainingSession.exercises"]["executions"] == sessions
        assert by_rel["SessionExercise.movement"]["executions"] == movements
        # Each from the program's query, down the path the lazy loads took: an
        # option naming only the inner relationship does not apply to select(Program).
        assert by_rel["Microcycle.sessions"]["suggestion"] == (
            ".options(selectinload(Program.microcycles).selectinload(Microcycle.sessions))"
        )
        assert by_rel["SessionExercise.movement"]["suggestion"] == (
            ".options(selectinload(Program.microcycles).selectinload(Microcycle.sessions)"
            ".selectinload(TrainingSession.exercises).joinedload(SessionExercise.movement))"
        )


async def test_eager_program_read_reports_nothing(tiny_db: Database) -> None:
    for seed in (1, 2, 3):
        findings, _ = await _findings(tiny_db, "program_full_eager", seed)
        assert findings == []


async def test_repo_probe_reports_lazy_findings_beside_the_eager_fix(target: Target) -> None:
    report = await run_repo(
        TargetOptions(target, scale="tiny", pool=PoolOptions(size=1)),
        LoadPlan(workers=1, transactions_per_worker=3),
        only=["program_full_lazy", "program_full_eager", "session_exercises_eager"],
    )
    assert [op.name for op in report.operations] == [
        "program_full_lazy",
        "program_full_eager",
        "session_exercises_eager",
    ]
    assert all(op.count == 3 and op.errors == 0 for op in report.operations)
    n_plus_one = [f for f in report.findings if f.kind == "n_plus_one"]
    assert {f.operation for f in n_plus_one} == {"program_full_lazy"}
    assert {f.evidence.relationship for f in n_plus_one} == {
        "Microcycle.sessions",
        "TrainingSession.exercises",
        "SessionExercise.movement",
    }
    for f in n_plus_one:
        assert f.evidence.occurrences == 3
        assert f.evidence.operations_checked == 3
        assert f.message.endswith("(in 3 of 3 calls)")
    assert report.operation("program_full_eager").queries.per_op_max == 4
