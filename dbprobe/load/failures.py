"""Runs that failed: the ``error_rate`` verdict, read off a run's operations (pure).

A run in which many operations gave up measured the failures, not the
database: its latencies are of the few that got through. So when the share
of finished operations that gave up is above a limit (1 % unless
``--max-error-rate`` says otherwise), the report carries an ``error_rate``
finding of severity error, and the command line exits 1, as pgbench exits
non-zero when transactions failed. The finding names the classes and the
operations that failed most, and the first message of the top class.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence

from dbprobe.result.findings import ErrorRateEvidence, Finding, FindingKind, Severity
from dbprobe.result.model import OperationReport
from dbprobe.result.options import DEFAULT_MAX_ERROR_RATE

__all__ = ["DEFAULT_MAX_ERROR_RATE", "error_rate_findings"]

# Classes and operations named in the message; the evidence keeps as many.
_TOP = 3


def _most_first(counts: Counter[str]) -> dict[str, int]:
    # Ties by name, so that the same run always reads the same.
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return dict(ranked[:_TOP])


def _first_error(operations: Sequence[OperationReport], cls: str) -> str | None:
    failed = [op for op in operations if op.error_samples.get(cls)]
    if not failed:
        return None
    worst = max(failed, key=lambda op: op.errors_by_class.get(cls, 0))
    return worst.error_samples[cls][0]


def error_rate_findings(
    operations: Sequence[OperationReport], max_error_rate: float, *, excluded: Collection[str] = ()
) -> list[Finding]:
    """An ``error_rate`` error when more than ``max_error_rate`` of finished operations gave up.

    ``excluded`` are error classes the probe provokes on purpose and reports
    in a finding of its own (the deadlock probe's deadlocks, the pool
    probe's checkout timeouts): they do not count as failures of the run.
    """
    finished = sum(op.count for op in operations)
    by_class: Counter[str] = Counter()
    by_operation: Counter[str] = Counter()
    for op in operations:
        for cls, n in op.errors_by_class.items():
            if cls not in excluded and n:
                by_class[cls] += n
                by_operation[op.name] += n
    errors = sum(by_class.values())
    if not finished or errors / finished <= max_error_rate:
        return []
    rate = errors / finished
    classes = _most_first(by_class)
    worst = _most_first(by_operation)
    first = _first_error(operations, next(iter(classes)))
    message = (
        f"{errors} of {finished} operations failed ({rate * 100:.1f} %, above the "
        f"{max_error_rate * 100:.1f} % limit of --max-error-rate): "
        + ", ".join(f"{cls} {n}" for cls, n in classes.items())
    )
    if len(by_operation) > 1:
        message += "; most in " + ", ".join(f"{name} ({n})" for name, n in worst.items())
    if first is not None:
        message += f"; first: {first}"
    return [
        Finding(
            kind=FindingKind.ERROR_RATE,
            severity=Severity.ERROR,
            operation=None,
            message=message,
            evidence=ErrorRateEvidence(
                errors=errors,
                finished=finished,
                error_rate=round(rate, 6),
                max_error_rate=max_error_rate,
                error_classes=classes,
                operations=worst,
                first_error=first,
                excluded_classes=tuple(sorted(excluded)),
            ),
        )
    ]
