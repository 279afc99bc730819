"""``--explain`` on the repo probe: a dropped foreign-key index is found, and its fix works.

Each test has a database of its own (a fresh SQLite file; on PostgreSQL a
database named for the test, dropped after it), since it drops an index of
dbprobe's schema.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dbprobe.data.scales import load_scale
from dbprobe.data.seeding import ensure_seeded
from dbprobe.database.engine import PoolOptions, open_database
from dbprobe.database.url import Backend, Target
from dbprobe.errors import ConfigError
from dbprobe.gate.compare import compare_reports
from dbprobe.gate.decide import comparison_findings
from dbprobe.instrument.fingerprint import fingerprint
from dbprobe.load.harness import TargetOptions
from dbprobe.load.plan import LoadPlan
from dbprobe.probes.repo.probe import run_repo
from dbprobe.probes.scenarios.probe import run_scenarios
from dbprobe.probes.select.probe import SelectOptions, run_select
from dbprobe.probes.uow import UowOptions, run_uow
from dbprobe.result.findings import FindingKind, IndexEvidence, Severity
from dbprobe.result.model import Report

pytestmark = pytest.mark.asyncio

INDEX_FINDINGS = {
    FindingKind.UNINDEXED_FOREIGN_KEY,
    FindingKind.SEQ_SCAN,
    FindingKind.SORT_WITHOUT_INDEX,
}
# The lazy load of TrainingSession.exercises filters on session_exercises.session_id.
ENTRIES = ("session_exercises_lazy", "session_exercises_eager", "movement_get")
LAZY_EXERCISES = "FROM session_exercises WHERE ? = session_exercises.session_id"


async def _execute(target: Target, sql: str) -> None:
    db = await open_database(target, PoolOptions())
    try:
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql(sql)
    finally:
        await db.dispose()


async def _seed(target: Target, scale: str) -> None:
    db = await open_database(target, PoolOptions())
    try:
        await ensure_seeded(db, load_scale(scale), 1)
    finally:
        await db.dispose()


async def _repo(target: Target, scale: str, only: tuple[str, ...] = ENTRIES) -> Report:
    return await run_repo(
        TargetOptions(target, scale=scale),
        LoadPlan(workers=1, transactions_per_worker=2, rounds=1),
        only=only,
        explain=True,
    )


def _lazy_plan(report: Report) -> tuple[str, ...]:
    (plan,) = [p for p in report.plans if LAZY_EXERCISES in p.fingerprint]
    assert plan.operations == ("session_exercises_lazy",)
    assert plan.error is None
    return tuple(f"{n.node_type}:{n.relation}:{n.index}:{n.seq_read}" for n in plan.nodes)


async def test_a_dropped_foreign_key_index_is_found_and_its_create_index_resolves_it(
    own_target: Target,
) -> None:
    await _seed(own_target, "tiny")
    await _execute(own_target, "DROP INDEX ix_session_exercises_session_id")

    report = await _repo(own_target, "tiny")
    found = [f for f in report.findings if f.kind in INDEX_FINDINGS]
    assert [f.kind for f in found] == [FindingKind.UNINDEXED_FOREIGN_KEY]
    evidence = found[0].evidence
    assert isinstance(evidence, IndexEvidence)
    assert (evidence.table, evidence.columns, evidence.references) == (
        "session_exercises",
        ("session_id",),
        "sessions.id",
    )
    schema = '"dbprobe".' if own_target.backend is Backend.POSTGRESQL else ""
    assert evidence.create_index == (
        f'CREATE INDEX "ix_session_exercises_session_id" ON {schema}"session_exercises" '
        '("session_id")'
    )
    assert evidence.create_index in found[0].message
    assert "has no index, and 2 statements filter or join on it" in found[0].message
    assert evidence.rows > 1000
    # Both the lazy load and the eager (IN) load filter on it; the lazy one is listed.
    assert any(LAZY_EXERCISES in fp for fp in evidence.fingerprints)
    assert set(evidence.operations) == {"session_exercises_lazy", "session_exercises_eager"}
    before = _lazy_plan(report)
    assert any(n.endswith(":session_exercises:None:True") for n in before)
    # Every fingerprint captured is explained once, after the run.
    assert len({p.fingerprint for p in report.plans}) == len(report.plans) >= 4

    await _execute(own_target, evidence.create_index)

    again = await _repo(own_target, "tiny")
    assert [f for f in again.findings if f.kind in INDEX_FINDINGS] == []
    after = _lazy_plan(again)
    (plan,) = [p for p in again.plans if LAZY_EXERCISES in p.fingerprint]
    assert "ix_session_exercises_session_id" in plan.indexes
    assert not any(n.seq_read and n.relation == "session_exercises" for n in plan.nodes)
    assert after != before


async def test_a_fully_indexed_database_has_no_index_finding(own_target: Target) -> None:
    await _seed(own_target, "small")
    report = await _repo(own_target, "small", only=())
    assert [f.message for f in report.findings if f.kind in INDEX_FINDINGS] == []
    assert report.plans
    assert [p.fingerprint for p in report.plans if p.error] == []
    assert all(p.nodes for p in report.plans)
    assert {p.backend for p in report.plans} == {own_target.backend.value}
    # The plans are the run's own statements, fingerprinted as the run counted them.
    assert all(fingerprint(p.statement) == p.fingerprint for p in report.plans)


async def test_explain_needs_one_process(sqlite_target: Target) -> None:
    with pytest.raises(ConfigError, match="--explain needs one process"):
        await run_repo(
            TargetOptions(sqlite_target, scale="tiny"),
            LoadPlan(workers=1, transactions_per_worker=1, processes=2),
            explain=True,
        )


async def test_a_sequential_scan_on_a_selective_column_is_found_and_its_index_clears_it(
    own_target: Target,
) -> None:
    # movements (48 rows at scale tiny) is filtered on primary_muscle, which no index leads.
    await _seed(own_target, "tiny")
    only = ("movements_by_muscle", "movements_compound")
    options = TargetOptions(own_target, scale="tiny")
    plan = LoadPlan(workers=1, transactions_per_worker=2, rounds=1)
    report = await run_repo(options, plan, only=only, explain=True, explain_min_rows=40)
    found = [f for f in report.findings if f.kind in INDEX_FINDINGS]
    # movements_compound filters on a boolean: two values, no index would serve it.
    assert [f.kind for f in found] == [FindingKind.SEQ_SCAN]
    evidence = found[0].evidence
    assert isinstance(evidence, IndexEvidence)
    assert (evidence.table, evidence.columns, evidence.operations) == (
        "movements",
        ("primary_muscle",),
        ("movements_by_muscle",),
    )
    assert evidence.distinct_values is not None
    assert evidence.distinct_values >= 10
    assert evidence.create_index.startswith('CREATE INDEX "ix_movements_primary_muscle" ON ')

    await _execute(own_target, evidence.create_index)

    again = await run_repo(options, plan, only=only, explain=True, explain_min_rows=40)
    assert [f for f in again.findings if f.kind in INDEX_FINDINGS] == []
    if own_target.backend is Backend.SQLITE:
        # PostgreSQL may still read 48 rows whole, and rightly: the finding is gone
        # because the column is indexed now, not because the plan changed.
        indexes = {i for p in again.plans for i in p.indexes}
        assert "ix_movements_primary_muscle" in indexes


async def test_select_explains_the_orm_and_core_statement_once(target: Target) -> None:
    report = await run_select(
        TargetOptions(target, scale="tiny"),
        SelectOptions(LoadPlan(1, transactions_per_worker=3)),
        explain=True,
    )
    # The orm and core layers send one statement shape on SQLAlchemy 2.1 (2.0
    # labels the ORM's columns: two shapes), each explained once; the driver
    # bypasses SQLAlchemy.
    assert 1 <= len(report.plans) <= 2
    assert sorted(op for plan in report.plans for op in plan.operations) == ["core", "orm"]
    for plan in report.plans:
        assert plan.error is None
        assert {n.relation for n in plan.nodes if n.relation} == {"accounts"}
    assert [f for f in report.findings if f.kind in INDEX_FINDINGS] == []


async def test_compare_reports_the_plan_a_dropped_index_changed_and_no_change_otherwise(
    own_target: Target,
) -> None:
    # Issue 21: a plan regression is reported even when the timings cannot
    # tell (two rounds here: the timing verdict is insufficient data).
    await _seed(own_target, "tiny")
    with_index = await _repo(own_target, "tiny")
    same = await _repo(own_target, "tiny")
    assert compare_reports(with_index, same).plan_changes == ()  # no false alarm

    await _execute(own_target, "DROP INDEX ix_session_exercises_session_id")
    without = await _repo(own_target, "tiny")
    comparison = compare_reports(with_index, without)
    changes = [c for c in comparison.plan_changes if LAZY_EXERCISES in c.fingerprint]
    (change,) = changes
    assert change.lost_indexes == ("ix_session_exercises_session_id",)
    assert change.new_full_reads == ("session_exercises",)
    assert change.operations == ("session_exercises_lazy",)
    findings = [
        f
        for f in comparison_findings(comparison)
        if f.kind is FindingKind.PLAN_CHANGED and LAZY_EXERCISES in f.message
    ]
    (finding,) = findings
    assert finding.severity is Severity.WARNING
    assert finding.operation == "session_exercises_lazy"
    assert "no longer uses ix_session_exercises_session_id" in finding.message


PAGE = """
import dbprobe
from sqlalchemy import text

REFERENCE_DOMAIN = True

@dbprobe.scenario
async def shortest_rests(ctx):
    async with ctx.session_factory() as session:
        await session.execute(
            text("SELECT id FROM session_exercises ORDER BY rest_s LIMIT 20 OFFSET 20")
        )
"""


async def test_a_page_that_sorts_the_whole_table_is_found_and_its_index_clears_it(
    own_target: Target, tmp_path: Path
) -> None:
    source = tmp_path / "page.py"
    source.write_text(PAGE)
    options = TargetOptions(own_target, scale="tiny")  # session_exercises: 1,312 rows
    plan = LoadPlan(workers=1, transactions_per_worker=2, rounds=1)
    report = await run_scenarios(options, str(source), plan, explain=True)
    (finding,) = [f for f in report.findings if f.kind is FindingKind.SORT_WITHOUT_INDEX]
    evidence = finding.evidence
    assert isinstance(evidence, IndexEvidence)
    assert (evidence.table, evidence.columns, evidence.operations) == (
        "session_exercises",
        ("rest_s",),
        ("shortest_rests",),
    )
    assert "read and sorted all 1,312 rows of session_exercises" in finding.message
    (before,) = report.plans
    assert any(n.node_type == "Sort" or "TEMP B-TREE" in (n.detail or "") for n in before.nodes)

    await _execute(own_target, evidence.create_index)

    again = await run_scenarios(options, str(source), plan, explain=True)
    assert [f for f in again.findings if f.kind in INDEX_FINDINGS] == []
    (after,) = again.plans
    assert "ix_session_exercises_rest_s" in after.indexes
    assert not any(n.node_type == "Sort" or "TEMP B-TREE" in (n.detail or "") for n in after.nodes)


async def test_explain_analyze_keeps_actual_rows_on_postgres_and_rolls_back_what_it_ran(
    own_target: Target,
) -> None:
    await _seed(own_target, "tiny")
    options = TargetOptions(own_target, scale="tiny")
    report = await run_uow(
        options,
        UowOptions(
            plan=LoadPlan(workers=1, transactions_per_worker=5, rounds=1),
            mix={"create_program": 1, "read_program": 1},
        ),
        explain=True,
        explain_analyze=True,
    )
    created = report.operation("create_program").commits
    assert created > 0
    db = await open_database(own_target, PoolOptions())
    try:
        async with db.engine.connect() as conn:
            programs = (await conn.exec_driver_sql("SELECT COUNT(*) FROM programs")).scalar_one()
    finally:
        await db.dispose()
    # The seeded programs and the run's own: the analyzed inserts were rolled back.
    assert programs == load_scale("tiny").programs + created
    inserts = [p for p in report.plans if p.statement.lstrip().upper().startswith("INSERT")]
    assert inserts
    assert all(p.error is None for p in report.plans)
    nodes = [n for p in report.plans for n in p.nodes]
    if own_target.backend is Backend.POSTGRESQL:
        assert all(n.actual_rows is not None for n in nodes)
        assert any(n.buffers for n in nodes)
    else:  # SQLite has no EXPLAIN ANALYZE: the plan as without it
        assert all(n.actual_rows is None and n.buffers is None for n in nodes)
