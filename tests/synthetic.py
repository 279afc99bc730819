"""Seeded synthetic latency samples and the Reports that carry them (for pure tests).

The statistics are tested on samples of a known distribution (lognormal, the
usual model of latency: skewed, with a long right tail), recorded into the
same HdrHistogram a probe run records into, so the tests see exactly what a
comparison of two real reports sees.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from dbprobe.metrics import LatencyHistogram
from dbprobe.metrics.distribution import Distribution
from dbprobe.metrics.sparse import SparseHistogram
from dbprobe.result.config import LoadShape, ProfileConfig, RunConfig, UowConfig
from dbprobe.result.model import (
    CalibrationRound,
    OperationReport,
    QueryCounts,
    Report,
    Resources,
    RoundFigures,
    RunInfo,
    TargetInfo,
    ToolInfo,
)

T0 = dt.datetime(2026, 1, 5, 12, 0, tzinfo=dt.UTC)
ROUNDS = 10


def lognormal_ms(
    rng: random.Random, n: int, *, median_ms: float = 2.0, sigma: float = 0.5
) -> list[float]:
    """``n`` latencies in ms, lognormal around ``median_ms``."""
    mu = math.log(median_ms)
    return [rng.lognormvariate(mu, sigma) for _ in range(n)]


def histogram(values_ms: Sequence[float]) -> LatencyHistogram:
    hist = LatencyHistogram()
    for v in values_ms:
        hist.record_ns(round(v * 1e6))
    return hist


def distribution(values_ms: Sequence[float]) -> Distribution:
    return Distribution.from_encoded_histogram(histogram(values_ms).encode())


def rounds_of(
    values_ms: Sequence[float],
    *,
    rounds: int = ROUNDS,
    duration_s: float = 10.0,
    cpu_ms: Sequence[float] | None = None,
    round_trip_ms: Sequence[float] | None = None,
) -> tuple[RoundFigures, ...]:
    """The values cut into ``rounds`` consecutive rounds, as a run records them."""
    size = math.ceil(len(values_ms) / rounds) if values_ms else 0
    out = []
    for r in range(rounds):
        sparse = SparseHistogram()
        for v in values_ms[r * size : (r + 1) * size]:
            sparse.record_ns(round(v * 1e6))
        pairs = tuple((value, sparse.counts[value]) for value in sorted(sparse.counts))
        cpu = cpu_ms[r] if cpu_ms is not None else None
        trip = round_trip_ms[r] if round_trip_ms is not None else None
        out.append(RoundFigures(duration_s / rounds, pairs, cpu, trip))
    return tuple(out)


def operation(
    name: str,
    values_ms: Sequence[float],
    *,
    duration_s: float = 10.0,
    rounds: int = ROUNDS,
    cpu_ms: Sequence[float] | None = None,
    round_trip_ms: Sequence[float] | None = None,
) -> OperationReport:
    hist = histogram(values_ms)
    summary = hist.summary()
    n = len(values_ms)
    return OperationReport(
        name=name,
        count=n,
        attempts=n,
        commits=n,
        rollbacks=0,
        errors=0,
        retries=0,
        cancelled=0,
        error_classes={},
        error_samples={},
        latency_ms=summary,
        commit_latency_ms=summary,
        throughput_per_s=n / duration_s,
        queries=QueryCounts(total=3 * n, per_op_mean=3.0, per_op_max=3),
        histogram=hist.encode(),
        rounds=rounds_of(
            values_ms,
            rounds=rounds,
            duration_s=duration_s,
            cpu_ms=cpu_ms,
            round_trip_ms=round_trip_ms,
        ),
    )


def calibration(
    cpu_ms: Sequence[float],
    round_trip_ms: Sequence[float] | None = None,
    cpu_wait: Sequence[float] | None = None,
) -> tuple[CalibrationRound, ...]:
    """A run's machine references, round by round (a steady 0.2 ms round trip by
    default; a CPU wait only where given)."""
    trips = round_trip_ms if round_trip_ms is not None else [0.2] * len(cpu_ms)
    waits: Sequence[float | None] = cpu_wait if cpu_wait is not None else [None] * len(cpu_ms)
    return tuple(
        CalibrationRound(ms, trip, wait)
        for ms, trip, wait in zip(cpu_ms, trips, waits, strict=True)
    )


def run_config(
    *,
    threads: int = 4,
    transactions: int | None = None,
    duration_s: float | None = 10.0,
    warmup_s: float = 1.0,
    rate_per_s: float | None = None,
) -> RunConfig:
    """A uow run's config with these options (and a fixed-rate load shape if ``rate_per_s``)."""
    options = UowConfig(
        threads=threads,
        transactions=transactions,
        duration_s=duration_s,
        warmup_s=warmup_s,
        mix={"create_program": 1, "reschedule_session": 3, "read_program": 6},
        hot_set=20,
        retries=3,
    )
    shape = LoadShape(rate_per_s, "poisson", ProfileConfig("steady"), None, 1)
    return RunConfig(options, load=shape if rate_per_s else None, rounds=ROUNDS)


def report(
    operations: Mapping[str, Sequence[float]],
    *,
    probe: str = "uow",
    backend: str = "sqlite",
    scale: str = "tiny",
    host: str = "ci-1",
    started_at: dt.datetime = T0,
    config: RunConfig | None = None,
    duration_s: float = 10.0,
    findings: tuple[Any, ...] = (),
    rounds: int = ROUNDS,
    cpu_ms: Sequence[float] | None = None,
    round_trip_ms: Sequence[float] | None = None,
    cpu_wait: Sequence[float] | None = None,
) -> Report:
    """A report of these operations' latencies, measured in ``rounds`` rounds; with
    ``cpu_ms`` (and ``round_trip_ms``, ``cpu_wait``), the machine references of each
    round (the run's calibration)."""
    return Report(
        tool=ToolInfo("dbprobe", "0.1.0"),
        run=RunInfo(probe, started_at, duration_s, ("dbprobe", probe), host, "3.11.2"),
        target=TargetInfo(backend, f"{backend}://x", "SQLite 3.40.1", scale, 1, "serializable"),
        config=config or run_config(duration_s=duration_s),
        operations=tuple(
            operation(
                name,
                values,
                duration_s=duration_s,
                rounds=rounds,
                cpu_ms=cpu_ms,
                round_trip_ms=round_trip_ms if cpu_ms is not None else None,
            )
            for name, values in operations.items()
        ),
        findings=findings,
        resources=Resources(50.0, 60.0, 80.0),
        calibration=calibration(cpu_ms, round_trip_ms, cpu_wait) if cpu_ms is not None else (),
    )
