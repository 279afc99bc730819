"""Service-level objectives given on the command line (pure).

``--slo "p95<100ms"``, ``--slo "error_rate<1%"``, ``--slo "throughput>50/s"``;
prefix an operation name to scope one: ``--slo "read_program:p99<20ms"``.
Without a prefix an objective applies to every operation. A violated
objective becomes an ``slo_violation`` finding (and CLI exit status 1).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from dbprobe.errors import ConfigError
from dbprobe.result.findings import Finding, FindingKind, Severity, SloViolationEvidence
from dbprobe.result.model import OperationReport

__all__ = ["SloCheck", "check_slo_scopes", "evaluate_slos", "parse_slo"]

_LATENCY_METRICS = ("min", "p50", "p90", "p95", "p99", "p999", "max", "mean")
_TIME_UNITS_MS = {"us": 0.001, "µs": 0.001, "ms": 1.0, "s": 1000.0}
_PATTERN = re.compile(
    r"^\s*(?:(?P<op>[A-Za-z_][\w.-]*)\s*:\s*)?(?P<metric>[a-z_0-9.]+)\s*(?P<cmp><=|>=|<|>)"
    r"\s*(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>us|µs|ms|s|%|/s)?\s*$"
)
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclass(frozen=True)
class SloCheck:
    """One objective: ``metric cmp threshold``, in ms, fraction (0..1) or per second."""

    text: str
    metric: str
    comparison: str
    threshold: float
    operation: str | None = None

    def value_of(self, op: OperationReport) -> float:
        if self.metric == "error_rate":
            return op.error_rate
        if self.metric == "throughput":
            return op.throughput_per_s
        return op.latency_ms.metric_ms(self.metric)

    def holds_for(self, op: OperationReport) -> bool:
        return _COMPARE[self.comparison](self.value_of(op), self.threshold)


def parse_slo(text: str) -> SloCheck:
    """Parse one objective; a ConfigError says what a valid one looks like."""
    m = _PATTERN.match(text)
    hint = 'e.g. "p95<100ms", "error_rate<1%", "throughput>50/s" or "read_program:p99<20ms"'
    if m is None:
        raise ConfigError(f"cannot read SLO {text!r}: {hint}")
    metric = m["metric"].replace(".", "")  # accept p99.9 for p999
    value, unit = float(m["value"]), m["unit"]
    if metric in _LATENCY_METRICS:
        if unit not in _TIME_UNITS_MS:
            raise ConfigError(f"SLO {text!r}: give a time unit (us, ms or s) for {metric}")
        threshold = value * _TIME_UNITS_MS[unit]
    elif metric == "error_rate":
        if unit not in ("%", None):
            raise ConfigError(f"SLO {text!r}: error_rate is a percentage, e.g. error_rate<1%")
        threshold = value / 100 if unit == "%" else value
    elif metric == "throughput":
        if unit not in ("/s", None):
            raise ConfigError(f"SLO {text!r}: throughput is per second, e.g. throughput>50/s")
        threshold = value
    else:
        known = ", ".join((*_LATENCY_METRICS, "error_rate", "throughput"))
        raise ConfigError(f"SLO {text!r}: unknown metric {m['metric']!r}; known: {known}")
    return SloCheck(text.strip(), metric, m["cmp"], threshold, m["op"])


def _unit_of(metric: str) -> str:
    return {"error_rate": "", "throughput": "/s"}.get(metric, " ms")


def check_slo_scopes(checks: Iterable[SloCheck], operations: Sequence[str]) -> None:
    """A ConfigError for an objective naming an operation not among ``operations``.

    Called before a run with the operations it will measure (so a typo costs
    no measurement), and again on the measured ones.
    """
    for check in checks:
        if check.operation is not None and check.operation not in operations:
            raise ConfigError(
                f"SLO {check.text!r} names no operation of this run ({', '.join(operations)})"
            )


def evaluate_slos(
    checks: Iterable[SloCheck], operations: Iterable[OperationReport]
) -> list[Finding]:
    """One finding per (objective, operation) that does not hold.

    An objective naming an operation the run does not have is a ConfigError:
    silently passing it would hide a typo.
    """
    ops = list(operations)
    checks = list(checks)
    check_slo_scopes(checks, [op.name for op in ops])
    findings: list[Finding] = []
    for check in checks:
        targets = [op for op in ops if check.operation in (None, op.name)]
        for op in targets:
            if op.count == 0 or check.holds_for(op):
                continue
            value = check.value_of(op)
            shown = (
                f"{value:.2%}"
                if check.metric == "error_rate"
                else f"{value:.3f}{_unit_of(check.metric)}"
            )
            findings.append(
                Finding(
                    kind=FindingKind.SLO_VIOLATION,
                    severity=Severity.ERROR,
                    operation=op.name,
                    message=f"{op.name}: {check.metric} is {shown}; objective {check.text!r}",
                    evidence=SloViolationEvidence(
                        slo=check.text,
                        metric=check.metric,
                        value=value,
                        threshold=check.threshold,
                    ),
                )
            )
    return findings
