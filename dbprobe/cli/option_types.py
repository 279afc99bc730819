"""Option types of the command line: text into checked values, or one clear argparse error.

Each type raises ``argparse.ArgumentTypeError`` with a message naming what
is wrong, so a bad value is one line and exit status 2 before anything runs.
Types whose parser lives in a heavier module (an SLO, a load profile, a uow
mix, a percentage) import it only when the option is given.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

__all__ = [
    "fraction",
    "int_at_least",
    "int_between",
    "mix",
    "non_negative_int",
    "percent",
    "positive_int",
    "profile",
    "rate",
    "seconds",
    "slo",
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


def seconds(allow_zero: bool) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text.removesuffix("s"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected seconds, e.g. 5 or 0.5, got {text!r}"
            ) from None
        if value < 0 or (value == 0 and not allow_zero) or value != value:
            raise argparse.ArgumentTypeError(
                f"must be {'0 or more' if allow_zero else 'positive'}, got {text}"
            )
        return value

    return parse


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
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(
            f"must be a positive number of operations per second, got {text}"
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
