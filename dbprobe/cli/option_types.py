"""Option types of the command line: text into checked values, or one clear argparse error.

Each type raises ``argparse.ArgumentTypeError`` with a message naming what
is wrong, so a bad value is one line and exit status 2 before anything runs.
Types whose parser lives in a heavier module (an SLO, a load profile, a uow
mix, a percentage) import it only when the option is given.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dbprobe.result.limits import MAX_MILLISECONDS, MAX_RATE_PER_S, MAX_SECONDS

__all__ = [
    "database_url",
    "fraction",
    "int_at_least",
    "int_between",
    "milliseconds",
    "mix",
    "non_negative_int",
    "output_path",
    "percent",
    "positive_int",
    "profile",
    "rate",
    "scales",
    "seconds",
    "slo",
    "whole_milliseconds",
]


def int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {value}")
        return value

    return parse


def int_between(minimum: int, maximum: int) -> Callable[[str], int]:
    """A whole number from ``minimum`` to ``maximum``."""
    at_least = int_at_least(minimum)

    def parse(text: str) -> int:
        value = at_least(text)
        if value > maximum:
            raise argparse.ArgumentTypeError(f"must be {maximum} or less, got {value}")
        return value

    return parse


positive_int = int_at_least(1)


non_negative_int = int_at_least(0)


#: Units a duration may carry, in milliseconds; a plain number is in the option's own
#: unit (seconds, or milliseconds for the -ms options and --latency-limit), as before.
_DURATION_UNITS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000}
_DURATION_EXAMPLES = "500ms, 2s, 1m or 3h"


def _duration(
    unit: str, allow_zero: bool, maximum: float, why: str, *, whole: bool = False
) -> Callable[[str], float]:
    """A finite duration in ``unit`` (seconds or milliseconds): a plain number, or one
    with a unit of :data:`_DURATION_UNITS`, positive (or 0 or more) and at most
    ``maximum`` of ``unit``. Infinity and NaN are refused with the rest
    (``--duration inf`` once overflowed after seeding)."""
    per_second = 1_000 if unit == "seconds" else 1

    def parse(text: str) -> float:
        # "ms" is tried before "s" and "m", which it ends with and starts with.
        suffix = next((u for u in _DURATION_UNITS if text.strip().endswith(u)), None)
        number = text.strip().removesuffix(suffix or "")
        try:
            value = float(number)
            if suffix is not None:  # whole milliseconds of the unit, divided once: 500ms is 0.5
                value = value * _DURATION_UNITS[suffix] / per_second
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {unit}, e.g. {_DURATION_EXAMPLES} (a plain number is {unit}), "
                f"got {text!r}"
            ) from None
        if value < 0 or (value == 0 and not allow_zero) or value != value:
            raise argparse.ArgumentTypeError(
                f"must be {'0 or more' if allow_zero else 'positive'}, got {text}"
            )
        if value > maximum:
            raise argparse.ArgumentTypeError(
                f"must be {maximum:,.0f} {unit} ({why}) or less, got {text}"
            )
        if whole and value != int(value):
            raise argparse.ArgumentTypeError(f"must be a whole number of {unit}, got {text}")
        return value

    return parse


def seconds(allow_zero: bool) -> Callable[[str], float]:
    """Seconds: ``5``, ``0.5``, or with a unit (``500ms``, ``2s``, ``1m``, ``3h``)."""
    return _duration("seconds", allow_zero, MAX_SECONDS, "30 days")


def milliseconds(allow_zero: bool) -> Callable[[str], float]:
    """Milliseconds: ``500``, or with a unit (``1.5ms``, ``2s``, ``1m``)."""
    return _duration("milliseconds", allow_zero, MAX_MILLISECONDS, "an hour")


def whole_milliseconds(minimum: int) -> Callable[[str], int]:
    """A whole number of milliseconds from ``minimum`` to an hour, or the same with a unit
    (``--hold-ms 1s``): the options that take it hand SQL and SQLite whole milliseconds."""
    parse_ms = _duration("milliseconds", minimum == 0, MAX_MILLISECONDS, "an hour", whole=True)

    def parse(text: str) -> int:
        value = int(parse_ms(text))
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {text}")
        return value

    return parse


def database_url(text: str) -> str:
    """``--db``: never empty. ``--db "$UNSET"`` meant dbprobe's own SQLite file, and
    ``clean --db "$UNSET"`` deleted it: a URL the user meant to give was missing."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            "an empty URL; give one (postgresql+asyncpg://user@host/db, "
            "sqlite+aiosqlite:///path), or omit --db for dbprobe's own SQLite file"
        )
    return text


def output_path(text: str) -> Path:
    """A path to write to; an empty one (``--json "$UNSET"``) would mean the current directory."""
    if not text:
        raise argparse.ArgumentTypeError("an empty path; give a file path")
    return Path(text)


def percent(text: str) -> float:
    """``1``, ``0.5`` or ``2%``: a percentage from 0 to 100, returned as a fraction (0.01)."""
    try:
        value = float(text.strip().removesuffix("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a percentage such as 1 or 0.5%, got {text!r}"
        ) from None
    if not 0 <= value <= 100:  # NaN fails this too
        raise argparse.ArgumentTypeError(f"must be between 0 and 100 (percent), got {text}")
    return value / 100


def slo(text: str) -> Any:
    from dbprobe.errors import ConfigError
    from dbprobe.gate.slo import parse_slo

    try:
        return parse_slo(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def mix(text: str) -> dict[str, int]:
    from dbprobe.errors import ConfigError
    from dbprobe.probes.uow import parse_mix

    try:
        return parse_mix(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def rate(text: str) -> float:
    try:
        value = float(text.removesuffix("/s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected operations per second, got {text!r}") from None
    if not value > 0:  # NaN fails this too
        raise argparse.ArgumentTypeError(
            f"must be a positive number of operations per second, got {text}"
        )
    if value > MAX_RATE_PER_S:
        # Beyond any rate one machine can start (see dbprobe.result.limits); 1e9 once
        # counted its missed arrivals one by one after the deadline, for ever.
        raise argparse.ArgumentTypeError(
            f"must be {MAX_RATE_PER_S:,.0f} operations per second or less, got {text}"
        )
    return value


def profile(text: str) -> Any:
    from dbprobe.errors import ConfigError
    from dbprobe.load.profiles import parse_profile

    try:
        return parse_profile(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def fraction(text: str) -> float:
    from dbprobe.errors import ConfigError
    from dbprobe.gate.thresholds import parse_fraction

    try:
        return parse_fraction(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def scales(text: str) -> tuple[str, ...]:
    from dbprobe.errors import ConfigError
    from dbprobe.probes.scaling import order_scales

    try:
        return order_scales([name.strip() for name in text.split(",") if name.strip()])
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
