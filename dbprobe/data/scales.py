"""The named sizes of the reference domain, read from ``seeds/`` (installed as ``dbprobe.seeds``).

Read through importlib.resources, so a wheel and an editable install find
them alike, whatever the current directory.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from dbprobe.errors import ConfigError
from dbprobe.result.options import SCALE_NAMES

__all__ = ["Scale", "load_scale", "read_seed_file"]


@dataclass(frozen=True)
class Scale:
    """A named size of the reference domain (seeds/scales.toml)."""

    name: str
    users: int
    movements: int
    programs: int
    accounts: int
    weeks: tuple[int, int]
    days_per_week: tuple[int, int]
    exercises_per_session: tuple[int, int]
    initial_balance_cents: int


def read_seed_file(name: str) -> dict[str, Any]:
    text = resources.files("dbprobe.seeds").joinpath(name).read_text(encoding="utf-8")
    return tomllib.loads(text)


def load_scale(name: str) -> Scale:
    """The scale called ``name``; an unknown name is a ConfigError listing the known ones."""
    data = read_seed_file("scales.toml")
    if name not in data or name == "shape":
        raise ConfigError(f"unknown scale {name!r}: choose one of {', '.join(SCALE_NAMES)}")
    size, shape = data[name], data["shape"]
    return Scale(
        name=name,
        users=size["users"],
        movements=size["movements"],
        programs=size["programs"],
        accounts=size["accounts"],
        weeks=tuple(shape["weeks"]),
        days_per_week=tuple(shape["days_per_week"]),
        exercises_per_session=tuple(shape["exercises_per_session"]),
        initial_balance_cents=shape["initial_balance_cents"],
    )
