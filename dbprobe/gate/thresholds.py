"""What the regression gate compares, and from how much worse a change is a regression.

``--metric`` (:class:`Metric`), the three levels of a regression
(:class:`Level`: minor, warning, critical) and their thresholds, default and
per operation, parsed from the CLI's percentages. Pure values.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dbprobe.errors import ConfigError

__all__ = [
    "Level",
    "Levels",
    "Metric",
    "Thresholds",
    "levels_from_options",
    "parse_fraction",
    "parse_operation_threshold",
]


class Metric(enum.StrEnum):
    """What is compared: a latency percentile, or throughput."""

    P50 = "p50"
    P95 = "p95"
    P99 = "p99"
    THROUGHPUT = "throughput"

    @property
    def quantile(self) -> float | None:
        return {"p50": 0.50, "p95": 0.95, "p99": 0.99}.get(self.value)

    @property
    def unit(self) -> str:
        return "tx/s" if self is Metric.THROUGHPUT else "ms"

    @property
    def higher_is_better(self) -> bool:
        return self is Metric.THROUGHPUT


class Level(enum.StrEnum):
    """How bad a regression is; ordered minor < warning < critical."""

    MINOR = "minor"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _LEVEL_ORDER.index(self)


_LEVEL_ORDER = (Level.MINOR, Level.WARNING, Level.CRITICAL)


@dataclass(frozen=True)
class Levels:
    """Thresholds of the three levels, as fractions (0.10 = 10 % worse)."""

    minor: float = 0.10
    warning: float = 0.20
    critical: float = 0.50

    def __post_init__(self) -> None:
        if not 0 < self.minor <= self.warning <= self.critical:
            raise ConfigError(
                "thresholds must satisfy 0 < minor <= warning <= critical, got "
                f"{self.minor:.0%}, {self.warning:.0%}, {self.critical:.0%}"
            )

    def level_of(self, worse: float) -> Level | None:
        """The level of a change that is ``worse`` times as bad (1.15 = 15 % worse)."""
        for level, bound in (
            (Level.CRITICAL, self.critical),
            (Level.WARNING, self.warning),
            (Level.MINOR, self.minor),
        ):
            # A hair of tolerance: 1.15 computed from values 1.15x apart may
            # come out as 1.1499999 in binary floating point.
            if worse >= 1 + bound - 1e-9:
                return level
        return None


@dataclass(frozen=True)
class Thresholds:
    """The default levels, and levels of their own for some operations."""

    default: Levels = field(default_factory=Levels)
    per_operation: Mapping[str, Levels] = field(default_factory=dict)

    def for_operation(self, name: str) -> Levels:
        return self.per_operation.get(name, self.default)


def parse_fraction(text: str) -> float:
    """``"10%"``, ``"10"`` (percent) or ``"0.1"`` (below 1: a fraction) -> 0.10."""
    raw = text.strip()
    try:
        value = float(raw.removesuffix("%"))
    except ValueError:
        raise ConfigError(f"expected a percentage such as 10%, got {text!r}") from None
    if not raw.endswith("%") and value < 1:
        value *= 100
    if not 0 < value < 10_000 or math.isnan(value):
        raise ConfigError(f"a threshold must be a positive percentage, got {text!r}")
    return value / 100


def parse_operation_threshold(text: str, default: Levels) -> tuple[str, Levels]:
    """``NAME=MINOR`` or ``NAME=MINOR/WARNING/CRITICAL``, e.g. ``read_program=25%``.

    With one value, warning and critical keep their defaults unless they fall
    below it, in which case they are raised to it.
    """
    name, sep, spec = text.partition("=")
    if not sep or not name.strip() or not spec.strip():
        raise ConfigError(f"expected NAME=PERCENT such as read_program=25%, got {text!r}")
    parts = [parse_fraction(p) for p in spec.split("/")]
    if len(parts) == 1:
        minor = parts[0]
        warning = max(default.warning, minor)
        return name.strip(), Levels(minor, warning, max(default.critical, warning))
    if len(parts) == 3:
        return name.strip(), Levels(*parts)
    raise ConfigError(f"expected NAME=MINOR or NAME=MINOR/WARNING/CRITICAL, got {text!r}")


def levels_from_options(
    threshold: float | None = None,
    warn: float | None = None,
    critical: float | None = None,
    per_operation: Sequence[str] = (),
) -> Thresholds:
    """Thresholds from the CLI's ``--threshold/--warn/--critical/--threshold-for`` values."""
    default = Levels()
    levels = Levels(
        threshold if threshold is not None else default.minor,
        warn if warn is not None else max(default.warning, threshold or 0),
        critical if critical is not None else max(default.critical, warn or 0, threshold or 0),
    )
    overrides = dict(parse_operation_threshold(text, levels) for text in per_operation)
    return Thresholds(levels, overrides)
