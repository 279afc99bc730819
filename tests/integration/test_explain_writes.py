"""``--explain`` explains writes without writing: in a transaction that is rolled back."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from dbprobe.database.engine import Database
from dbprobe.database.url import Backend
from dbprobe.domain.models import Movement, SessionExercise
from dbprobe.instrument.explain import StatementSamples, explain_samples
from dbprobe.instrument.fingerprint import fingerprint, is_select
from dbprobe.instrument.statements import StatementStats

pytestmark = pytest.mark.asyncio


def _stats(sql: str, parameters: object) -> StatementStats:
    return StatementStats(fingerprint(sql), sql, is_select(sql), parameters=parameters)


async def _counts(db: Database) -> tuple[int, int]:
    async with db.engine.connect() as conn:
        movements = (await conn.execute(select(func.count()).select_from(Movement))).scalar_one()
        exercises = (
            await conn.execute(select(func.count()).select_from(SessionExercise))
        ).scalar_one()
    return movements, exercises


async def test_writes_are_explained_and_nothing_is_written(tiny_db: Database) -> None:
    p = "$1" if tiny_db.backend is Backend.POSTGRESQL else "?"
    p2 = "$2" if tiny_db.backend is Backend.POSTGRESQL else "?"
    samples = StatementSamples()
    samples.add(
        "writes",
        [
            _stats(f"DELETE FROM session_exercises WHERE session_exercises.session_id > {p}", (0,)),
            _stats(f"UPDATE movements SET cns_load={p} WHERE movements.id > {p2}", (9, 0)),
            _stats(
                "INSERT INTO movements (name, pattern, primary_muscle, primary_region, "
                f"skill_level, cns_load, is_compound, is_active) VALUES ({p}, 'x', 'x', 'x', 1, "
                "1, true, true)",
                [("explained",), ("twice",)],  # executemany: the first row is explained
            ),
            _stats("SELECT no_such_column FROM movements", ()),
            _stats("PRAGMA user_version", ()),
        ],
    )
    before = await _counts(tiny_db)
    result = await explain_samples(tiny_db.engine, samples)
    assert await _counts(tiny_db) == before
    delete, update, insert, broken, pragma = result.plans
    assert {n.relation for n in delete.nodes if n.relation} == {"session_exercises"}
    assert "movements" in [n.relation for n in update.nodes]
    assert insert.error is None
    if tiny_db.backend is Backend.POSTGRESQL:
        assert delete.nodes[0].node_type == "Delete"
        assert insert.nodes[0].node_type == "Insert"
    else:  # SQLite's EXPLAIN QUERY PLAN has nothing to say of a plain INSERT
        assert insert.nodes == ()
    # One statement that cannot be explained does not stop the others.
    assert broken.error is not None
    assert "no_such_column" in broken.error
    assert pragma.error == "not a query EXPLAIN takes"
    assert all(p.operations == ("writes",) for p in result.plans)
