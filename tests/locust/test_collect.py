"""The master's merge of its workers' reports (pure: synthetic reports, no Locust)."""

from __future__ import annotations

import datetime as dt

from dbprobe.database.url import resolve_target
from dbprobe.locust.collect import (
    Collector,
    RunHeader,
    WorkerReport,
    fails,
    merged_report,
    read_snapshot,
    snapshot_message,
)
from dbprobe.locust.settings import LocustSettings
from dbprobe.result.findings import FindingKind
from dbprobe.result.model import TargetInfo
from tests.synthetic import T0, report

SETTINGS = LocustSettings(resolve_target("postgresql+asyncpg://u:pw@db/x", {}), scale="tiny")
HEADER = RunHeader(
    started_at=T0,
    duration_s=10.0,
    argv=("locust",),
    host="master",
    target=TargetInfo("postgresql", "postgresql+asyncpg://u:***@db/x", "PostgreSQL 16", "tiny", 1, "read_committed"),
    checksum="abc",
    weights={"read_program": 6, "create_program": 1},
)  # fmt: skip


def _part(worker: str, reads: list[float], *, final: bool, at: float = 100.0) -> WorkerReport:
    # Through the message and back, as the master receives it.
    sent = snapshot_message(
        report({"read_program": reads, "create_program": [5.0]}, host=worker), pid=7, final=final
    )
    return read_snapshot(worker, sent, at)


def test_the_latest_report_of_each_worker_is_kept_and_a_final_one_is_never_replaced() -> None:
    collector = Collector()
    collector.receive(_part("w1", [1.0], final=False))
    collector.receive(_part("w2", [1.0], final=False))
    collector.receive(_part("w1", [1.0, 2.0], final=True))
    collector.receive(_part("w1", [1.0, 2.0, 3.0], final=False))  # a late periodic one
    parts = {p.worker: p for p in collector.parts}
    assert list(parts) == ["w1", "w2"]
    assert parts["w1"].final
    assert parts["w1"].report.operations[0].count == 2


def test_counts_add_up_and_histograms_merge_exactly() -> None:
    parts = [_part("w1", [1.0, 2.0, 3.0], final=True), _part("w2", [4.0, 100.0], final=True)]
    merged = merged_report(parts, HEADER, SETTINGS)
    reads = next(op for op in merged.operations if op.name == "read_program")
    assert reads.count == 5
    assert reads.latency_ms.count == 5
    assert 99.0 <= reads.latency_ms.max_ms <= 101.0  # the one slow read, not an average
    assert reads.queries.total == 15
    assert merged.run.probe == "uow"
    assert merged.config.seed_checksum == "abc"
    assert merged.target.url == "postgresql+asyncpg://u:***@db/x"
    assert [w["state"] for w in merged.sections[0].to_json()["workers"]] == ["stopped", "stopped"]
    assert not [f for f in merged.findings if f.kind is FindingKind.WORKER_LOST]


def test_a_worker_without_a_final_report_is_named_lost_and_its_counts_kept() -> None:
    at = dt.datetime(2026, 1, 5, tzinfo=dt.UTC).timestamp()
    lost = _part("vm_abc", [1.0, 2.0], final=False, at=at)
    merged = merged_report([_part("w2", [1.0], final=True), lost], HEADER, SETTINGS)
    (finding,) = [f for f in merged.findings if f.kind is FindingKind.WORKER_LOST]
    assert finding.message.startswith(
        "Locust worker vm_abc (pid 7 on vm_abc) was lost before the end"
    )
    assert "its last report (00:00:00 UTC, 3 operations) is kept" in finding.message
    assert finding.evidence.to_json()["operations"] == 3
    assert merged.sections[0].to_json()["lost"] == ["vm_abc"]
    assert next(op for op in merged.operations if op.name == "read_program").count == 3
    # A lost worker warns; it fails the run only when asked to.
    assert not fails(merged, frozenset())
    assert fails(merged, frozenset({FindingKind.WORKER_LOST}))
