"""How much load a run applies, and how it retries: the plan every probe hands the workers.

Pure values, validated where they are built (a bad option is a ConfigError
naming it); :mod:`dbprobe.load.workers` follows them.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field, replace

from dbprobe.errors import ConfigError
from dbprobe.load.arrivals import ARRIVAL_KINDS, ArrivalSchedule
from dbprobe.load.profiles import LoadProfile, Segment
from dbprobe.result.config import LoadShape
from dbprobe.result.limits import (
    MAX_COUNT,
    MAX_MILLISECONDS,
    MAX_PROCESSES,
    MAX_RATE_PER_S,
    MAX_RETRIES,
    MAX_SECONDS,
    MAX_WORKERS,
    MIN_DURATION_S,
)
from dbprobe.result.options import DEFAULT_GRACE_S, DEFAULT_ROUNDS, MAX_ROUNDS

__all__ = ["LoadPlan", "RetryPolicy"]


def _at_most(option: str, value: float, maximum: float, unit: str = "") -> None:
    if not value <= maximum:  # NaN fails this too
        raise ConfigError(f"{option} must be {maximum:,.0f}{unit} or less, got {value:g}")


@dataclass(frozen=True)
class RetryPolicy:
    """Retries of retryable failures (deadlock, serialization, lock timeout).

    The wait before retry ``n`` (1-based) is uniform in
    ``[0, min(max_backoff_s, base_backoff_s * 2**(n-1))]`` ("full jitter"), so
    workers that collided do not collide again in lockstep.
    """

    retries: int = 3
    base_backoff_s: float = 0.002
    max_backoff_s: float = 0.2

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ConfigError(f"--retries must be 0 or more, got {self.retries}")
        _at_most("--retries", self.retries, MAX_RETRIES)

    def backoff_s(self, retry: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.max_backoff_s, self.base_backoff_s * 2 ** (retry - 1)))


@dataclass(frozen=True)
class LoadPlan:
    """How much load: workers, and either transactions per worker or a duration.

    Without ``rate_per_s`` the run is a closed loop. With it, an open loop:
    operations arrive at that rate (the peak rate of ``profile``), spaced by
    ``arrivals`` (``poisson`` or ``uniform``), and ``transactions_per_worker``
    means ``transactions_per_worker * workers`` arrivals in all.
    ``latency_limit_ms`` skips arrivals already that late when a worker takes
    them. ``processes`` is read by :mod:`dbprobe.load.harness`, which runs the
    plan in that many processes (``rate_per_s`` is then split among them;
    ``workers`` and ``transactions_per_worker`` are per process);
    :func:`run_workload` itself always runs in one. ``rounds`` cuts the
    measurement into that many samples for the regression gate
    (:mod:`dbprobe.load.rounds`). ``grace_s``: a timed run's operations still
    running at its end get that long to finish, then are cancelled.
    """

    workers: int
    transactions_per_worker: int | None = None
    duration_s: float | None = None
    warmup_s: float = 0.0
    rate_per_s: float | None = None
    arrivals: str = "poisson"
    latency_limit_ms: float | None = None
    profile: LoadProfile = field(default_factory=LoadProfile)
    processes: int = 1
    rounds: int = DEFAULT_ROUNDS
    grace_s: float = DEFAULT_GRACE_S

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"--threads must be at least 1, got {self.workers}")
        if self.transactions_per_worker is not None and self.transactions_per_worker < 1:
            raise ConfigError(
                f"--transactions must be at least 1, got {self.transactions_per_worker}"
            )
        if self.duration_s is not None and self.duration_s <= 0:
            raise ConfigError(f"--duration must be positive, got {self.duration_s:g}")
        if (self.transactions_per_worker is None) == (self.duration_s is None):
            raise ConfigError("give either --transactions or --duration, not both")
        if self.warmup_s < 0:
            raise ConfigError(f"--warmup must be 0 or more, got {self.warmup_s:g}")
        if self.rate_per_s is not None and not (
            math.isfinite(self.rate_per_s) and self.rate_per_s > 0
        ):
            raise ConfigError(
                f"--rate must be a positive number of operations per second, "
                f"got {self.rate_per_s:g}"
            )
        if self.arrivals not in ARRIVAL_KINDS:
            raise ConfigError(f"--arrivals must be poisson or uniform, got {self.arrivals!r}")
        if self.latency_limit_ms is not None:
            if not (math.isfinite(self.latency_limit_ms) and self.latency_limit_ms > 0):
                raise ConfigError(
                    f"--latency-limit must be a positive number of ms, "
                    f"got {self.latency_limit_ms:g}"
                )
            if self.rate_per_s is None:
                raise ConfigError(
                    "--latency-limit needs --rate: it skips operations of a fixed-rate schedule"
                )
        if self.profile.kind != "steady" and self.rate_per_s is None:
            raise ConfigError(f"--profile {self.profile.kind} needs --rate (its peak rate)")
        if self.rate_per_s is not None:
            self.profile.validate_for(self.duration_s)
        if self.processes < 1:
            raise ConfigError(f"--processes must be at least 1, got {self.processes}")
        if not 1 <= self.rounds <= MAX_ROUNDS:
            raise ConfigError(f"--rounds must be from 1 to {MAX_ROUNDS}, got {self.rounds}")
        # The maxima (dbprobe.result.limits) keep what the workers derive small and
        # finite: tasks, nanosecond deadlines, arrivals to account for.
        _at_most("--threads", self.workers, MAX_WORKERS)
        _at_most("--transactions", self.transactions_per_worker or 0, MAX_COUNT)
        _at_most("--duration", self.duration_s or 0.0, MAX_SECONDS, " s (30 days)")
        if self.duration_s is not None and self.duration_s < MIN_DURATION_S:
            raise ConfigError(
                f"--duration must be at least {MIN_DURATION_S:g} s (a millisecond), "
                f"got {self.duration_s:g}"
            )
        _at_most("--warmup", self.warmup_s, MAX_SECONDS, " s (30 days)")
        _at_most("--latency-limit", self.latency_limit_ms or 0.0, MAX_MILLISECONDS, " ms")
        _at_most("--processes", self.processes, MAX_PROCESSES)
        if self.workers * self.processes > MAX_WORKERS:
            # Each worker of each process holds a connection of its own.
            raise ConfigError(
                f"--threads {self.workers} x --processes {self.processes} is "
                f"{self.workers * self.processes:,} workers (connections) in all; "
                f"at most {MAX_WORKERS:,}"
            )
        if not 0 <= self.grace_s <= MAX_SECONDS:  # NaN fails this too
            raise ConfigError(
                f"--grace must be from 0 to {MAX_SECONDS:,.0f} s (30 days), got {self.grace_s:g}"
            )
        if self.rate_per_s is not None:
            _at_most("--rate", self.rate_per_s, MAX_RATE_PER_S, " per second")
            # The profile's peak too: a spike multiplies --rate.
            peak = max(max(s.start_rate, s.end_rate) for s in self.segments())
            _at_most("--rate (the profile's peak)", peak, MAX_RATE_PER_S, " per second")

    @property
    def open_loop(self) -> bool:
        return self.rate_per_s is not None

    def per_process(self) -> LoadPlan:
        """The plan each of ``processes`` processes runs: its share of the rate, one process."""
        if self.processes == 1:
            return self
        profile = self.profile
        if profile.kind == "ramp":
            profile = replace(profile, ramp_from_per_s=profile.ramp_from_per_s / self.processes)
        rate = self.rate_per_s / self.processes if self.rate_per_s is not None else None
        return replace(self, rate_per_s=rate, profile=profile, processes=1)

    def shape(self) -> LoadShape:
        """The open-loop and process settings, as the report's config and load section show them."""
        return LoadShape(
            rate_per_s=self.rate_per_s,
            arrivals=self.arrivals if self.open_loop else None,
            profile=self.profile.describe() if self.open_loop else None,
            latency_limit_ms=self.latency_limit_ms,
            processes=self.processes,
        )

    def arrival_schedule(self, seed: int, *, phase: float = 0.0) -> ArrivalSchedule:
        """The intended starts of an open-loop run's measurement, in ns after it starts, as
        :func:`run_workload` follows them for ``seed``; with ``transactions_per_worker``,
        ``transactions_per_worker * workers`` arrivals.

        The warm-up has a schedule of its own (:meth:`warmup_schedule`): whatever it
        leaves undone is dropped, and this one starts afresh, the same for a seed
        with or without a warm-up.
        """
        total = (
            self.transactions_per_worker * self.workers if self.transactions_per_worker else None
        )
        return ArrivalSchedule(
            self.segments(),
            arrivals=self.arrivals,
            # String seeds are hashed (SHA-512) by random.Random: stable across runs.
            rng=random.Random(f"dbprobe-arrivals:{seed}"),
            phase=phase,
            limit=total,
        )

    def warmup_schedule(self, seed: int, *, phase: float = 0.0) -> ArrivalSchedule | None:
        """The warm-up's intended starts, in ns after it starts (None: no open-loop warm-up)."""
        segment = self.warmup_segment()
        if segment is None:
            return None
        return ArrivalSchedule(
            (segment,),
            arrivals=self.arrivals,
            rng=random.Random(f"dbprobe-warmup-arrivals:{seed}"),
            phase=phase,
        )

    def warmup_segment(self) -> Segment | None:
        """The warm-up's rate: the one the measurement starts with (None: no open-loop warm-up)."""
        if self.rate_per_s is None or self.warmup_s <= 0:
            return None
        first = self.segments()[0].start_rate
        return Segment(self.warmup_s, first, first)

    def segments(self) -> tuple[Segment, ...]:
        """The arrival rate over the measurement (open loop only)."""
        assert self.rate_per_s is not None
        return self.profile.segments(self.rate_per_s, self.duration_s)
