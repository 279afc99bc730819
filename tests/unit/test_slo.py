from __future__ import annotations

import pytest

from dbprobe.errors import ConfigError
from dbprobe.gate.slo import evaluate_slos, parse_slo
from dbprobe.metrics import LatencySummary
from dbprobe.result.findings import Severity
from dbprobe.result.model import OperationReport, QueryCounts


def _op(
    name: str, *, p95_ms: float, count: int = 100, errors: int = 0, tps: float = 50.0
) -> OperationReport:
    lat = LatencySummary(count, 1.0, 2.0, 3.0, p95_ms, p95_ms + 1, p95_ms + 2, p95_ms + 3, 2.5, 1.0)
    return OperationReport(
        name=name, count=count, attempts=count, commits=count - errors, rollbacks=errors,
        errors=errors, retries=0, cancelled=0, error_classes={}, error_samples={},
        latency_ms=lat, commit_latency_ms=LatencySummary.empty(), throughput_per_s=tps,
        queries=QueryCounts(count * 4, 4.0, 4), histogram="",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("text", "metric", "comparison", "threshold", "operation"),
    [
        ("p95<100ms", "p95", "<", 100.0, None),
        ("p99 <= 1.5s", "p99", "<=", 1500.0, None),
        ("p99.9<250us", "p999", "<", 0.25, None),
        ("error_rate<1%", "error_rate", "<", 0.01, None),
        ("throughput>50/s", "throughput", ">", 50.0, None),
        ("read_program:p50<20ms", "p50", "<", 20.0, "read_program"),
    ],
)
def test_objectives_parse_into_metric_comparison_and_threshold_in_base_units(
    text: str, metric: str, comparison: str, threshold: float, operation: str | None
) -> None:
    check = parse_slo(text)
    assert (check.metric, check.comparison, check.operation) == (metric, comparison, operation)
    assert check.threshold == pytest.approx(threshold)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("p95<<3", "cannot read SLO"),
        ("p95<100", "give a time unit"),
        ("latency<3ms", "unknown metric 'latency'"),
        ("error_rate<3ms", "percentage"),
        ("throughput>3ms", "per second"),
    ],
)
def test_malformed_objectives_say_what_is_wrong(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_slo(text)


def test_violated_latency_objective_is_an_error_finding_with_the_measured_value() -> None:
    findings = evaluate_slos(
        [parse_slo("p95<100ms")], [_op("fast", p95_ms=50), _op("slow", p95_ms=150)]
    )
    assert len(findings) == 1
    (finding,) = findings
    assert finding.kind == "slo_violation"
    assert finding.severity is Severity.ERROR
    assert finding.operation == "slow"
    assert finding.message == "slow: p95 is 150.000 ms; objective 'p95<100ms'"
    assert finding.evidence.value == pytest.approx(150.0)
    assert finding.evidence.threshold == pytest.approx(100.0)


def test_error_rate_objective_counts_given_up_operations() -> None:
    findings = evaluate_slos(
        [parse_slo("error_rate<1%")], [_op("tx", p95_ms=1, count=200, errors=4)]
    )
    assert [f.message for f in findings] == ["tx: error_rate is 2.00%; objective 'error_rate<1%'"]


def test_scoped_objective_checks_only_its_operation() -> None:
    ops = [_op("a", p95_ms=500), _op("b", p95_ms=5)]
    assert evaluate_slos([parse_slo("b:p95<10ms")], ops) == []
    assert [f.operation for f in evaluate_slos([parse_slo("a:p95<10ms")], ops)] == ["a"]


def test_objective_naming_an_unknown_operation_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="names no operation of this run"):
        evaluate_slos([parse_slo("nosuch:p95<10ms")], [_op("a", p95_ms=1)])


def test_throughput_objective_below_target_is_reported() -> None:
    findings = evaluate_slos([parse_slo("throughput>=100/s")], [_op("a", p95_ms=1, tps=40.0)])
    assert findings[0].message == "a: throughput is 40.000/s; objective 'throughput>=100/s'"
