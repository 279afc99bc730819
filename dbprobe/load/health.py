"""Is the load generator itself the bottleneck? (pure)

dbprobe drives the database from one asyncio event loop per process. When
that loop is busy all the time, operations wait for the loop rather than for
the database, and the figures describe the client. Three signs say so:

- the loop's own lag: a probe task asks for a 10 ms timer all through the
  run, and the *median* of how late the loop runs it is at least
  :data:`LOOP_LAG_SATURATED_MS`. Every task, workers included, waits that
  long for its turn, whatever keeps the loop from running (dbprobe's own
  work, or a machine that does not give the process a core). The median,
  not the tail: one CPU-heavy operation (an ORM materialising a few hundred
  objects holds the loop for ~10-20 ms) delays the timers that fall on it,
  which the p99 shows at any load; a loop that cannot keep up delays most
  of them. This sign does not depend on the machine's speed;
- the event-loop thread used at least :data:`CPU_SATURATED_PERCENT` of one core
  over the run (its own CPU time, from ``time.thread_time()``: SQLite's
  worker threads and other processes are not counted);
- in an open loop, workers that were free and asleep until an operation's
  intended start woke up late: the *median* of that wake-up delay at least
  :data:`WAKEUP_LAG_SATURATED_MS`. A busy database makes operations wait
  for a free worker, which is schedule lag but not this: only a loop that is
  behind wakes a sleeping worker late.

Any one gives a ``generator_saturated`` finding (severity warning).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dbprobe.result.findings import (
    Finding,
    FindingKind,
    GeneratorSaturatedEvidence,
    Severity,
)

__all__ = [
    "CPU_SATURATED_PERCENT",
    "LOOP_LAG_SATURATED_MS",
    "WAKEUP_LAG_SATURATED_MS",
    "GeneratorLoad",
    "combine_generator_loads",
    "generator_findings",
]

CPU_SATURATED_PERCENT = 90.0
WAKEUP_LAG_SATURATED_MS = 10.0
LOOP_LAG_SATURATED_MS = 5.0
# Fewer timed wake-ups than this make no percentile worth a warning.
_MIN_WAKEUPS = 20
_MIN_LAG_SAMPLES = 5


@dataclass(frozen=True)
class GeneratorLoad:
    """The generator's own effort in one process (or the busiest of several).

    Attributes:
        loop_cpu_s: CPU time of the event-loop thread during the run.
        wall_s: wall-clock time of the run (warm-up included, like the CPU time).
        wakeups: open loop: times a free worker slept until an intended start.
        wakeup_lag_p99_ms: p99 of how late those workers woke up.
        wakeup_lag_max_ms: the latest of them.
        processes: how many processes this covers.
        wakeup_lag_p50_ms: the median of how late they woke up.
        lag_samples: how often the loop-lag probe's timer ran in the measurement.
        loop_lag_p50_ms, loop_lag_p99_ms: how late the loop ran it (median, p99).
    """

    loop_cpu_s: float
    wall_s: float
    wakeups: int = 0
    wakeup_lag_p99_ms: float = 0.0
    wakeup_lag_max_ms: float = 0.0
    processes: int = 1
    wakeup_lag_p50_ms: float = 0.0
    lag_samples: int = 0
    loop_lag_p50_ms: float = 0.0
    loop_lag_p99_ms: float = 0.0

    @property
    def loop_cpu_percent(self) -> float:
        """Event-loop CPU as a percentage of one core (per process, for the busiest one)."""
        return self.loop_cpu_s / self.wall_s * 100 if self.wall_s > 0 else 0.0

    @property
    def cpu_saturated(self) -> bool:
        return self.loop_cpu_percent >= CPU_SATURATED_PERCENT

    @property
    def wakeups_late(self) -> bool:
        return self.wakeups >= _MIN_WAKEUPS and self.wakeup_lag_p50_ms >= WAKEUP_LAG_SATURATED_MS

    @property
    def loop_lagging(self) -> bool:
        # Few samples are themselves a sign here: a loop that runs its 10 ms
        # timer 100 ms late takes only ten a second.
        return (
            self.lag_samples >= _MIN_LAG_SAMPLES and self.loop_lag_p50_ms >= LOOP_LAG_SATURATED_MS
        )

    @property
    def saturated(self) -> bool:
        return self.cpu_saturated or self.wakeups_late or self.loop_lagging


def combine_generator_loads(loads: Sequence[GeneratorLoad], *, parallel: bool) -> GeneratorLoad:
    """Several runs as one: ``parallel`` (processes at once) keeps the busiest process's
    figures; otherwise (phases one after another) times add up and the worst lag stays."""
    if not loads:
        return GeneratorLoad(0.0, 0.0)
    if len(loads) == 1:
        return loads[0]
    if parallel:
        busiest = max(loads, key=lambda g: g.loop_cpu_percent)
        return GeneratorLoad(
            loop_cpu_s=busiest.loop_cpu_s,
            wall_s=busiest.wall_s,
            wakeups=sum(g.wakeups for g in loads),
            wakeup_lag_p99_ms=max(g.wakeup_lag_p99_ms for g in loads),
            wakeup_lag_max_ms=max(g.wakeup_lag_max_ms for g in loads),
            processes=sum(g.processes for g in loads),
            wakeup_lag_p50_ms=max(g.wakeup_lag_p50_ms for g in loads),
            lag_samples=sum(g.lag_samples for g in loads),
            loop_lag_p50_ms=max(g.loop_lag_p50_ms for g in loads),
            loop_lag_p99_ms=max(g.loop_lag_p99_ms for g in loads),
        )
    return GeneratorLoad(
        loop_cpu_s=sum(g.loop_cpu_s for g in loads),
        wall_s=sum(g.wall_s for g in loads),
        wakeups=sum(g.wakeups for g in loads),
        wakeup_lag_p99_ms=max(g.wakeup_lag_p99_ms for g in loads),
        wakeup_lag_max_ms=max(g.wakeup_lag_max_ms for g in loads),
        processes=max(g.processes for g in loads),
        wakeup_lag_p50_ms=max(g.wakeup_lag_p50_ms for g in loads),
        lag_samples=sum(g.lag_samples for g in loads),
        loop_lag_p50_ms=max(g.loop_lag_p50_ms for g in loads),
        loop_lag_p99_ms=max(g.loop_lag_p99_ms for g in loads),
    )


def generator_findings(load: GeneratorLoad) -> list[Finding]:
    """A ``generator_saturated`` warning when the generator, not the database, set the pace."""
    if not load.saturated:
        return []
    reasons = []
    if load.loop_lagging:
        reasons.append(
            f"its event loop ran timers {load.loop_lag_p50_ms:.1f} ms late (median; p99 "
            f"{load.loop_lag_p99_ms:.1f} ms), so every operation waited that long for its turn"
        )
    if load.cpu_saturated:
        reasons.append(
            f"its event loop used {load.loop_cpu_percent:.0f} % of a core"
            + (" (busiest process)" if load.processes > 1 else "")
        )
    if load.wakeups_late:
        reasons.append(
            f"free workers woke up {load.wakeup_lag_p50_ms:.1f} ms late (median) for their "
            "scheduled starts"
        )
    more = "more processes (--processes N)" if load.processes == 1 else "more processes or hosts"
    fewer = "fewer workers per process (--threads)"
    return [
        Finding(
            kind=FindingKind.GENERATOR_SATURATED,
            severity=Severity.WARNING,
            operation=None,
            message=(
                f"the load generator was saturated: {' and '.join(reasons)}; latencies and "
                f"throughput describe dbprobe's client as much as the database. Spread the "
                f"load over {more}, or run {fewer}"
            ),
            evidence=GeneratorSaturatedEvidence(
                loop_cpu_percent=round(load.loop_cpu_percent, 1),
                cpu_threshold_percent=CPU_SATURATED_PERCENT,
                wakeups=load.wakeups,
                wakeup_lag_p50_ms=round(load.wakeup_lag_p50_ms, 3),
                wakeup_lag_p99_ms=round(load.wakeup_lag_p99_ms, 3),
                wakeup_lag_max_ms=round(load.wakeup_lag_max_ms, 3),
                wakeup_lag_threshold_ms=WAKEUP_LAG_SATURATED_MS,
                processes=load.processes,
                loop_lag_p50_ms=round(load.loop_lag_p50_ms, 3),
                loop_lag_p99_ms=round(load.loop_lag_p99_ms, 3),
                loop_lag_threshold_ms=LOOP_LAG_SATURATED_MS,
            ),
        )
    ]
