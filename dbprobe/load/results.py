"""Turning what the runner recorded into report objects (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from dbprobe.load.health import GeneratorLoad, combine_generator_loads
from dbprobe.load.operations import OperationStats
from dbprobe.load.timeline import Timeline, concat_timelines
from dbprobe.load.workers import WorkloadResult
from dbprobe.result.findings import Finding, Severity
from dbprobe.result.model import OperationReport, QueryCounts

__all__ = ["operation_findings", "operation_reports", "results_generator", "results_timeline"]


def _operation_report(stats: OperationStats, measured_s: float) -> OperationReport:
    return OperationReport(
        name=stats.name,
        count=stats.commits + stats.errors,
        attempts=stats.attempts,
        commits=stats.commits,
        rollbacks=stats.failures,
        errors=stats.errors,
        retries=stats.retries,
        cancelled=stats.cancelled,
        error_classes={k.value: n for k, n in sorted(stats.error_classes.items())},
        error_samples={k.value: tuple(v) for k, v in sorted(stats.error_samples.items())},
        latency_ms=stats.latency.summary(),
        commit_latency_ms=stats.commit_latency.summary(),
        throughput_per_s=stats.commits / measured_s if measured_s > 0 else 0.0,
        queries=QueryCounts(
            total=stats.statements_total,
            per_op_mean=stats.statements_committed / stats.commits if stats.commits else 0.0,
            per_op_max=stats.statements_max,
        ),
        histogram=stats.latency.encode(),
        service_latency_ms=stats.service_latency.summary() if stats.service_latency else None,
        schedule_lag_ms=stats.schedule_lag.summary() if stats.schedule_lag else None,
        late=stats.late,
        skipped=stats.skipped,
        unstarted=stats.unstarted,
        commit_histogram=stats.commit_latency.encode(),
        service_histogram=stats.service_latency.encode() if stats.service_latency else "",
        schedule_lag_histogram=stats.schedule_lag.encode() if stats.schedule_lag else "",
        lock_waits=stats.lock_waits,
        lock_wait_ms_total=stats.lock_wait_ns / 1e6,
        rounds=stats.rounds,
        errors_by_class={k.value: n for k, n in sorted(stats.gave_up.items())},
    )


def operation_reports(result: WorkloadResult) -> tuple[OperationReport, ...]:
    return tuple(_operation_report(s, result.measured_s) for s in result.operations)


def operation_findings(result: WorkloadResult) -> list[Finding]:
    """N+1 and unused-eager-load findings of every operation, most severe first."""
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    found = [f for s in result.operations for f in s.findings.findings()]
    return sorted(found, key=lambda f: order[f.severity])


def results_timeline(results: Sequence[WorkloadResult]) -> Timeline | None:
    """The timelines of consecutive runs (a catalogue's phases) as one."""
    return concat_timelines([r.timeline for r in results if r.timeline is not None])


def results_generator(results: Sequence[WorkloadResult]) -> GeneratorLoad:
    """What the event loop spent over consecutive runs."""
    return combine_generator_loads(
        [r.generator for r in results if r.generator is not None], parallel=False
    )
