"""How a training program is laid out: shared by the seed generator, the probes and examples."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence

from dbprobe.domain.models import Microcycle, Movement, Program, SessionExercise, TrainingSession

__all__ = ["DAY_TYPES", "REST_CHOICES_S", "TYPE_REGIONS", "build_program", "estimated_minutes"]

#: Rest periods a prescription may use.
REST_CHOICES_S = (60, 90, 120, 180)

#: Session type of each day, by the number of training days in a week.
DAY_TYPES: dict[int, tuple[str, ...]] = {
    4: ("upper", "lower", "upper", "lower"),
    5: ("upper", "lower", "full", "upper", "recovery"),
}

#: The movement regions each session type draws its exercises from.
TYPE_REGIONS: dict[str, tuple[str, ...]] = {
    "upper": ("upper", "core"),
    "lower": ("lower", "core"),
    "full": ("upper", "lower", "full"),
    "recovery": ("core", "full"),
}


def estimated_minutes(prescriptions: list[tuple[int, int, int]]) -> int:
    """Minutes a session takes: four seconds a rep plus the rest, for each (sets, reps, rest_s)."""
    return sum(sets * (reps * 4 + rest_s) for sets, reps, rest_s in prescriptions) // 60


def build_program(
    *,
    user_id: int,
    weeks: int,
    days_per_week: int,
    catalogue: Sequence[Movement],
    rng: random.Random,
) -> Program:
    """A new program (not yet added to a session) of ``weeks`` x ``days_per_week`` sessions.

    Each session draws 4-6 exercises from the active movements of ``catalogue``
    in the regions its type trains (see TYPE_REGIONS).
    """
    pools = {
        kind: [m.id for m in catalogue if m.primary_region in regions]
        for kind, regions in TYPE_REGIONS.items()
    }
    program = Program(
        user_id=user_id,
        name=f"Generated {weeks}x{days_per_week}",
        weeks=weeks,
        days_per_week=days_per_week,
        is_active=True,
        created_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
    )
    for week in range(weeks):
        cycle = Microcycle(week_index=week)
        for day, kind in enumerate(DAY_TYPES[days_per_week]):
            exercises = [
                SessionExercise(
                    movement_id=rng.choice(pools[kind]),
                    position=position,
                    sets=rng.randint(2, 5),
                    reps=rng.randint(3, 12),
                    rest_s=rng.choice(REST_CHOICES_S),
                )
                for position in range(rng.randint(4, 6))
            ]
            cycle.sessions.append(
                TrainingSession(
                    day_index=day,
                    session_type=kind,
                    estimated_minutes=estimated_minutes(
                        [(e.sets, e.reps, e.rest_s) for e in exercises]
                    ),
                    exercises=exercises,
                )
            )
        program.microcycles.append(cycle)
    return program
