"""The ``repo`` probe: a catalogue of repository query shapes, timed and counted one by one.

Each catalogue entry is one read transaction running one query shape of the
repositories (:mod:`dbprobe.domain.repositories`) and touching its results as a
caller rendering them would:

- the movement catalogue: by id, by filters (pattern, several patterns,
  compound, skill, muscle, region, several filters at once), by ids, by name
  (case-insensitive substring), grouped counts, pages and the total - one
  statement each;
- programs and sessions in two variants: ``eager`` (selectinload/joinedload,
  a fixed number of statements) and ``lazy`` (the parent alone, then each
  relationship awaited object by object through ``awaitable_attrs``: the N+1
  shape, on purpose, so that N+1 detection has something to find);
- session generation: read the movements a session type draws from, build a
  session in memory (nothing is written).

The lazy walks live here rather than in the repositories: a repository's
method issues a fixed number of statements, and the walk is the caller's
doing, which is exactly what the probe means to measure.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from dbprobe.data.ids import IdSet, existing_ids
from dbprobe.database.engine import Database
from dbprobe.domain.models import (
    Microcycle,
    Movement,
    Program,
    SessionExercise,
    TrainingSession,
    User,
)
from dbprobe.domain.planning import REST_CHOICES_S, TYPE_REGIONS, estimated_minutes
from dbprobe.domain.uow import UnitOfWork
from dbprobe.errors import ConfigError
from dbprobe.load.operations import OperationContext

__all__ = [
    "GENERATED_SESSION_TYPES",
    "MUSCLES",
    "NAME_TERMS",
    "PATTERNS",
    "REGIONS",
    "REGION_PATTERNS",
    "SESSION_PATTERNS",
    "CatalogueEntry",
    "RepoWorld",
    "catalogue",
    "generate_session",
    "load_program_lazy",
    "load_session_lazy",
    "load_user_programs_lazy",
    "program_volume",
    "render_program",
    "render_session",
    "repo_world",
    "select_entries",
]

# What the seeded catalogue holds (seeds/catalogue.toml): the probe draws its
# query arguments from these, so that most queries find rows.
REGION_PATTERNS: dict[str, tuple[str, ...]] = {
    "upper": ("horizontal_push", "vertical_push", "horizontal_pull", "vertical_pull"),
    "lower": ("squat", "hinge", "lunge"),
    "full": ("carry", "conditioning"),
    "core": ("core",),
}
PATTERNS: tuple[str, ...] = tuple(p for ps in REGION_PATTERNS.values() for p in ps)
REGIONS: tuple[str, ...] = tuple(REGION_PATTERNS)
MUSCLES: tuple[str, ...] = (
    "quads", "hamstrings", "glutes", "chest", "triceps", "shoulders", "lats",
    "upper_back", "biceps", "forearms", "obliques", "traps", "abs", "full_body",
)  # fmt: skip
NAME_TERMS: tuple[str, ...] = ("squat", "press", "row", "deadlift", "carry", "pull", "lunge")

GENERATED_SESSION_TYPES = ("upper", "lower", "recovery")

#: The patterns each generated session type draws from (within its TYPE_REGIONS).
SESSION_PATTERNS: dict[str, tuple[str, ...]] = {
    "upper": (*REGION_PATTERNS["upper"], "core"),
    "lower": (*REGION_PATTERNS["lower"], "core"),
    "recovery": ("core", "carry", "conditioning"),
}

PAGE_SIZE = 20
ACTIVE_PROGRAMS_LIMIT = 20
IDS_PER_LOOKUP = 10


@dataclass(frozen=True)
class RepoWorld:
    """The ids each table the catalogue reads holds (see :mod:`dbprobe.data.ids`)."""

    users: IdSet
    movements: IdSet
    programs: IdSet
    microcycles: IdSet
    sessions: IdSet

    @classmethod
    def dense(
        cls, users: int, movements: int, programs: int, microcycles: int, sessions: int
    ) -> RepoWorld:
        """Ids 1..n of each table, as a freshly seeded database holds them."""
        return cls(
            IdSet.dense(users),
            IdSet.dense(movements),
            IdSet.dense(programs),
            IdSet.dense(microcycles),
            IdSet.dense(sessions),
        )


@dataclass(frozen=True)
class CatalogueEntry:
    """One query shape of the catalogue: a read transaction run as an operation."""

    name: str
    description: str
    variant: str  # "lazy", "eager" or "" (a single shape)
    run: Callable[[OperationContext], Awaitable[None]]


async def repo_world(db: Database) -> RepoWorld:
    """The ids of the seeded tables (and of rows added since), read in one connection."""
    async with db.engine.connect() as conn:
        ids = [
            await existing_ids(conn, column)
            for column in (User.id, Movement.id, Program.id, Microcycle.id, TrainingSession.id)
        ]
        await conn.rollback()
    users, movements, programs, microcycles, sessions = ids
    return RepoWorld(
        users=users,
        movements=movements,
        programs=programs,
        microcycles=microcycles,
        sessions=sessions,
    )


def select_entries(
    entries: Sequence[CatalogueEntry], only: Sequence[str]
) -> tuple[CatalogueEntry, ...]:
    """The entries named in ``only``, in catalogue order; all of them when ``only`` is empty.

    An unknown name is a ConfigError listing the known names.
    """
    if not only:
        return tuple(entries)
    known = [e.name for e in entries]
    for name in only:
        if name not in known:
            raise ConfigError(
                f"unknown catalogue entry {name!r} in --only: choose from {', '.join(known)}"
            )
    wanted = set(only)
    return tuple(e for e in entries if e.name in wanted)


# -- reading and rendering ------------------------------------------------------


def _missing(what: str, ident: int) -> LookupError:
    return LookupError(f"{what} {ident} is missing: reseed with `dbprobe seed`")


def _pick_id(rng: random.Random, ids: IdSet, what: str) -> int:
    if not ids.count:
        raise LookupError(f"there are no {what}: reseed with `dbprobe seed`")
    return ids.pick(rng)


def _show(lines: Sequence[str]) -> int:
    """Stand-in for writing rendered lines out: the characters a caller would print."""
    return sum(len(line) for line in lines)


def _render_movements(movements: Sequence[Movement]) -> list[str]:
    return [
        f"{m.id:>5} {m.name} ({m.pattern}, {m.primary_region}, {m.primary_muscle}, "
        f"skill {m.skill_level}, cns {m.cns_load}{', compound' if m.is_compound else ''})"
        for m in movements
    ]


async def load_program_lazy(uow: UnitOfWork, program_id: int) -> Program | None:
    """A program read the N+1 way: the program alone, then each relationship awaited.

    Statements: 1 (program) + 1 (its weeks) + one per week (sessions) + one per
    session (exercises) + one per distinct movement not yet in the session's
    identity map (a many-to-one lazy load is an identity-map lookup first).
    """
    program = await uow.programs.get(program_id)
    if program is None:
        return None
    for week in await program.awaitable_attrs.microcycles:
        for day in await week.awaitable_attrs.sessions:
            for exercise in await day.awaitable_attrs.exercises:
                await exercise.awaitable_attrs.movement
    return program


def render_program(program: Program) -> list[str]:
    """One line per exercise of a loaded program (every level must be loaded already)."""
    return [
        f"{program.name} | week {week.week_index + 1} day {day.day_index + 1} "
        f"({day.session_type}, {day.estimated_minutes} min) | {exercise.position + 1}. "
        f"{exercise.movement.name} {exercise.sets}x{exercise.reps} rest {exercise.rest_s}s"
        for week in program.microcycles
        for day in week.sessions
        for exercise in day.exercises
    ]


def program_volume(program: Program) -> int:
    """Total sets x reps of a loaded program."""
    return sum(
        e.sets * e.reps for w in program.microcycles for s in w.sessions for e in s.exercises
    )


async def load_user_programs_lazy(uow: UnitOfWork, user_id: int) -> Sequence[Program]:
    """A user's programs, then each program's weeks awaited: 1 + one per program."""
    programs = await uow.programs.for_user(user_id)
    for program in programs:
        await program.awaitable_attrs.microcycles
    return programs


def _render_user_programs(user: User, programs: Sequence[Program]) -> list[str]:
    return [
        f"{user.name} <{user.email}> | {p.name} ({'active' if p.is_active else 'archived'}): "
        f"{len(p.microcycles)} weeks x {p.days_per_week} days"
        for p in programs
    ]


async def load_session_lazy(uow: UnitOfWork, session_id: int) -> TrainingSession | None:
    """A session, then its exercises, then each exercise's movement, awaited one by one.

    Statements: 1 + 1 + one per distinct movement of its exercises.
    """
    session = await uow.sessions.get(session_id)
    if session is None:
        return None
    for exercise in await session.awaitable_attrs.exercises:
        await exercise.awaitable_attrs.movement
    return session


def render_session(session: TrainingSession) -> list[str]:
    """One line per exercise of a session whose exercises and movements are loaded."""
    return [
        f"day {session.day_index + 1} ({session.session_type}) | {e.position + 1}. "
        f"{e.movement.name} [{e.movement.pattern}] {e.sets}x{e.reps} rest {e.rest_s}s"
        for e in session.exercises
    ]


async def generate_session(uow: UnitOfWork, rng: random.Random, kind: str) -> TrainingSession:
    """A new session of type ``kind`` built in memory from the catalogue. One statement.

    Reads the active movements of the type's regions and patterns, picks 4 to
    6 of them spread over the patterns, and builds a TrainingSession with its
    SessionExercises. Nothing is added to the ORM session: nothing is written.
    """
    pool = await uow.movements.active_for_session(TYPE_REGIONS[kind], SESSION_PATTERNS[kind])
    if not pool:
        raise LookupError(f"no active movement for a {kind} session: reseed with `dbprobe seed`")
    by_pattern: dict[str, list[Movement]] = {}
    for movement in pool:
        by_pattern.setdefault(movement.pattern, []).append(movement)
    wanted = min(rng.randint(4, 6), len(pool))
    patterns = sorted(by_pattern)
    rng.shuffle(patterns)
    chosen: list[Movement] = []
    while len(chosen) < wanted:  # one movement per pattern in turn, then round again
        for pattern in patterns:
            left = [m for m in by_pattern[pattern] if m not in chosen]
            if left and len(chosen) < wanted:
                chosen.append(rng.choice(left))
    exercises = [
        SessionExercise(
            movement_id=movement.id,
            movement=movement,
            position=position,
            sets=rng.randint(2, 5),
            reps=rng.randint(3, 12),
            rest_s=rng.choice(REST_CHOICES_S),
        )
        for position, movement in enumerate(chosen)
    ]
    return TrainingSession(
        day_index=0,
        session_type=kind,
        estimated_minutes=estimated_minutes([(e.sets, e.reps, e.rest_s) for e in exercises]),
        exercises=exercises,
    )


# -- the catalogue --------------------------------------------------------------


def catalogue(world: RepoWorld) -> tuple[CatalogueEntry, ...]:
    """Every entry of the catalogue, in a stable order; arguments drawn within ``world``."""
    entries: list[CatalogueEntry] = []

    Run = Callable[[OperationContext], Awaitable[None]]

    def entry(name: str, description: str, variant: str = "") -> Callable[[Run], Run]:
        """Decorator: add the decorated ``run`` to the catalogue under ``name``."""

        def register(run: Run) -> Run:
            entries.append(CatalogueEntry(name, description, variant, run))
            return run

        return register

    def movements_entry(
        name: str,
        description: str,
        query: Callable[[UnitOfWork, random.Random], Awaitable[Sequence[Movement]]],
    ) -> None:
        async def run(ctx: OperationContext) -> None:
            async with ctx.unit_of_work(write=False) as uow:
                _show(_render_movements(await query(uow, ctx.rng)))
                await uow.commit()

        entries.append(CatalogueEntry(name, description, "", run))

    # -- movements ---------------------------------------------------------------

    @entry("movement_get", "one movement by id")
    async def movement_get(ctx: OperationContext) -> None:
        movement_id = _pick_id(ctx.rng, world.movements, "movements")
        async with ctx.unit_of_work(write=False) as uow:
            movement = await uow.movements.get(movement_id)
            if movement is None:
                raise _missing("movement", movement_id)
            _show(_render_movements([movement]))
            await uow.commit()

    movements_entry(
        "movements_active",
        "every active movement",
        lambda uow, rng: uow.movements.active(),
    )
    movements_entry(
        "movements_by_pattern",
        "movements of one pattern",
        lambda uow, rng: uow.movements.by_pattern(rng.choice(PATTERNS)),
    )
    movements_entry(
        "movements_by_patterns",
        "movements of any of three patterns (IN)",
        lambda uow, rng: uow.movements.by_patterns(rng.sample(PATTERNS, 3)),
    )
    movements_entry(
        "movements_compound",
        "compound or isolation movements",
        lambda uow, rng: uow.movements.by_compound(rng.random() < 0.5),
    )
    movements_entry(
        "movements_by_skill",
        "movements up to a skill level",
        lambda uow, rng: uow.movements.up_to_skill(rng.randint(1, 5)),
    )
    movements_entry(
        "movements_by_muscle",
        "movements of one primary muscle",
        lambda uow, rng: uow.movements.by_muscle(rng.choice(MUSCLES)),
    )
    movements_entry(
        "movements_by_region",
        "movements of one primary region",
        lambda uow, rng: uow.movements.by_region(rng.choice(REGIONS)),
    )

    def multi_filter(uow: UnitOfWork, rng: random.Random) -> Awaitable[Sequence[Movement]]:
        region = rng.choice(REGIONS)
        own = REGION_PATTERNS[region]
        patterns = rng.sample(own, min(2, len(own)))
        return uow.movements.matching(
            patterns=patterns, region=region, max_skill=rng.randint(2, 5), active=True
        )

    movements_entry(
        "movements_multi_filter",
        "active movements by patterns (IN), region and maximum skill at once",
        multi_filter,
    )

    @entry("movements_by_ids", f"{IDS_PER_LOOKUP} movements by id (IN)")
    async def movements_by_ids(ctx: OperationContext) -> None:
        if not world.movements.count:
            raise LookupError("there are no movements: reseed with `dbprobe seed`")
        ids = world.movements.sample(ctx.rng, min(IDS_PER_LOOKUP, world.movements.count))
        async with ctx.unit_of_work(write=False) as uow:
            movements = await uow.movements.by_ids(ids)
            if len(movements) < len(ids):
                missing = sorted(set(ids) - {m.id for m in movements})
                raise _missing("movement", missing[0])
            _show(_render_movements(movements))
            await uow.commit()

    movements_entry(
        "movements_search_name",
        "movements whose name contains a term, ignoring case (ILIKE)",
        lambda uow, rng: uow.movements.search_name(rng.choice(NAME_TERMS)),
    )
    movements_entry(
        "movements_search_pattern_cns",
        "movements of one pattern up to a CNS load",
        lambda uow, rng: uow.movements.by_pattern_up_to_cns(
            rng.choice(PATTERNS), rng.randint(1, 5)
        ),
    )

    @entry("movements_count_by_pattern", "number of movements per pattern (GROUP BY)")
    async def movements_count_by_pattern(ctx: OperationContext) -> None:
        async with ctx.unit_of_work(write=False) as uow:
            rows = await uow.movements.count_by_pattern()
            _show([f"{pattern}: {count}" for pattern, count in rows])
            await uow.commit()

    movements_entry(
        "movements_page_1",
        f"first page of {PAGE_SIZE} movements (LIMIT)",
        lambda uow, rng: uow.movements.page(1, PAGE_SIZE),
    )
    movements_entry(
        "movements_page_2",
        f"second page of {PAGE_SIZE} movements (LIMIT/OFFSET)",
        lambda uow, rng: uow.movements.page(2, PAGE_SIZE),
    )

    @entry("movements_total", "number of movements (COUNT)")
    async def movements_total(ctx: OperationContext) -> None:
        async with ctx.unit_of_work(write=False) as uow:
            _show([f"{await uow.movements.total()} movements"])
            await uow.commit()

    # -- programs ----------------------------------------------------------------

    @entry(
        "program_full_lazy",
        "a program, then each week, session, exercise's movement awaited (N+1)",
        "lazy",
    )
    async def program_full_lazy(ctx: OperationContext) -> None:
        program_id = _pick_id(ctx.rng, world.programs, "programs")
        async with ctx.unit_of_work(write=False) as uow:
            program = await load_program_lazy(uow, program_id)
            if program is None:
                raise _missing("program", program_id)
            _show([*render_program(program), f"volume {program_volume(program)} reps"])
            await uow.commit()

    @entry(
        "program_full_eager",
        "a program with weeks, sessions, exercises and movements (selectinload)",
        "eager",
    )
    async def program_full_eager(ctx: OperationContext) -> None:
        program_id = _pick_id(ctx.rng, world.programs, "programs")
        async with ctx.unit_of_work(write=False) as uow:
            program = await uow.programs.get_full(program_id)
            if program is None:
                raise _missing("program", program_id)
            _show([*render_program(program), f"volume {program_volume(program)} reps"])
            await uow.commit()

    @entry("user_programs_lazy", "a user's programs, then each one's weeks awaited", "lazy")
    async def user_programs_lazy(ctx: OperationContext) -> None:
        user_id = _pick_id(ctx.rng, world.users, "users")
        async with ctx.unit_of_work(write=False) as uow:
            user = await uow.users.get(user_id)
            if user is None:
                raise _missing("user", user_id)
            _show(_render_user_programs(user, await load_user_programs_lazy(uow, user_id)))
            await uow.commit()

    @entry("user_programs_eager", "a user's programs with their weeks (selectinload)", "eager")
    async def user_programs_eager(ctx: OperationContext) -> None:
        user_id = _pick_id(ctx.rng, world.users, "users")
        async with ctx.unit_of_work(write=False) as uow:
            user = await uow.users.get(user_id)
            if user is None:
                raise _missing("user", user_id)
            programs = await uow.programs.for_user_with_microcycles(user_id)
            _show(_render_user_programs(user, programs))
            await uow.commit()

    @entry("programs_active", f"the first {ACTIVE_PROGRAMS_LIMIT} active programs")
    async def programs_active(ctx: OperationContext) -> None:
        async with ctx.unit_of_work(write=False) as uow:
            programs = await uow.programs.active(ACTIVE_PROGRAMS_LIMIT)
            _show([f"{p.id} {p.name}: {p.weeks}x{p.days_per_week}" for p in programs])
            await uow.commit()

    # -- sessions ----------------------------------------------------------------

    @entry("microcycle_sessions", "the sessions of one week, by day")
    async def microcycle_sessions(ctx: OperationContext) -> None:
        microcycle_id = _pick_id(ctx.rng, world.microcycles, "microcycles")
        async with ctx.unit_of_work(write=False) as uow:
            sessions = await uow.sessions.for_microcycle(microcycle_id)
            if not sessions:
                raise _missing("microcycle (or its sessions)", microcycle_id)
            _show(
                [
                    f"day {s.day_index + 1}: {s.session_type}, {s.estimated_minutes} min"
                    for s in sessions
                ]
            )
            await uow.commit()

    @entry(
        "session_exercises_lazy",
        "a session, then its exercises, then each movement awaited (N+1)",
        "lazy",
    )
    async def session_exercises_lazy(ctx: OperationContext) -> None:
        session_id = _pick_id(ctx.rng, world.sessions, "sessions")
        async with ctx.unit_of_work(write=False) as uow:
            session = await load_session_lazy(uow, session_id)
            if session is None:
                raise _missing("session", session_id)
            _show(render_session(session))
            await uow.commit()

    @entry(
        "session_exercises_eager",
        "a session with its exercises (selectinload) and movements (joined)",
        "eager",
    )
    async def session_exercises_eager(ctx: OperationContext) -> None:
        session_id = _pick_id(ctx.rng, world.sessions, "sessions")
        async with ctx.unit_of_work(write=False) as uow:
            session = await uow.sessions.get_with_exercises(session_id)
            if session is None:
                raise _missing("session", session_id)
            _show(render_session(session))
            await uow.commit()

    # -- generation --------------------------------------------------------------

    def generator(kind: str) -> Callable[[OperationContext], Awaitable[None]]:
        async def run(ctx: OperationContext) -> None:
            async with ctx.unit_of_work(write=False) as uow:
                _show(render_session(await generate_session(uow, ctx.rng, kind)))
                await uow.commit()

        return run

    for kind in GENERATED_SESSION_TYPES:
        entries.append(
            CatalogueEntry(
                f"generate_session_{kind}",
                f"build a {kind} session in memory from the catalogue (nothing written)",
                "",
                generator(kind),
            )
        )

    return tuple(entries)
