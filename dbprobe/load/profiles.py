"""Load profiles: how the arrival rate of an open-loop run changes over its duration (pure).

A profile is a shape; the peak rate (``--rate``) and the duration come from the
load plan. Each shape is a sequence of :class:`Segment` s with a linearly
changing rate, which is all the arrival schedule needs
(:mod:`dbprobe.load.arrivals` inverts their cumulative count exactly):

- ``steady``: ``R`` for the whole run;
- ``ramp``: from ``R0`` (``ramp:from=R0``, default 0) up (or down) to ``R``
  linearly over the duration, as a capacity search;
- ``spike``: ``R``, then ``k x R`` for ``S`` seconds in the middle, then ``R``
  again (``spike:factor=k,seconds=S``; defaults 3 and a fifth of the duration),
  to see how fast latency recovers after a burst;
- ``soak``: ``R`` for a long time. The same schedule as steady, but it needs a
  duration; the HdrHistograms and the compacting timeline keep the
  generator's memory flat however long it runs.

Text form (``--profile``): ``NAME[:key=value,...]``, e.g. ``ramp:from=10`` or
``spike:factor=4,seconds=5``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dbprobe.errors import ConfigError
from dbprobe.result.config import ProfileConfig
from dbprobe.result.limits import MAX_RATE_PER_S, MAX_SECONDS

__all__ = ["PROFILE_NAMES", "LoadProfile", "Segment", "parse_profile"]

PROFILE_NAMES: tuple[str, ...] = ("steady", "ramp", "spike", "soak")

_KEYS = {"steady": (), "soak": (), "ramp": ("from",), "spike": ("factor", "seconds")}
_DEFAULT_SPIKE_FACTOR = 3.0
_DEFAULT_SPIKE_SHARE = 0.2  # of the duration, when seconds= is not given


@dataclass(frozen=True)
class Segment:
    """``duration_s`` seconds whose rate goes linearly from ``start_rate`` to ``end_rate`` (/s)."""

    duration_s: float
    start_rate: float
    end_rate: float

    @property
    def expected_arrivals(self) -> float:
        """The integral of the rate over the segment: how many arrivals it holds on average."""
        return (self.start_rate + self.end_rate) / 2 * self.duration_s

    def rate_at(self, t_s: float) -> float:
        if self.duration_s <= 0:
            return self.start_rate
        return self.start_rate + (self.end_rate - self.start_rate) * (t_s / self.duration_s)


def _finite_non_negative(value: float) -> bool:
    return math.isfinite(value) and value >= 0


@dataclass(frozen=True)
class LoadProfile:
    """The shape of the arrival rate; see the module docstring for each kind.

    Attributes:
        kind: ``steady``, ``ramp``, ``spike`` or ``soak``.
        ramp_from_per_s: ramp only: the rate at the start (the end is ``--rate``).
        spike_factor: spike only: the rate during the spike is this times ``--rate``.
        spike_s: spike only: how long the spike lasts; None means a fifth of the duration.
    """

    kind: str = "steady"
    ramp_from_per_s: float = 0.0
    spike_factor: float = _DEFAULT_SPIKE_FACTOR
    spike_s: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in PROFILE_NAMES:
            raise ConfigError(f"unknown --profile {self.kind!r}: choose {', '.join(PROFILE_NAMES)}")
        if not _finite_non_negative(self.ramp_from_per_s):
            raise ConfigError(
                f"--profile ramp: from= must be 0 or more per second, got {self.ramp_from_per_s:g}"
            )
        if not (math.isfinite(self.spike_factor) and self.spike_factor > 0):
            raise ConfigError(
                f"--profile spike: factor= must be positive, got {self.spike_factor:g}"
            )
        if self.spike_s is not None and not (math.isfinite(self.spike_s) and self.spike_s > 0):
            raise ConfigError(f"--profile spike: seconds= must be positive, got {self.spike_s:g}")
        # The maxima of --rate and --duration (dbprobe.result.limits): from=1e308 once
        # made a run count its missed arrivals one by one, for ever.
        for key, value, maximum in (
            ("ramp: from=", self.ramp_from_per_s, MAX_RATE_PER_S),
            ("spike: factor=", self.spike_factor, MAX_RATE_PER_S),
            ("spike: seconds=", self.spike_s or 0.0, MAX_SECONDS),
        ):
            if value > maximum:
                raise ConfigError(f"--profile {key} must be {maximum:,.0f} or less, got {value:g}")

    @property
    def needs_duration(self) -> bool:
        """Shapes defined over time; only steady also works with a transaction count."""
        return self.kind != "steady"

    def spike_seconds(self, duration_s: float) -> float:
        return self.spike_s if self.spike_s is not None else duration_s * _DEFAULT_SPIKE_SHARE

    def validate_for(self, duration_s: float | None) -> None:
        """Check the parameters that depend on the run's duration (None: a transaction count)."""
        if duration_s is None:
            if self.needs_duration:
                raise ConfigError(f"--profile {self.kind} needs --duration, not --transactions")
            return
        if self.kind == "spike" and self.spike_seconds(duration_s) >= duration_s:
            raise ConfigError(
                f"--profile spike: the spike ({self.spike_seconds(duration_s):g} s) must be "
                f"shorter than --duration ({duration_s:g} s)"
            )

    def segments(self, rate_per_s: float, duration_s: float | None) -> tuple[Segment, ...]:
        """The rate over the measured run; ``duration_s`` None means open-ended (steady only)."""
        length = math.inf if duration_s is None else duration_s
        if self.kind in ("steady", "soak"):
            return (Segment(length, rate_per_s, rate_per_s),)
        if self.kind == "ramp":
            return (Segment(length, self.ramp_from_per_s, rate_per_s),)
        spike = self.spike_seconds(length)
        calm = (length - spike) / 2
        peak = rate_per_s * self.spike_factor
        return (
            Segment(calm, rate_per_s, rate_per_s),
            Segment(spike, peak, peak),
            Segment(calm, rate_per_s, rate_per_s),
        )

    def rate_at(self, t_s: float, rate_per_s: float, duration_s: float | None) -> float:
        """The intended arrival rate ``t_s`` seconds into the measured run."""
        for segment in self.segments(rate_per_s, duration_s):
            if t_s < segment.duration_s:
                return segment.rate_at(max(0.0, t_s))
            t_s -= segment.duration_s
        return 0.0

    def describe(self) -> ProfileConfig:
        """The profile as the report's config and load section show it."""
        if self.kind == "ramp":
            return ProfileConfig("ramp", from_per_s=self.ramp_from_per_s)
        if self.kind == "spike":
            return ProfileConfig("spike", factor=self.spike_factor, seconds=self.spike_s)
        return ProfileConfig(self.kind)


def _number(kind: str, key: str, text: str) -> float:
    try:
        value = float(text.removesuffix("s").removesuffix("x").removesuffix("/s"))
    except ValueError:
        raise ConfigError(f"--profile {kind}: {key}= must be a number, got {text!r}") from None
    return value


def parse_profile(text: str) -> LoadProfile:
    """``"spike:factor=4,seconds=5"`` -> LoadProfile; ConfigError naming ``--profile`` otherwise."""
    name, _, params = text.strip().partition(":")
    name = name.strip().lower()
    if name not in _KEYS:
        raise ConfigError(f"unknown --profile {name!r}: choose {', '.join(PROFILE_NAMES)}")
    values: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in params.split(","))):
        key, eq, raw = part.partition("=")
        key = key.strip()
        if not eq or key not in _KEYS[name]:
            takes = ", ".join(f"{k}=..." for k in _KEYS[name]) or "no parameters"
            raise ConfigError(f"--profile {name} takes {takes}; got {part!r}")
        values[key] = _number(name, key, raw.strip())
    if name == "ramp":
        return LoadProfile("ramp", ramp_from_per_s=values.get("from", 0.0))
    if name == "spike":
        return LoadProfile(
            "spike",
            spike_factor=values.get("factor", _DEFAULT_SPIKE_FACTOR),
            spike_s=values.get("seconds"),
        )
    return LoadProfile(name)
