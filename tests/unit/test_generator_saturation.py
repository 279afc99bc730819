"""When the load generator itself is the bottleneck, the report says so."""

from __future__ import annotations

from dbprobe.load.health import GeneratorLoad, combine_generator_loads, generator_findings
from dbprobe.result.findings import Severity


def test_an_event_loop_busy_nine_tenths_of_the_run_is_a_saturated_generator() -> None:
    (finding,) = generator_findings(GeneratorLoad(loop_cpu_s=9.3, wall_s=10.0))
    assert finding.kind == "generator_saturated"
    assert finding.severity is Severity.WARNING
    assert "its event loop used 93 % of a core" in finding.message
    assert "--processes N" in finding.message
    assert finding.evidence.loop_cpu_percent == 93.0


def test_free_workers_mostly_waking_up_late_is_a_saturated_generator() -> None:
    load = GeneratorLoad(
        loop_cpu_s=8.0, wall_s=10.0, wakeups=500, wakeup_lag_p99_ms=40.0, wakeup_lag_p50_ms=12.0
    )
    (finding,) = generator_findings(load)
    assert "free workers woke up 12.0 ms late (median)" in finding.message
    assert finding.evidence.wakeup_lag_p50_ms == 12.0


def test_an_occasional_late_wakeup_behind_a_cpu_heavy_operation_is_not_saturation() -> None:
    load = GeneratorLoad(
        loop_cpu_s=2.2, wall_s=10.0, wakeups=400, wakeup_lag_p99_ms=34.0, wakeup_lag_p50_ms=0.9
    )
    assert generator_findings(load) == []


def test_a_generator_with_headroom_or_too_few_wakeups_is_not_reported() -> None:
    assert generator_findings(GeneratorLoad(loop_cpu_s=8.9, wall_s=10.0)) == []
    few = GeneratorLoad(loop_cpu_s=1.0, wall_s=10.0, wakeups=5, wakeup_lag_p50_ms=500.0)
    assert generator_findings(few) == []


def test_processes_are_judged_by_the_busiest_and_phases_by_their_sum() -> None:
    calm = GeneratorLoad(loop_cpu_s=2.0, wall_s=10.0)
    busy = GeneratorLoad(loop_cpu_s=9.5, wall_s=10.0, wakeups=10, wakeup_lag_p99_ms=3.0)
    parallel = combine_generator_loads([calm, busy], parallel=True)
    assert (parallel.loop_cpu_percent, parallel.processes, parallel.wakeups) == (95.0, 2, 10)
    assert "(busiest process)" in generator_findings(parallel)[0].message
    serial = combine_generator_loads([calm, busy], parallel=False)
    assert (serial.loop_cpu_s, serial.wall_s, serial.processes) == (11.5, 20.0, 1)
    assert generator_findings(serial) == []


def test_an_event_loop_that_runs_its_timers_late_is_a_saturated_generator() -> None:
    load = GeneratorLoad(loop_cpu_s=4.0, wall_s=10.0, lag_samples=900, loop_lag_p50_ms=7.5,
                         loop_lag_p99_ms=31.0)  # fmt: skip
    (finding,) = generator_findings(load)
    assert "its event loop ran timers 7.5 ms late (median; p99 31.0 ms)" in finding.message
    assert "fewer workers per process (--threads)" in finding.message
    assert finding.evidence.loop_lag_p50_ms == 7.5
    assert finding.evidence.loop_lag_threshold_ms == 5.0


def test_a_few_late_timers_behind_heavy_operations_are_not_saturation() -> None:
    tail_only = GeneratorLoad(loop_cpu_s=4.0, wall_s=10.0, lag_samples=900,
                              loop_lag_p50_ms=0.6, loop_lag_p99_ms=40.0)  # fmt: skip
    too_few = GeneratorLoad(loop_cpu_s=0.01, wall_s=0.1, lag_samples=4, loop_lag_p50_ms=50.0)
    assert generator_findings(tail_only) == []
    assert generator_findings(too_few) == []
