"""How a training week is laid out: shared by the seed generator and the probes."""

from __future__ import annotations

__all__ = ["DAY_TYPES", "TYPE_REGIONS", "estimated_minutes"]

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
