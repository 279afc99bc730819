"""The repo probe's query catalogue on both backends: it runs, it counts, it writes nothing."""

from __future__ import annotations

import dataclasses
import random
import tomllib
from importlib import resources
from typing import Any

import pytest
from sqlalchemy import distinct, func, select

from dbprobe.data.rows import TABLE_ORDER, generate
from dbprobe.data.scales import load_scale
from dbprobe.database.engine import Database
from dbprobe.domain.models import (
    Microcycle,
    Movement,
    Program,
    SessionExercise,
    TrainingSession,
    User,
)
from dbprobe.domain.planning import TYPE_REGIONS
from dbprobe.domain.uow import UnitOfWork
from dbprobe.errors import ConfigError
from dbprobe.instrument import count_statements, install_statement_counter
from dbprobe.load.operations import OperationContext
from dbprobe.probes.repo import catalogue as repo

pytestmark = pytest.mark.asyncio

ENTRY_NAMES = tuple(e.name for e in repo.catalogue(repo.RepoWorld.dense(1, 1, 1, 1, 1)))
SEEDS = range(1, 6)


def _seeded_world() -> repo.RepoWorld:
    """The ids the tiny seed 1 holds, whatever other tests appended to a shared database."""
    rows: dict[str, int] = dict.fromkeys(TABLE_ORDER, 0)
    for batch in generate(load_scale("tiny"), 1):
        rows[batch.table] += len(batch.rows)
    return repo.RepoWorld.dense(
        users=rows["users"],
        movements=rows["movements"],
        programs=rows["programs"],
        microcycles=rows["microcycles"],
        sessions=rows["sessions"],
    )


WORLD = _seeded_world()


class RecordingRandom(random.Random):
    """A seeded Random that remembers what ``randint`` returned, so a test knows the ids."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed)
        self.ints: list[int] = []

    def randint(self, a: int, b: int) -> int:
        value = super().randint(a, b)
        self.ints.append(value)
        return value


def _entries(db: Database, world: repo.RepoWorld = WORLD) -> dict[str, repo.CatalogueEntry]:
    install_statement_counter(db.engine)
    return {e.name: e for e in repo.catalogue(world)}


async def _run(
    db: Database, name: str, seed: int, world: repo.RepoWorld = WORLD
) -> tuple[int, list[int]]:
    """Run one entry; return the statements it issued and the ints it drew."""
    rng = RecordingRandom(seed)
    with count_statements() as tally:
        await _entries(db, world)[name].run(OperationContext(db, rng, 0))
    return tally.count, rng.ints


async def _scalar(db: Database, stmt: Any) -> int:
    async with db.read_sessions() as s:
        return int((await s.execute(stmt)).scalar_one())


async def _row_counts(db: Database) -> dict[str, int]:
    async with db.read_sessions() as s:
        return {
            model.__tablename__: int(
                (await s.execute(select(func.count()).select_from(model))).scalar_one()
            )
            for model in (User, Movement, Program, Microcycle, TrainingSession, SessionExercise)
        }


# -- the catalogue itself -------------------------------------------------------


async def test_names_are_unique_snake_case_and_variants_known() -> None:
    entries = repo.catalogue(WORLD)
    assert len({e.name for e in entries}) == len(entries)
    for e in entries:
        assert e.name.isidentifier()
        assert e.name == e.name.lower()
        assert e.description
        assert e.variant in ("lazy", "eager", "")
        expected = next((v for v in ("lazy", "eager") if e.name.endswith(f"_{v}")), "")
        assert e.variant == expected
    assert set(ENTRY_NAMES) >= {
        "movement_get", "movements_active", "movements_by_pattern", "movements_by_patterns",
        "movements_compound", "movements_by_skill", "movements_by_muscle", "movements_by_region",
        "movements_multi_filter", "movements_by_ids", "movements_search_name",
        "movements_search_pattern_cns", "movements_count_by_pattern", "movements_page_1",
        "movements_page_2", "movements_total", "program_full_lazy", "program_full_eager",
        "user_programs_lazy", "user_programs_eager", "programs_active", "microcycle_sessions",
        "session_exercises_lazy", "session_exercises_eager", "generate_session_upper",
        "generate_session_lower", "generate_session_recovery",
    }  # fmt: skip


async def test_select_entries_keeps_catalogue_order() -> None:
    entries = repo.catalogue(WORLD)
    picked = repo.select_entries(entries, ["program_full_eager", "movements_total", "movement_get"])
    assert [e.name for e in picked] == ["movement_get", "movements_total", "program_full_eager"]
    assert repo.select_entries(entries, []) == entries
    assert repo.select_entries(entries, ["movement_get", "movement_get"]) == (entries[0],)


async def test_select_entries_rejects_an_unknown_name_listing_the_known_ones() -> None:
    entries = repo.catalogue(WORLD)
    with pytest.raises(ConfigError) as info:
        repo.select_entries(entries, ["movement_get", "nope"])
    assert str(info.value) == (
        f"unknown catalogue entry 'nope' in --only: choose from {', '.join(ENTRY_NAMES)}"
    )
    assert str(info.value).startswith(
        "unknown catalogue entry 'nope' in --only: choose from movement_get, movements_active, "
    )


async def test_argument_pools_match_the_seeded_catalogue() -> None:
    text = resources.files("dbprobe.seeds").joinpath("catalogue.toml").read_text("utf-8")
    data = tomllib.loads(text)
    assert set(repo.PATTERNS) == {p["name"] for p in data["pattern"]}
    assert set(repo.MUSCLES) == {m for p in data["pattern"] for _, m in p["movements"]}
    assert {r: set(ps) for r, ps in repo.REGION_PATTERNS.items()} == {
        r: {p["name"] for p in data["pattern"] if p["region"] == r}
        for r in {p["region"] for p in data["pattern"]}
    }
    for kind, patterns in repo.SESSION_PATTERNS.items():
        regions = {r for r, ps in repo.REGION_PATTERNS.items() if set(ps) & set(patterns)}
        assert regions <= set(TYPE_REGIONS[kind])


# -- running on the databases ---------------------------------------------------


async def test_repo_world_reads_the_ids_that_exist(tiny_db: Database) -> None:
    world = await repo.repo_world(tiny_db)
    for field in dataclasses.fields(repo.RepoWorld):
        assert getattr(world, field.name).count >= getattr(WORLD, field.name).count
    for ids, column in ((world.programs, Program.id), (world.sessions, TrainingSession.id)):
        assert ids.count == await _scalar(tiny_db, select(func.count(column)))
        assert ids.nth(ids.count) == await _scalar(tiny_db, select(func.max(column)))


@pytest.mark.parametrize("name", ENTRY_NAMES)
async def test_every_entry_runs(tiny_db: Database, name: str) -> None:
    for seed in SEEDS:
        count, _ = await _run(tiny_db, name, seed)
        assert count >= 1


@pytest.mark.parametrize(
    "name",
    [
        n
        for n in ENTRY_NAMES
        if n.startswith(("movement", "generate_session_")) or n in ("programs_active",
                                                                     "microcycle_sessions")
    ],
)  # fmt: skip
async def test_single_query_entries_issue_one_statement(tiny_db: Database, name: str) -> None:
    for seed in SEEDS:
        assert (await _run(tiny_db, name, seed))[0] == 1


async def test_eager_entries_issue_a_fixed_number_of_statements(tiny_db: Database) -> None:
    for seed in SEEDS:
        # program, microcycles, sessions, exercises + movements (selectin + join)
        assert (await _run(tiny_db, "program_full_eager", seed))[0] == 4
        # session, exercises + movements (selectin + join)
        assert (await _run(tiny_db, "session_exercises_eager", seed))[0] == 2


async def _program_shape(db: Database, program_id: int) -> tuple[int, int, int]:
    """(weeks, sessions, distinct movements) of a program, counted in SQL."""
    weeks = await _scalar(
        db, select(func.count()).select_from(Microcycle).where(Microcycle.program_id == program_id)
    )
    sessions = await _scalar(
        db,
        select(func.count()).select_from(TrainingSession).join(Microcycle)
        .where(Microcycle.program_id == program_id),
    )  # fmt: skip
    movements = await _scalar(
        db,
        select(func.count(distinct(SessionExercise.movement_id)))
        .join(TrainingSession).join(Microcycle)
        .where(Microcycle.program_id == program_id),
    )  # fmt: skip
    return weeks, sessions, movements


async def test_program_full_lazy_issues_one_statement_per_object_walked(tiny_db: Database) -> None:
    seen = set()
    for seed in range(1, 9):
        count, ints = await _run(tiny_db, "program_full_lazy", seed)
        program_id = ints[0]
        seen.add(program_id)
        weeks, sessions, movements = await _program_shape(tiny_db, program_id)
        assert weeks >= 8
        # program + its microcycles + one per week (sessions) + one per session
        # (exercises) + one per distinct movement (then the identity map has it)
        assert count == 1 + 1 + weeks + sessions + movements
    assert len(seen) > 1


async def test_session_exercises_lazy_issues_one_statement_per_distinct_movement(
    tiny_db: Database,
) -> None:
    for seed in SEEDS:
        count, ints = await _run(tiny_db, "session_exercises_lazy", seed)
        movements = await _scalar(
            tiny_db,
            select(func.count(distinct(SessionExercise.movement_id))).where(
                SessionExercise.session_id == ints[0]
            ),
        )
        assert movements >= 1
        assert count == 1 + 1 + movements


async def test_user_programs_statements_per_variant(tiny_db: Database) -> None:
    for seed in range(1, 11):
        lazy, ints = await _run(tiny_db, "user_programs_lazy", seed)
        eager, eager_ints = await _run(tiny_db, "user_programs_eager", seed)
        assert ints[0] == eager_ints[0]
        programs = await _scalar(
            tiny_db, select(func.count()).select_from(Program).where(Program.user_id == ints[0])
        )
        # user + programs + one per program (its microcycles)
        assert lazy == 2 + programs
        # user + programs + (microcycles of all programs, if there is any program)
        assert eager == 2 + (1 if programs else 0)


async def test_lazy_and_eager_variants_read_the_same_data(tiny_db: Database) -> None:
    for program_id in range(1, WORLD.programs.count + 1):
        async with UnitOfWork(tiny_db.read_sessions) as uow:
            lazy = await repo.load_program_lazy(uow, program_id)
            assert lazy is not None
            lazy_lines, lazy_volume = repo.render_program(lazy), repo.program_volume(lazy)
        async with UnitOfWork(tiny_db.read_sessions) as uow:
            eager = await uow.programs.get_full(program_id)
            assert eager is not None
            eager_lines, eager_volume = repo.render_program(eager), repo.program_volume(eager)
        volume = await _scalar(
            tiny_db,
            select(func.sum(SessionExercise.sets * SessionExercise.reps))
            .join(TrainingSession).join(Microcycle)
            .where(Microcycle.program_id == program_id),
        )  # fmt: skip
        assert lazy_volume == eager_volume == volume > 0
        # Compared as multisets: Microcycle.sessions is ordered by day_index alone,
        # and after the uow probe's reschedules (which move sessions between days)
        # two sessions of a week can share a day, whose order each query may pick.
        assert sorted(lazy_lines) == sorted(eager_lines)
        assert len(lazy_lines) == await _scalar(
            tiny_db,
            select(func.count()).select_from(SessionExercise).join(TrainingSession)
            .join(Microcycle).where(Microcycle.program_id == program_id),
        )  # fmt: skip

    for session_id in range(1, WORLD.sessions.count + 1, 7):
        async with UnitOfWork(tiny_db.read_sessions) as uow:
            lazy_session = await repo.load_session_lazy(uow, session_id)
            assert lazy_session is not None
            lazy_lines = repo.render_session(lazy_session)
        async with UnitOfWork(tiny_db.read_sessions) as uow:
            eager_session = await uow.sessions.get_with_exercises(session_id)
            assert eager_session is not None
            eager_lines = repo.render_session(eager_session)
        assert lazy_lines == eager_lines
        assert 4 <= len(lazy_lines) <= 6

    for user_id in range(1, WORLD.users.count + 1):
        async with UnitOfWork(tiny_db.read_sessions) as uow:
            lazy_programs = await repo.load_user_programs_lazy(uow, user_id)
            lazy_view = [(p.id, [w.id for w in p.microcycles]) for p in lazy_programs]
        async with UnitOfWork(tiny_db.read_sessions) as uow:
            eager_programs = await uow.programs.for_user_with_microcycles(user_id)
            eager_view = [(p.id, [w.id for w in p.microcycles]) for p in eager_programs]
        assert lazy_view == eager_view


async def test_generated_sessions_are_built_in_memory_and_never_written(
    tiny_db: Database,
) -> None:
    before = await _row_counts(tiny_db)
    for kind in repo.GENERATED_SESSION_TYPES:
        for seed in SEEDS:
            count, _ = await _run(tiny_db, f"generate_session_{kind}", seed)
            assert count == 1
            async with UnitOfWork(tiny_db.read_sessions) as uow:
                built = await repo.generate_session(uow, random.Random(seed), kind)
                assert not uow.session.new
                assert not uow.session.dirty
                assert built not in uow.session
                assert built.session_type == kind
                assert 4 <= len(built.exercises) <= 6
                movements = [e.movement for e in built.exercises]
                assert len({m.id for m in movements}) == len(movements)
                for m in movements:
                    assert m.is_active
                    assert m.primary_region in TYPE_REGIONS[kind]
                    assert m.pattern in repo.SESSION_PATTERNS[kind]
                assert [e.position for e in built.exercises] == list(range(len(movements)))
                await uow.commit()
    assert await _row_counts(tiny_db) == before


async def test_movement_queries_return_what_they_say(tiny_db: Database) -> None:
    async with UnitOfWork(tiny_db.read_sessions) as uow:
        every = await uow.movements.page(1, 10_000)
        assert [m.id for m in every] == list(range(1, WORLD.movements.count + 1))
        assert await uow.movements.total() == len(every)
        assert [m.id for m in await uow.movements.page(2, 20)] == list(range(21, 41))
        assert list(await uow.movements.active()) == [m for m in every if m.is_active]
        assert list(await uow.movements.by_pattern("squat")) == [
            m for m in every if m.pattern == "squat"
        ]
        assert list(await uow.movements.by_patterns(["squat", "core"])) == [
            m for m in every if m.pattern in ("squat", "core")
        ]
        assert list(await uow.movements.by_compound(False)) == [
            m for m in every if not m.is_compound
        ]
        assert list(await uow.movements.up_to_skill(2)) == [m for m in every if m.skill_level <= 2]
        assert list(await uow.movements.by_muscle("quads")) == [
            m for m in every if m.primary_muscle == "quads"
        ]
        assert list(await uow.movements.by_region("full")) == [
            m for m in every if m.primary_region == "full"
        ]
        assert list(
            await uow.movements.matching(
                patterns=["squat", "hinge"], region="lower", max_skill=3, active=True
            )
        ) == [
            m
            for m in every
            if m.pattern in ("squat", "hinge")
            and m.primary_region == "lower"
            and m.skill_level <= 3
            and m.is_active
        ]
        assert [m.id for m in await uow.movements.by_ids([5, 3, 999_999])] == [3, 5]
        squats = await uow.movements.search_name("SqUaT")
        assert squats
        assert list(squats) == [m for m in every if "squat" in m.name.lower()]
        assert list(await uow.movements.search_name("%")) == []
        assert list(await uow.movements.by_pattern_up_to_cns("hinge", 3)) == [
            m for m in every if m.pattern == "hinge" and m.cns_load <= 3
        ]
        counts = dict(await uow.movements.count_by_pattern())
        assert sum(counts.values()) == len(every)
        assert counts["squat"] == sum(m.pattern == "squat" for m in every)
        await uow.commit()


async def test_a_missing_row_asks_for_a_reseed(tiny_db: Database) -> None:
    far = repo.RepoWorld.dense(users=10**9, movements=10**9, programs=10**9, microcycles=10**9,
                         sessions=10**9)  # fmt: skip
    for name in (
        "movement_get", "movements_by_ids", "program_full_lazy", "program_full_eager",
        "user_programs_lazy", "user_programs_eager", "microcycle_sessions",
        "session_exercises_lazy", "session_exercises_eager",
    ):  # fmt: skip
        with pytest.raises(LookupError, match="reseed with `dbprobe seed`"):
            await _run(tiny_db, name, 1, far)
