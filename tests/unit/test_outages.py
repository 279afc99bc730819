from __future__ import annotations

from dbprobe.load.outages import service_interruptions
from dbprobe.load.timeline import TimelinePoint
from dbprobe.metrics import LatencySummary
from dbprobe.result.model import OperationReport, QueryCounts


def _point(t: float, commits: int, errors: int) -> TimelinePoint:
    return TimelinePoint(
        t_s=t, interval_s=1.0, commits=commits, errors=errors, throughput_per_s=float(commits),
        p50_ms=1.0, p99_ms=1.0, max_ms=1.0, in_flight_max=1, started=commits + errors,
    )  # fmt: skip


def _op(connection_errors: int) -> OperationReport:
    return OperationReport(
        name="tx", count=10, attempts=10, commits=10 - connection_errors,
        rollbacks=connection_errors, errors=connection_errors, retries=0, cancelled=0,
        error_classes={"connection": connection_errors} if connection_errors else {},
        error_samples={}, latency_ms=LatencySummary.empty(), commit_latency_ms=LatencySummary.empty(),
        throughput_per_s=1.0, queries=QueryCounts(0, 0.0, 0), histogram="",
    )  # fmt: skip


def test_an_error_burst_with_lost_connections_is_one_interruption_with_its_recovery() -> None:
    points = [_point(0, 50, 0), _point(1, 3, 4), _point(2, 0, 2), _point(3, 40, 0)]
    (finding,) = service_interruptions(points, [_op(6)])
    assert finding.kind == "service_interruption"
    assert finding.evidence.to_json() == {
        "failed": 6, "from_s": 1.0, "to_s": 3.0, "back_by_s": 4.0, "connection_errors": 6,
    }  # fmt: skip
    assert finding.message == (
        "6 operations failed between 1 s and 3 s of the run (6 lost their connection in all); "
        "service was back by 4 s"
    )


def test_errors_without_lost_connections_are_no_interruption() -> None:
    assert service_interruptions([_point(0, 5, 3)], [_op(0)]) == []


def test_no_recovery_before_the_end_is_said() -> None:
    (finding,) = service_interruptions([_point(0, 5, 0), _point(1, 0, 5)], [_op(5)])
    assert finding.evidence.back_by_s is None
    assert finding.message.endswith("service did not come back before the run ended")
