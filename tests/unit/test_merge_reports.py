"""merge_reports: counts add up and histograms merge exactly, as if one run recorded it all."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections import Counter

import pytest

from dbprobe.errors import ErrorClass, UsageError
from dbprobe.gate.slo import parse_slo
from dbprobe.load.health import GeneratorLoad
from dbprobe.load.operations import OperationStats
from dbprobe.load.results import operation_reports
from dbprobe.load.sections import LoadSection, TimelineSection
from dbprobe.load.timeline import TimelineRecorder
from dbprobe.load.workers import WorkloadResult
from dbprobe.metrics import LatencyHistogram
from dbprobe.report.merge import merge_reports
from dbprobe.result.config import LoadShape, ProfileConfig
from dbprobe.result.findings import (
    Finding,
    FindingKind,
    MergeWindowEvidence,
    NPlusOneEvidence,
    Severity,
    SloViolationEvidence,
)
from dbprobe.result.jsonio import report_from_dict, report_to_dict
from dbprobe.result.model import Report, Resources, RunInfo, TargetInfo, ToolInfo
from tests import synthetic

MS = 1_000_000


def _latencies(seed: int, n: int) -> list[int]:
    rng = random.Random(seed)
    return [int(rng.lognormvariate(15, 1.0)) for _ in range(n)]


def _stats(name: str, seed: int, n: int, *, open_loop: bool) -> OperationStats:
    stats = OperationStats(name)
    if open_loop:
        stats.service_latency = LatencyHistogram()
        stats.schedule_lag = LatencyHistogram()
    for ns in _latencies(seed, n):
        stats.attempts += 1
        stats.commits += 1
        stats.latency.record_ns(ns)
        stats.commit_latency.record_ns(ns // 10)
        if stats.service_latency is not None and stats.schedule_lag is not None:
            stats.service_latency.record_ns(ns // 2)
            stats.schedule_lag.record_ns(ns // 2)
    stats.attempts += 2
    stats.failures = stats.errors = 2
    stats.error_classes = Counter({ErrorClass.DEADLOCK: 2})
    stats.error_samples = {ErrorClass.DEADLOCK: [f"[40P01] deadlock {seed}"]}
    stats.statements_total = stats.statements_committed = 3 * n
    stats.statements_max = 3
    stats.late = seed
    return stats


def _n_plus_one(occurrences: int, checked: int) -> Finding:
    return Finding(
        kind=FindingKind.N_PLUS_ONE,
        severity=Severity.WARNING,
        operation="read",
        message=f"N+1: Program.weeks (collection) lazy-loaded 8 times in one read; fix it "
        f"(in {occurrences} of {checked} calls)",
        evidence=NPlusOneEvidence(
            fingerprint="SELECT ... WHERE ? = weeks.program_id",
            executions=8,
            distinct_parameters=8,
            relationship="Program.weeks",
            suggestion=".options(selectinload(Program.weeks))",
            location=None,
            time_ms=1.0,
            occurrences=occurrences,
            operations_checked=checked,
            max_executions=8,
        ),
    )


def _slo_violation(message: str) -> Finding:
    evidence = SloViolationEvidence(slo="p99<1ms", metric="p99", value=9.0, threshold=1.0)
    return Finding(FindingKind.SLO_VIOLATION, Severity.ERROR, "read", message, evidence)


def _report(
    seed: int,
    n: int,
    *,
    start_unix_s: float = 1_800_000_000.0,
    open_loop: bool = False,
    probe: str = "uow",
    findings: tuple[Finding, ...] = (),
) -> Report:
    result = WorkloadResult((_stats("read", seed, n, open_loop=open_loop),), 2.0, False)
    rec = TimelineRecorder(0)
    for i, ns in enumerate(_latencies(seed, n)):
        rec.begin(i * 10 * MS)
        rec.end(i * 10 * MS + ns, ns)
    timeline = rec.finish(2_000 * MS, start_unix_s)
    load = LoadSection(
        plan=LoadShape(
            rate_per_s=50.0 if open_loop else None,
            arrivals="poisson" if open_loop else None,
            profile=ProfileConfig("steady") if open_loop else None,
            latency_limit_ms=None,
            processes=1,
        ),
        measured_from_unix_s=start_unix_s,
        measured_s=2.0,
        generator=GeneratorLoad(0.5, 2.5),
        late_after_ms=10.0,
    )
    return Report(
        tool=ToolInfo("dbprobe", "0.1.0"),
        run=RunInfo(
            probe,
            dt.datetime.fromtimestamp(start_unix_s - 1, dt.UTC),
            3.0,
            ("uow",),
            f"host{seed}",
            "3.11",
        ),
        target=TargetInfo("postgresql", "postgresql://db/x", "PostgreSQL 16", "tiny", 1, "rc"),
        config=synthetic.run_config(rate_per_s=50.0 if open_loop else None),
        operations=operation_reports(result),
        findings=findings,
        resources=Resources(50.0, 60.0, 40.0, 20.0, 1),
        sections=(TimelineSection(timeline), load),
    )


@pytest.mark.parametrize("open_loop", [False, True], ids=["closed", "open"])
def test_merged_counts_add_up_and_percentiles_are_those_of_all_values(open_loop: bool) -> None:
    a, b = _report(1, 300, open_loop=open_loop), _report(2, 500, open_loop=open_loop)
    merged = merge_reports([a, b])
    (op,) = merged.operations

    everything = LatencyHistogram()
    for ns in _latencies(1, 300) + _latencies(2, 500):
        everything.record_ns(ns)
    assert (op.count, op.commits, op.errors, op.attempts) == (804, 800, 4, 804)
    assert op.latency_ms == everything.summary()
    assert LatencyHistogram.decode(op.histogram).count == 800
    assert op.commit_latency_ms.count == 800
    assert op.error_classes == {"deadlock": 4}
    assert op.error_samples == {"deadlock": ("[40P01] deadlock 1", "[40P01] deadlock 2")}
    assert op.throughput_per_s == pytest.approx(150.0 + 250.0)
    assert (op.queries.total, op.queries.per_op_mean, op.queries.per_op_max) == (2400, 3.0, 3)
    assert op.open_loop is open_loop
    if open_loop:
        assert op.service_latency_ms is not None
        assert op.service_latency_ms.count == 800
        assert op.late == 3
    assert merged.resources == Resources(100.0, 120.0, 80.0, 20.0, 2)
    assert merged.run.host == "host1, host2"
    assert merged.config.merged_reports == 2


def test_merging_reports_read_back_from_json_gives_the_same_result() -> None:
    a, b = _report(1, 200), _report(2, 100, start_unix_s=1_800_000_000.3)
    direct = merge_reports([a, b])
    from_files = merge_reports([report_from_dict(report_to_dict(r)) for r in (a, b)])
    assert from_files.operations[0].latency_ms == direct.operations[0].latency_ms
    timeline = {s.name: s.to_json() for s in from_files.sections}["timeline"]
    assert sum(p["commits"] for p in timeline["points"]) == 300
    assert report_to_dict(from_files)["merge"]["common_window_s"] == pytest.approx(1.7)


def test_the_same_n_plus_one_of_several_parts_is_one_finding_with_summed_occurrences() -> None:
    slow = _slo_violation("read: p99 < 1ms violated: 9 ms")
    a = _report(1, 10, findings=(_n_plus_one(10, 10), slow))
    b = _report(2, 10, findings=(_n_plus_one(4, 10), slow))
    merged = merge_reports([a, b])
    n_plus_one = [f for f in merged.findings if f.kind == "n_plus_one"]
    assert len(n_plus_one) == 1
    assert n_plus_one[0].evidence.occurrences == 14
    assert n_plus_one[0].evidence.operations_checked == 20
    assert n_plus_one[0].message.endswith("fix it (in 14 of 20 calls)")
    assert [f.message for f in merged.findings if f.kind == "slo_violation"] == [slow.message]


def test_objectives_given_to_the_merge_are_evaluated_on_the_merged_figures() -> None:
    slow = _slo_violation("stale verdict of one part")
    merged = merge_reports(
        [_report(1, 50, findings=(slow,)), _report(2, 50)], slos=[parse_slo("throughput>1000/s")]
    )
    (violation,) = [f for f in merged.findings if f.kind == "slo_violation"]
    assert violation.message != slow.message
    assert "throughput" in violation.message


def test_reports_measured_at_different_times_are_merged_with_a_warning() -> None:
    merged = merge_reports([_report(1, 10), _report(2, 10, start_unix_s=1_800_000_100.0)])
    (warning,) = [f for f in merged.findings if f.kind == "merge_window_mismatch"]
    assert warning.evidence == MergeWindowEvidence(common_window_s=0.0, shortest_s=2.0)


def test_reports_that_cannot_be_merged_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="different probes: repo, uow"):
        merge_reports([_report(1, 5), _report(2, 5, probe="repo")])
    with pytest.raises(UsageError, match=r"fixed rate .* and some in a closed loop"):
        merge_reports([_report(1, 5), _report(2, 5, open_loop=True)])
    with pytest.raises(UsageError, match="at least one report"):
        merge_reports([])


@pytest.mark.parametrize(
    ("loops", "merged"),
    [(("uvloop", "uvloop"), "uvloop"), (("asyncio", "uvloop"), None), (("asyncio", None), None)],
)
def test_a_merged_report_names_the_event_loop_only_when_every_part_ran_it(
    loops: tuple[str | None, str | None], merged: str | None
) -> None:
    parts = [
        dataclasses.replace(r, run=dataclasses.replace(r.run, loop=loop))
        for r, loop in zip((_report(1, 50), _report(2, 50)), loops, strict=True)
    ]
    assert merge_reports(parts).run.loop == merged
    shown = [p.get("loop") for p in report_to_dict(merge_reports(parts))["merge"]["reports"]]
    assert shown == list(loops)
