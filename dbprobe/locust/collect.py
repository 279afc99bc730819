"""The master's side: each worker's reports, kept and merged exactly into one (pure).

Locust's own stats carry counts and approximate percentiles; what they
cannot carry (each worker's exact HdrHistograms, statements per operation,
error classes, N+1 findings) travels in a ``dbprobe_report`` message beside
them: the worker's report of everything it recorded so far, in the JSON of
``dbprobe.report/1`` (:func:`snapshot_message`). Reports are totals, so the
master keeps only the latest of each worker (:class:`Collector`); a worker
that is lost mid-run leaves its last one, which the merged report keeps and
names in a ``worker_lost`` finding. Operations, histograms and findings
merge as ``dbprobe merge`` merges processes (:mod:`dbprobe.result.merge`).
"""

from __future__ import annotations

import datetime as dt
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

from dbprobe.gate.slo import evaluate_slos
from dbprobe.load.failures import error_rate_findings
from dbprobe.locust.settings import LocustSettings
from dbprobe.result.findings import Finding, FindingKind, Severity, WorkerLostEvidence
from dbprobe.result.jsonio import report_from_dict, report_to_dict
from dbprobe.result.merge import (
    merge_findings,
    merge_loops,
    merge_operation_reports,
    merge_resources,
)
from dbprobe.result.model import RawSection, Report, Resources, RunInfo, TargetInfo, ToolInfo

__all__ = [
    "FINAL_REQUEST",
    "MESSAGE",
    "Collector",
    "RunHeader",
    "WorkerReport",
    "fails",
    "merged_report",
    "read_snapshot",
    "snapshot_message",
]

#: The Locust message type a worker's report travels in.
MESSAGE = "dbprobe_report"
#: The message a master sends its workers when the test stops: stop, send the final report.
FINAL_REQUEST = "dbprobe_final_report"


@dataclass(frozen=True)
class WorkerReport:
    """The latest report of one Locust process, as the master received it.

    ``final`` says it was sent as the worker stopped its users: a worker whose
    latest report is not final was lost (killed, or cut off) before the end.
    """

    worker: str  # Locust's client id: host name and a uuid
    pid: int
    final: bool
    received_unix_s: float
    report: Report


def snapshot_message(report: Report, *, pid: int, final: bool) -> dict[str, Any]:
    """What a worker sends (the JSON edge: Locust packs it with msgpack)."""
    return {"pid": pid, "final": final, "report": report_to_dict(report)}


def read_snapshot(worker: str, data: Mapping[str, Any], received_unix_s: float) -> WorkerReport:
    """A received message as a :class:`WorkerReport` (KeyError, ValueError... if malformed)."""
    return WorkerReport(
        worker=worker,
        pid=int(data["pid"]),
        final=bool(data["final"]),
        received_unix_s=received_unix_s,
        report=report_from_dict(data["report"]),
    )


class Collector:
    """The latest report of each worker, in the order workers first reported."""

    def __init__(self) -> None:
        self._latest: dict[str, WorkerReport] = {}

    def receive(self, part: WorkerReport) -> None:
        # A final report is never replaced by a later periodic one of the same
        # worker (Locust's stats reporter may still run once after the stop).
        kept = self._latest.get(part.worker)
        if kept is not None and kept.final and not part.final:
            return
        self._latest[part.worker] = part

    def reset(self) -> None:
        self._latest.clear()

    @property
    def parts(self) -> tuple[WorkerReport, ...]:
        return tuple(self._latest.values())


@dataclass(frozen=True)
class RunHeader:
    """What the merged report says of the whole run: the master's view of it."""

    started_at: dt.datetime
    duration_s: float
    argv: tuple[str, ...]
    host: str
    target: TargetInfo
    checksum: str | None
    weights: Mapping[str, int]
    interrupted: bool = False


def _lost_finding(part: WorkerReport) -> Finding:
    operations = sum(op.count for op in part.report.operations)
    at = dt.datetime.fromtimestamp(part.received_unix_s, dt.UTC).strftime("%H:%M:%S")
    return Finding(
        kind=FindingKind.WORKER_LOST,
        severity=Severity.WARNING,
        operation=None,
        message=(
            f"Locust worker {part.worker} (pid {part.pid} on {part.report.run.host}) was lost "
            f"before the end: its last report ({at} UTC, {operations} operations) is kept; "
            "what it ran after that is missing from this report"
        ),
        evidence=WorkerLostEvidence(
            worker=part.worker,
            host=part.report.run.host,
            pid=part.pid,
            operations=operations,
            last_report_unix_s=round(part.received_unix_s, 3),
        ),
    )


def merged_report(
    parts: Sequence[WorkerReport], header: RunHeader, settings: LocustSettings
) -> Report:
    """One report of every worker's latest: counts summed, histograms merged exactly."""
    operations = merge_operation_reports([p.report.operations for p in parts])
    # Operations no user ran still have a row, with a count of 0, as in a probe's report.
    ran = {op.name for op in operations}
    findings: list[Finding] = error_rate_findings(operations, settings.max_error_rate)
    findings += evaluate_slos(settings.slos, operations)
    findings += merge_findings([p.report.findings for p in parts])
    findings += [_lost_finding(p) for p in parts if not p.final]
    section = RawSection(
        "locust",
        {
            "workers": [
                {
                    "worker": p.worker,
                    "host": p.report.run.host,
                    "pid": p.pid,
                    "state": "stopped" if p.final else "lost",
                    "last_report_unix_s": round(p.received_unix_s, 3),
                    "operations": {op.name: op.count for op in p.report.operations},
                }
                for p in parts
            ],
            "lost": [p.worker for p in parts if not p.final],
            "operations_without_users": sorted(set(header.weights) - ran),
        },
    )
    return Report(
        tool=ToolInfo("dbprobe", version("dbprobe")),
        run=RunInfo(
            probe=settings.probe,
            started_at=header.started_at,
            duration_s=header.duration_s,
            argv=header.argv,
            host=header.host,
            python=platform.python_version(),
            interrupted=header.interrupted,
            # The workers ran the load (dbprobe.locust.loop picks their loop).
            loop=merge_loops(p.report.run.loop for p in parts),
        ),
        target=header.target,
        config=settings.run_config(header.weights, header.checksum),
        operations=operations,
        findings=tuple(sorted(findings, key=lambda f: f.severity.rank)),
        resources=(
            merge_resources([p.report.resources for p in parts])
            if parts
            else Resources(0.0, 0.0, 0.0)
        ),
        sections=(section,),
    )


def fails(report: Report, fail_on: frozenset[FindingKind]) -> bool:
    """Whether the run failed, as ``dbprobe``'s own commands decide it: an error finding
    (an SLO violated, too many errors) or a finding of a kind given to ``--dbprobe-fail-on``."""
    return any(f.severity is Severity.ERROR or f.kind in fail_on for f in report.findings)
