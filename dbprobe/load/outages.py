"""Service interruptions read off a run's timeline (pure).

A probe run while the server restarts, or while its connections are killed,
keeps going: the failed operations are counted as ``connection`` errors and
the workers reconnect. This says when that happened and when service came
back, from the per-second timeline.
"""

from __future__ import annotations

from collections.abc import Sequence

from dbprobe.load.timeline import TimelinePoint
from dbprobe.result.findings import (
    Finding,
    FindingKind,
    ServiceInterruptionEvidence,
    Severity,
)
from dbprobe.result.model import OperationReport

__all__ = ["service_interruptions"]


def service_interruptions(
    points: Sequence[TimelinePoint], operations: Sequence[OperationReport]
) -> list[Finding]:
    """One ``service_interruption`` finding per run of intervals with errors.

    Only when some operation lost its connection: give-ups of other kinds
    (e.g. a deadlock retried too often) are not a service interruption.
    """
    lost = sum(op.error_classes.get("connection", 0) for op in operations)
    if not lost:
        return []
    findings: list[Finding] = []
    i = 0
    while i < len(points):
        if points[i].errors == 0:
            i += 1
            continue
        start = i
        while i < len(points) and points[i].errors > 0:
            i += 1
        failed = sum(p.errors for p in points[start:i])
        back = next((p for p in points[i:] if p.commits > 0), None)
        if back is None and points[i - 1].commits > 0:
            back = points[i - 1]  # errors and commits in the last interval: back within it
        began, ended = points[start].t_s, points[i - 1].t_s + points[i - 1].interval_s
        if back is not None:
            tail = f"service was back by {back.t_s + back.interval_s:.0f} s"
        else:
            tail = "service did not come back before the run ended"
        findings.append(
            Finding(
                kind=FindingKind.SERVICE_INTERRUPTION,
                severity=Severity.WARNING,
                operation=None,
                message=(
                    f"{failed} operations failed between {began:.0f} s and {ended:.0f} s of the "
                    f"run ({lost} lost their connection in all); {tail}"
                ),
                evidence=ServiceInterruptionEvidence(
                    failed=failed,
                    from_s=began,
                    to_s=ended,
                    back_by_s=back.t_s + back.interval_s if back is not None else None,
                    connection_errors=lost,
                ),
            )
        )
    return findings
