"""The ``uow`` probe: Unit-of-Work transactions of the training planner.

Three transaction types in a weighted mix:

- ``create_program``: read the movement catalogue, build a program of 8-12
  weeks x 4-5 days with 4-6 exercises a session, write it (one INSERT per
  table, batched by SQLAlchemy's insertmanyvalues);
- ``reschedule_session``: read-modify-write of one session of a small *hot
  set*, row locked, so that concurrent workers really conflict;
- ``read_program``: a whole program with every level eagerly loaded.
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import select

from dbprobe.data.ids import IdSet, existing_ids
from dbprobe.database.engine import Database
from dbprobe.domain.models import Program, TrainingSession, User
from dbprobe.domain.planning import (
    REST_CHOICES_S,
    TYPE_REGIONS,
    build_program,
    estimated_minutes,
)
from dbprobe.errors import ConfigError
from dbprobe.gate.slo import SloCheck
from dbprobe.instrument.indexes import DEFAULT_MIN_ROWS
from dbprobe.instrument.nplusone import DEFAULT_THRESHOLD
from dbprobe.load.failures import DEFAULT_MAX_ERROR_RATE
from dbprobe.load.harness import ProbeHooks, TargetOptions
from dbprobe.load.operations import Operation, OperationContext
from dbprobe.load.phases import Workload
from dbprobe.load.plan import LoadPlan, RetryPolicy
from dbprobe.probes.workload import run_workload_probe
from dbprobe.result import options as choices
from dbprobe.result.config import UowConfig
from dbprobe.result.model import Report

__all__ = [
    "DEFAULT_MIX",
    "OPERATION_NAMES",
    "UowOptions",
    "UowWorld",
    "build_operations",
    "parse_mix",
    "run_uow",
    "uow_operations",
]

OPERATION_NAMES = ("create_program", "reschedule_session", "read_program")
DEFAULT_MIX: Mapping[str, int] = choices.DEFAULT_UOW_MIX
_ALL_REGIONS = sorted({r for regions in TYPE_REGIONS.values() for r in regions})


def parse_mix(text: str) -> dict[str, int]:
    """``"create_program=1,read_program=5"`` -> weights; unnamed types get weight 0."""
    mix: dict[str, int] = dict.fromkeys(OPERATION_NAMES, 0)
    for part in filter(None, (p.strip() for p in text.split(","))):
        m = re.fullmatch(r"([a-z_]+)\s*=\s*(\d+)", part)
        if m is None:
            raise ConfigError(
                f"cannot read --mix entry {part!r}: expected NAME=WEIGHT, e.g. read_program=6"
            )
        if m[1] not in mix:
            names = ", ".join(OPERATION_NAMES)
            raise ConfigError(f"unknown transaction type {m[1]!r} in --mix: choose from {names}")
        mix[m[1]] = int(m[2])
    return mix


@dataclass(frozen=True)
class UowOptions:
    """Options of the uow probe (validated; shared by the CLI and the pytest plugin)."""

    plan: LoadPlan
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    mix: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_MIX))
    hot_set: int = 20

    def __post_init__(self) -> None:
        if self.hot_set < 1:
            raise ConfigError(f"--hot-set must be at least 1, got {self.hot_set}")
        if any(w < 0 for w in self.mix.values()) or sum(self.mix.values()) == 0:
            raise ConfigError("--mix needs at least one transaction type with a positive weight")

    def as_config(self) -> UowConfig:
        return UowConfig(
            threads=self.plan.workers,
            transactions=self.plan.transactions_per_worker,
            duration_s=self.plan.duration_s,
            warmup_s=self.plan.warmup_s,
            mix=dict(self.mix),
            hot_set=self.hot_set,
            retries=self.retry.retries,
        )


@dataclass(frozen=True)
class UowWorld:
    """The rows the transactions pick from: ids that exist (see :mod:`dbprobe.data.ids`).

    ``hot_sessions`` are the first ``--hot-set`` sessions, which reschedules share.
    """

    users: IdSet
    programs: IdSet
    hot_sessions: IdSet

    @classmethod
    def dense(cls, users: int, programs: int, hot_sessions: int) -> UowWorld:
        """Ids 1..n of each, as a freshly seeded database holds them."""
        return cls(IdSet.dense(users), IdSet.dense(programs), IdSet.dense(hot_sessions))


def _pick(ids: IdSet, rng: random.Random, what: str) -> int:
    if not ids.count:
        raise LookupError(f"there are no {what}: reseed with `dbprobe seed`")
    return ids.pick(rng)


def build_operations(options: UowOptions, world: UowWorld) -> list[Operation]:
    """The weighted operations of the mix (types of weight 0 left out)."""
    return _operations(options.mix, world)


def _operations(mix: Mapping[str, int], world: UowWorld) -> list[Operation]:

    async def create_program(ctx: OperationContext) -> None:
        rng = ctx.rng
        weeks, days = rng.randint(8, 12), rng.randint(4, 5)
        async with ctx.unit_of_work(write=True) as uow:
            catalogue = await uow.movements.active_in_regions(_ALL_REGIONS)
            program = build_program(
                user_id=_pick(world.users, rng, "users"),
                weeks=weeks,
                days_per_week=days,
                catalogue=catalogue,
                rng=rng,
            )
            uow.programs.add(program)
            await uow.commit()

    async def reschedule_session(ctx: OperationContext) -> None:
        rng = ctx.rng
        session_id = _pick(world.hot_sessions, rng, "sessions")
        async with ctx.unit_of_work(write=True) as uow:
            session = await uow.sessions.get_for_update(session_id)
            if session is None:
                raise LookupError(f"session {session_id} is missing: reseed with `dbprobe seed`")
            # Move the session to the next day and change one rest period: two
            # rows written after reading them, the classic lost-update shape.
            session.day_index = (session.day_index + 1) % 5
            exercise = rng.choice(session.exercises)
            exercise.rest_s = rng.choice([r for r in REST_CHOICES_S if r != exercise.rest_s])
            session.estimated_minutes = estimated_minutes(
                [(e.sets, e.reps, e.rest_s) for e in session.exercises]
            )
            await uow.commit()

    async def read_program(ctx: OperationContext) -> None:
        program_id = _pick(world.programs, ctx.rng, "programs")
        async with ctx.unit_of_work(write=False) as uow:
            program = await uow.programs.get_full(program_id)
            if program is None:
                raise LookupError(f"program {program_id} is missing: reseed with `dbprobe seed`")
            # Walk the whole tree as a caller rendering the program would:
            # every exercise with its movement's name (the joined eager load).
            [
                (e.movement.name, e.sets, e.reps)
                for w in program.microcycles
                for s in w.sessions
                for e in s.exercises
            ]
            await uow.commit()

    available = {
        "create_program": create_program,
        "reschedule_session": reschedule_session,
        "read_program": read_program,
    }
    return [
        Operation(name, mix.get(name, 0), available[name])
        for name in OPERATION_NAMES
        if mix.get(name, 0) > 0
    ]


async def _uow_world(db: Database, hot_set: int) -> UowWorld:
    async with db.engine.connect() as conn:
        users = await existing_ids(conn, User.id)
        programs = await existing_ids(conn, Program.id)
        first = select(TrainingSession.id).order_by(TrainingSession.id).limit(hot_set)
        hot = IdSet.of(int(i) for i in (await conn.execute(first)).scalars())
        await conn.rollback()
    return UowWorld(users=users, programs=programs, hot_sessions=hot)


async def uow_operations(db: Database, mix: Mapping[str, int], hot_set: int) -> list[Operation]:
    """The mix's operations on the rows ``db`` holds, for a load generator of its own (Locust).

    The mix is checked as :class:`UowOptions` checks it (ConfigError).
    """
    if hot_set < 1:
        raise ConfigError(f"--hot-set must be at least 1, got {hot_set}")
    if any(w < 0 for w in mix.values()) or sum(mix.values()) == 0:
        raise ConfigError("--mix needs at least one transaction type with a positive weight")
    return _operations(mix, await _uow_world(db, hot_set))


@dataclass(frozen=True)
class _UowBuild:
    """The uow probe's operations (module-level: it pickles, for processes > 1)."""

    probe_options: UowOptions

    async def __call__(self, db: Database) -> Workload:
        world = await _uow_world(db, self.probe_options.hot_set)
        return Workload(tuple(build_operations(self.probe_options, world)))


async def run_uow(
    options: TargetOptions,
    probe_options: UowOptions,
    *,
    slos: Sequence[SloCheck] = (),
    stop: asyncio.Event | None = None,
    argv: Sequence[str] = (),
    hooks: ProbeHooks | None = None,
    n_plus_one_threshold: int = DEFAULT_THRESHOLD,
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE,
    explain: bool = False,
    explain_min_rows: int = DEFAULT_MIN_ROWS,
    explain_analyze: bool = False,
) -> Report:
    """Run the uow probe against ``options.target``; seeds first if needed."""
    return await run_workload_probe(
        "uow",
        options,
        probe_options.as_config(),
        _UowBuild(probe_options),
        probe_options.plan,
        probe_options.retry,
        n_plus_one_threshold=n_plus_one_threshold,
        slos=slos,
        stop=stop or asyncio.Event(),
        argv=argv,
        hooks=hooks or ProbeHooks(),
        max_error_rate=max_error_rate,
        explain=explain,
        explain_min_rows=explain_min_rows,
        explain_analyze=explain_analyze,
    )
