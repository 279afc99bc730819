"""Was the rate of a fixed-rate run met? The ``rate_not_met`` verdict and its likely cause (pure).

At a fixed rate the report's figures describe the load that was asked for
only if that load was applied. It was not when the operations started fell
short of the arrivals due by more than :data:`RATE_SHORTFALL`, or when more
than :data:`MISSED_SHARE` of the arrivals were skipped (``--latency-limit``)
or never started; the report then carries a ``rate_not_met`` warning
(``--fail-on rate_not_met`` makes it fail the run). Its likely cause, in the
order they are told apart:

- the event loop was saturated (:mod:`dbprobe.load.health`: its CPU, or free
  workers waking up late): dbprobe could not keep up; add ``--processes``;
- most arrivals waited for a free worker (they were already late when one
  took them): every worker was busy; more ``--threads`` apply more load, if
  the database can take it;
- otherwise the database was slower than the rate: that is the result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dbprobe.load.health import GeneratorLoad
from dbprobe.result.findings import Finding, FindingKind, RateNotMetEvidence, Severity

__all__ = [
    "MISSED_SHARE",
    "RATE_SHORTFALL",
    "ScheduleAccount",
    "combine_schedule_accounts",
    "rate_findings",
]

#: The achieved rate may fall this far below the rate due before the run is short.
RATE_SHORTFALL = 0.05
#: The share of arrivals that may be skipped or never started.
MISSED_SHARE = 0.01
# Below this many arrivals a rate is too rough a figure to judge a 5 % shortfall by.
_MIN_ARRIVALS = 20


@dataclass(frozen=True)
class ScheduleAccount:
    """How the measured window of a fixed-rate run kept to its schedule.

    Attributes:
        started: arrivals a worker ran.
        skipped: arrivals over ``--latency-limit`` when a worker took them.
        unstarted: arrivals due before the end that no worker reached.
        waited: started or skipped arrivals that waited for a free worker: they
            were already late (``LATE_AFTER_MS``) when one took them.
        scheduled_s: from the start of the window to the last arrival due (a
            timed run: the window).
        achieved_s: from the start of the window to the last arrival taken (a
            timed run: the window).
    """

    started: int
    skipped: int
    unstarted: int
    waited: int
    scheduled_s: float
    achieved_s: float

    @property
    def arrivals(self) -> int:
        return self.started + self.skipped + self.unstarted

    @property
    def target_per_s(self) -> float:
        """The rate the schedule asked for over the window."""
        return self.arrivals / self.scheduled_s if self.scheduled_s > 0 else 0.0

    @property
    def achieved_per_s(self) -> float:
        """The rate at which workers started arrivals."""
        return self.started / self.achieved_s if self.achieved_s > 0 else 0.0


def combine_schedule_accounts(
    accounts: Sequence[ScheduleAccount], *, parallel: bool
) -> ScheduleAccount | None:
    """Several accounts as one: processes at once (``parallel``: their windows coincide,
    the longest counts) or phases one after another (their windows add up)."""
    if not accounts:
        return None
    span = max if parallel else sum
    return ScheduleAccount(
        started=sum(a.started for a in accounts),
        skipped=sum(a.skipped for a in accounts),
        unstarted=sum(a.unstarted for a in accounts),
        waited=sum(a.waited for a in accounts),
        scheduled_s=span(a.scheduled_s for a in accounts),
        achieved_s=span(a.achieved_s for a in accounts),
    )


def rate_findings(
    account: ScheduleAccount | None,
    generator: GeneratorLoad,
    *,
    rate_per_s: float,
    workers: int,
) -> list[Finding]:
    """A ``rate_not_met`` warning when the run applied less than the load asked for.

    ``rate_per_s`` is the rate asked for (the profile's peak) and ``workers``
    the workers serving it, all processes together.
    """
    if account is None or not account.arrivals:
        return []
    arrivals = account.arrivals
    missed = account.skipped + account.unstarted
    target, achieved = account.target_per_s, account.achieved_per_s
    short = arrivals >= _MIN_ARRIVALS and target > 0 and achieved < (1 - RATE_SHORTFALL) * target
    if not short and missed <= MISSED_SHARE * arrivals:
        return []
    taken = account.started + account.skipped
    if generator.saturated:
        cause = "event_loop"
        why = (
            f"dbprobe's event loop was saturated ({generator.loop_cpu_percent:.0f} % of a core, "
            f"free workers woke up {generator.wakeup_lag_p50_ms:.1f} ms late at the median): "
            "spread the load over more processes (--processes N)"
        )
    elif taken and account.waited > taken / 2:
        cause = "workers_busy"
        why = (
            f"{account.waited} of {taken} arrivals waited for a free worker, all {workers} "
            "being busy: more workers (--threads) apply more load, if the database can take "
            "it (if each operation only gets slower, the database is the limit)"
        )
    else:
        cause = "database"
        why = (
            "workers were mostly free when operations arrived: the database was slower than "
            "the rate, and that is the result"
        )
    message = (
        f"the rate was not met: {achieved:.1f}/s started of {target:.1f}/s due "
        f"(--rate {rate_per_s:g}); {account.skipped} skipped, {account.unstarted} never "
        f"started, of {arrivals} arrivals. Likely cause: {why}"
    )
    return [
        Finding(
            kind=FindingKind.RATE_NOT_MET,
            severity=Severity.WARNING,
            operation=None,
            message=message,
            evidence=RateNotMetEvidence(
                rate_per_s=rate_per_s,
                target_per_s=round(target, 3),
                achieved_per_s=round(achieved, 3),
                arrivals=arrivals,
                started=account.started,
                skipped=account.skipped,
                unstarted=account.unstarted,
                waited_for_worker=account.waited,
                workers=workers,
                wakeup_lag_p50_ms=round(generator.wakeup_lag_p50_ms, 3),
                loop_cpu_percent=round(generator.loop_cpu_percent, 1),
                cause=cause,
            ),
        )
    ]
