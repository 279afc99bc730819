"""Turning what the runner recorded into report objects (pure)."""

from __future__ import annotations

from dbprobe.report.model import Finding, OperationReport, QueryCounts, Severity
from dbprobe.runner import OperationStats, WorkloadResult

__all__ = ["operation_findings", "operation_reports"]


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
    )


def operation_reports(result: WorkloadResult) -> tuple[OperationReport, ...]:
    return tuple(_operation_report(s, result.measured_s) for s in result.operations)


def operation_findings(result: WorkloadResult) -> list[Finding]:
    """N+1 and unused-eager-load findings of every operation, most severe first."""
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    found = [f for s in result.operations for f in s.findings.findings()]
    return sorted(found, key=lambda f: order[f.severity])
