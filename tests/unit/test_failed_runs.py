"""Runs that failed: the ``error_rate`` verdict read off a run's operations (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from dbprobe.load.failures import DEFAULT_MAX_ERROR_RATE, error_rate_findings
from dbprobe.metrics import LatencySummary
from dbprobe.result.findings import Severity
from dbprobe.result.model import OperationReport, QueryCounts


def _op(
    name: str, finished: int, gave_up: Mapping[str, int], samples: Mapping[str, str] = {}
) -> OperationReport:
    errors = sum(gave_up.values())
    return OperationReport(
        name=name, count=finished, attempts=finished, commits=finished - errors,
        rollbacks=errors, errors=errors, retries=0, cancelled=0,
        error_classes=dict(gave_up), error_samples={k: (v,) for k, v in samples.items()},
        latency_ms=LatencySummary.empty(), commit_latency_ms=LatencySummary.empty(),
        throughput_per_s=1.0, queries=QueryCounts(0, 0.0, 0), histogram="",
        errors_by_class=dict(gave_up),
    )  # fmt: skip


def test_a_run_where_most_operations_lost_their_connection_is_an_error() -> None:
    ops = [
        _op("read_program", 600, {"connection": 450},
            {"connection": "[08003] ConnectionDoesNotExistError: connection was closed"}),
        _op("create_program", 400, {"connection": 270, "other": 3}),
    ]  # fmt: skip
    (finding,) = error_rate_findings(ops, DEFAULT_MAX_ERROR_RATE)
    assert (finding.kind, finding.severity, finding.operation) == (
        "error_rate",
        Severity.ERROR,
        None,
    )
    assert finding.evidence.to_json() == {
        "errors": 723,
        "finished": 1000,
        "error_rate": 0.723,
        "max_error_rate": 0.01,
        "error_classes": {"connection": 720, "other": 3},
        "operations": {"read_program": 450, "create_program": 273},
        "first_error": "[08003] ConnectionDoesNotExistError: connection was closed",
        "excluded_classes": [],
    }
    assert finding.message == (
        "723 of 1000 operations failed (72.3 %, above the 1.0 % limit of --max-error-rate): "
        "connection 720, other 3; most in read_program (450), create_program (273); first: "
        "[08003] ConnectionDoesNotExistError: connection was closed"
    )


def test_too_many_clients_refused_is_an_error_named_by_its_class() -> None:
    ops = [_op("hold", 200, {"connection": 110}, {"connection": "[53300] too many clients"})]
    (finding,) = error_rate_findings(ops, DEFAULT_MAX_ERROR_RATE)
    assert finding.evidence.error_classes == {"connection": 110}
    assert finding.evidence.error_rate == 0.55
    assert "[53300] too many clients" in finding.message


def test_errors_within_the_limit_are_no_finding_and_the_limit_itself_is_within() -> None:
    assert error_rate_findings([_op("tx", 1000, {"lock_timeout": 10})], 0.01) == []
    assert error_rate_findings([_op("tx", 1000, {"lock_timeout": 11})], 0.01) != []
    assert error_rate_findings([_op("tx", 1000, {})], 0.0) == []
    assert error_rate_findings([_op("tx", 1000, {"other": 1})], 0.0) != []  # any error fails
    assert error_rate_findings([_op("tx", 0, {})], 0.01) == []


def test_what_a_probe_provokes_on_purpose_is_not_counted() -> None:
    # The deadlock probe makes deadlocks and reports them itself; a lost connection is a failure.
    ops = [_op("transfer", 100, {"deadlock": 40, "connection": 1})]
    assert error_rate_findings(ops, 0.01, excluded=("deadlock",)) == []
    ops = [_op("transfer", 100, {"deadlock": 40, "connection": 5})]
    (finding,) = error_rate_findings(ops, 0.01, excluded=("deadlock",))
    assert finding.evidence.errors == 5
    assert finding.evidence.error_classes == {"connection": 5}
    assert finding.evidence.excluded_classes == ("deadlock",)
