"""Was the rate of a fixed-rate run met? The verdict and its likely cause, on fixed figures."""

from __future__ import annotations

from dbprobe.load.health import GeneratorLoad
from dbprobe.load.rate import ScheduleAccount, combine_schedule_accounts, rate_findings
from dbprobe.result.findings import Severity

CALM = GeneratorLoad(loop_cpu_s=3.0, wall_s=30.0)  # 10 % of a core, no late wake-ups
SATURATED = GeneratorLoad(
    loop_cpu_s=29.0, wall_s=30.0, wakeups=500, wakeup_lag_p50_ms=25.0, wakeup_lag_p99_ms=80.0
)


def _timed(started: int, skipped: int, unstarted: int, waited: int) -> ScheduleAccount:
    return ScheduleAccount(started, skipped, unstarted, waited, scheduled_s=30.0, achieved_s=30.0)


def test_a_run_that_kept_its_rate_has_no_finding() -> None:
    assert rate_findings(_timed(6000, 0, 0, 40), CALM, rate_per_s=200, workers=10) == []
    # Up to 1 % missed is within the rate.
    assert rate_findings(_timed(5940, 30, 30, 40), CALM, rate_per_s=200, workers=10) == []


def test_workers_all_busy_is_the_cause_when_most_arrivals_waited_for_one() -> None:
    # uow --rate 200 --duration 30 --latency-limit 500: ~15/s of 200/s, 5,300 skipped.
    account = _timed(started=450, skipped=5300, unstarted=250, waited=5600)
    (finding,) = rate_findings(account, CALM, rate_per_s=200, workers=10)
    assert (finding.kind, finding.severity, finding.operation) == (
        "rate_not_met",
        Severity.WARNING,
        None,
    )
    assert finding.evidence.to_json() == {
        "rate_per_s": 200,
        "target_per_s": 200.0,
        "achieved_per_s": 15.0,
        "arrivals": 6000,
        "started": 450,
        "skipped": 5300,
        "unstarted": 250,
        "waited_for_worker": 5600,
        "workers": 10,
        "wakeup_lag_p50_ms": 0.0,
        "loop_cpu_percent": 10.0,
        "cause": "workers_busy",
    }
    assert finding.message.startswith(
        "the rate was not met: 15.0/s started of 200.0/s due (--rate 200); 5300 skipped, "
        "250 never started, of 6000 arrivals. Likely cause: 5600 of 5750 arrivals waited "
        "for a free worker, all 10 being busy: more workers (--threads)"
    )


def test_a_saturated_event_loop_is_the_cause_before_busy_workers() -> None:
    account = _timed(started=3000, skipped=0, unstarted=3000, waited=3000)
    (finding,) = rate_findings(account, SATURATED, rate_per_s=200, workers=10)
    assert finding.evidence.cause == "event_loop"
    assert finding.evidence.wakeup_lag_p50_ms == 25.0
    assert "--processes" in finding.message


def test_the_database_is_the_cause_when_workers_were_mostly_free() -> None:
    # A stall: arrivals during it were skipped; most of the run found a free worker.
    account = _timed(started=5800, skipped=200, unstarted=0, waited=300)
    (finding,) = rate_findings(account, CALM, rate_per_s=200, workers=10)
    assert finding.evidence.cause == "database"
    assert "the database was slower than the rate, and that is the result" in finding.message


def test_a_counted_run_that_took_longer_than_its_schedule_fell_short() -> None:
    # 1000 arrivals due over 5 s were all started, but the last one 10 s in.
    account = ScheduleAccount(1000, 0, 0, 990, scheduled_s=5.0, achieved_s=10.0)
    (finding,) = rate_findings(account, CALM, rate_per_s=200, workers=4)
    assert (finding.evidence.target_per_s, finding.evidence.achieved_per_s) == (200.0, 100.0)
    assert finding.evidence.cause == "workers_busy"
    # 4 % late is within the rate; so is a handful of arrivals, whose rate means little.
    assert rate_findings(ScheduleAccount(1000, 0, 0, 0, 5.0, 5.2), CALM, rate_per_s=200,
                         workers=4) == []  # fmt: skip
    assert rate_findings(ScheduleAccount(10, 0, 0, 9, 0.05, 0.5), CALM, rate_per_s=200,
                         workers=4) == []  # fmt: skip


def test_processes_add_their_arrivals_and_phases_their_windows() -> None:
    a = ScheduleAccount(100, 1, 2, 3, scheduled_s=1.0, achieved_s=1.5)
    b = ScheduleAccount(200, 2, 4, 6, scheduled_s=2.0, achieved_s=2.5)
    assert combine_schedule_accounts([a, b], parallel=True) == ScheduleAccount(
        300, 3, 6, 9, 2.0, 2.5
    )
    assert combine_schedule_accounts([a, b], parallel=False) == ScheduleAccount(
        300, 3, 6, 9, 3.0, 4.0
    )
    assert combine_schedule_accounts([], parallel=True) is None
