"""A run's options as its report states them (the ``config`` section), typed.

Each probe's own options are one record (:class:`UowConfig`,
:class:`PoolConfig`...); :class:`RunConfig` holds it with what the harness
adds: the pool the workers shared, the N+1 threshold, the shape of a
fixed-rate or multi-process load, the checksum of the seeded data, and how
many reports a merged one came from. In JSON all of it is one flat object,
with exactly the keys reports of schema ``dbprobe.report/1`` have carried;
keys this version does not know are kept as read (:attr:`RunConfig.extra`),
so a report read and written again is unchanged.

A new probe's options are one more record here, named in :data:`PROBE_CONFIGS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dbprobe.result.record import Record

__all__ = [
    "PROBE_CONFIGS",
    "DeadlockConfig",
    "IsolationConfig",
    "LoadShape",
    "PoolConfig",
    "ProbeConfig",
    "ProfileConfig",
    "PytestConfig",
    "RepoConfig",
    "RunConfig",
    "ScenariosConfig",
    "SelectConfig",
    "UowConfig",
]


@dataclass(frozen=True)
class UowConfig(Record):
    """The uow probe: the load, the transaction mix and the hot set of sessions."""

    threads: int
    transactions: int | None
    duration_s: float | None
    warmup_s: float
    mix: Mapping[str, int]
    hot_set: int
    retries: int


@dataclass(frozen=True)
class RepoConfig(Record):
    """The repo probe: the load of each catalogue entry, and the entries run (all if empty)."""

    threads: int
    transactions: int | None
    duration_s: float | None
    warmup_s: float
    only: tuple[str, ...]
    retries: int


@dataclass(frozen=True)
class ScenariosConfig(Record):
    """User scenarios (``dbprobe run``): the file, their weights, whose engine, the load."""

    scenarios: str
    weights: Mapping[str, int]
    engine: str  # "make_engine" (the file's own) or "dbprobe"
    threads: int
    transactions: int | None
    duration_s: float | None
    warmup_s: float
    only: tuple[str, ...]
    retries: int


@dataclass(frozen=True)
class SelectConfig(Record):
    """The select probe: the load, the layers read through, and the accounts selected among."""

    threads: int
    transactions: int | None
    duration_s: float | None
    warmup_s: float
    via: str
    retries: int
    accounts: int


@dataclass(frozen=True)
class PoolConfig(Record):
    """The pool probe: the pool under test and the demand put on it."""

    pool_size: int
    max_overflow: int
    pool_timeout_s: float
    threads: int
    hold_ms: float
    duration_s: float
    ramp: bool
    trace_holders: bool


@dataclass(frozen=True)
class DeadlockConfig(Record):
    """The deadlock probe: the load, the accounts, how transfers write and lock."""

    threads: int
    transactions: int | None
    duration_s: float | None
    accounts: int
    pattern: str
    lock_order: str
    retries: int


@dataclass(frozen=True)
class IsolationConfig(Record):
    """The isolation probe: the levels and Hermitage tests run, and its lock limits."""

    levels: tuple[str, ...]
    tests: tuple[str, ...]
    sqlite_busy_timeout_ms: int
    lock_wait_limit_s: float


@dataclass(frozen=True)
class PytestConfig(Record):
    """A pytest session's benchmarks: whether timing was disabled (``--dbprobe-disable``)."""

    disable: bool


ProbeConfig = (
    UowConfig
    | RepoConfig
    | ScenariosConfig
    | SelectConfig
    | PoolConfig
    | DeadlockConfig
    | IsolationConfig
    | PytestConfig
)

#: The record of each probe's own options, by the probe's name in reports.
PROBE_CONFIGS: Mapping[str, type[ProbeConfig]] = {
    "uow": UowConfig,
    "repo": RepoConfig,
    "run": ScenariosConfig,
    "select": SelectConfig,
    "pool": PoolConfig,
    "deadlock": DeadlockConfig,
    "isolation": IsolationConfig,
    "pytest": PytestConfig,
}

# The probes whose options hold workers and a duration; those of them that can
# count transactions instead; those that warm up first.
_LOADS = (UowConfig, RepoConfig, ScenariosConfig, SelectConfig, DeadlockConfig, PoolConfig)
_COUNTED = (UowConfig, RepoConfig, ScenariosConfig, SelectConfig, DeadlockConfig)
_WARMED = (UowConfig, RepoConfig, ScenariosConfig, SelectConfig)


@dataclass(frozen=True)
class ProfileConfig(Record):
    """The load profile of a fixed-rate run: its kind and the parameters that kind takes.

    A ramp has ``from_per_s``; a spike ``factor`` and ``seconds`` (None: a
    fifth of the duration); the other kinds none.
    """

    kind: str
    from_per_s: float | None = None
    factor: float | None = None
    seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        if self.kind == "ramp":
            return {"kind": self.kind, "from_per_s": self.from_per_s}
        if self.kind == "spike":
            return {"kind": self.kind, "factor": self.factor, "seconds": self.seconds}
        return {"kind": self.kind}


@dataclass(frozen=True)
class LoadShape(Record):
    """A fixed-rate (open-loop) or multi-process load: the rate, its spacing and profile.

    ``rate_per_s`` is for all processes together; ``arrivals`` and ``profile``
    are None in a closed loop run in several processes.
    """

    rate_per_s: float | None
    arrivals: str | None
    profile: ProfileConfig | None
    latency_limit_ms: float | None
    processes: int

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LoadShape:
        profile = data["profile"]
        return cls(
            rate_per_s=data["rate_per_s"],
            arrivals=data["arrivals"],
            profile=ProfileConfig.from_json(profile) if profile is not None else None,
            latency_limit_ms=data["latency_limit_ms"],
            processes=data["processes"],
        )


@dataclass(frozen=True)
class RunConfig:
    """A run's options: the probe's own, and what the harness adds (None: not part of this run).

    ``probe`` is None only for a report whose config this version cannot
    type (a probe it does not know); its keys are then all in ``extra``.
    """

    probe: ProbeConfig | None
    pool_size: int | None = None  # the pool the workers shared (the pool probe's is its own)
    n_plus_one_threshold: int | None = None
    load: LoadShape | None = None
    seed_checksum: str | None = None
    merged_reports: int | None = None
    rounds: int | None = None  # the rounds the measurement was cut into
    extra: Mapping[str, Any] = field(default_factory=dict)
    # --max-error-rate of a load probe, as a fraction: above it, an error_rate finding.
    max_error_rate: float | None = None

    @property
    def threads(self) -> int | None:
        """Concurrent workers (per process), for probes that have them."""
        return self.probe.threads if isinstance(self.probe, _LOADS) else None

    @property
    def transactions(self) -> int | None:
        """Transactions per worker, when the run was counted rather than timed."""
        return self.probe.transactions if isinstance(self.probe, _COUNTED) else None

    @property
    def duration_s(self) -> float | None:
        """Measured seconds, when the run was timed."""
        return self.probe.duration_s if isinstance(self.probe, _LOADS) else None

    @property
    def warmup_s(self) -> float | None:
        """Unmeasured seconds before the measurement, for probes that warm up."""
        return self.probe.warmup_s if isinstance(self.probe, _WARMED) else None

    @property
    def rate_per_s(self) -> float | None:
        """The arrival rate of a fixed-rate run (all processes together)."""
        return self.load.rate_per_s if self.load is not None else None

    def measurement_options(self) -> dict[str, Any]:
        """The options whose difference makes two runs measure different things.

        Workers, amount of load, the uow mix and hot set, the pool, the
        catalogue entries run; a comparison warns when they differ.
        """
        data = self.to_json()
        return {key: data.get(key) for key in _MEASUREMENT_KEYS}

    def to_json(self) -> dict[str, Any]:
        data = self.probe.to_json() if self.probe is not None else {}
        if self.pool_size is not None:
            data["pool_size"] = self.pool_size
        if self.n_plus_one_threshold is not None:
            data["n_plus_one_threshold"] = self.n_plus_one_threshold
        if self.load is not None:
            data |= self.load.to_json()
        if self.seed_checksum is not None:
            data["seed_checksum"] = self.seed_checksum
        if self.merged_reports is not None:
            data["merged_reports"] = self.merged_reports
        if self.rounds is not None:
            data["rounds"] = self.rounds
        if self.max_error_rate is not None:
            data["max_error_rate"] = self.max_error_rate
        return data | dict(self.extra)

    @classmethod
    def from_json(cls, probe: str, data: Mapping[str, Any]) -> RunConfig:
        """The config of a report of ``probe``, as its file holds it."""
        record = PROBE_CONFIGS.get(probe)
        typed: ProbeConfig | None = None
        known: frozenset[str] = frozenset()
        if record is not None and record.keys() <= data.keys():
            typed = record.from_json(data)
            known = record.keys()
        load = LoadShape.from_json(data) if LoadShape.keys() <= data.keys() else None
        if load is not None:
            known |= LoadShape.keys()
        own = {
            "pool_size",
            "n_plus_one_threshold",
            "seed_checksum",
            "merged_reports",
            "rounds",
            "max_error_rate",
        } - known
        return cls(
            probe=typed,
            pool_size=data.get("pool_size") if "pool_size" in own else None,
            n_plus_one_threshold=data.get("n_plus_one_threshold"),
            load=load,
            seed_checksum=data.get("seed_checksum"),
            merged_reports=data.get("merged_reports"),
            rounds=data.get("rounds"),
            extra={k: v for k, v in data.items() if k not in known | own},
            max_error_rate=data.get("max_error_rate"),
        )


_MEASUREMENT_KEYS = ("threads", "transactions", "duration_s", "mix", "hot_set", "pool_size", "only")
