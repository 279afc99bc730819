"""``dbprobe merge``: one report of runs of several hosts that loaded one database together (pure).

One Python process saturates a core long before PostgreSQL does, so a heavy
load comes from several processes or machines, each writing its own report.
Operations, findings and resources merge as :mod:`dbprobe.result.merge`
says; on top of that:

- throughput is summed over parts that ran at the same time, so within their
  common window the database saw the sum; the ``merge`` section gives each
  part's window and the common one, and a ``merge_window_mismatch`` warning
  says when they overlap too little for that to hold;
- with ``slos``, objectives are evaluated again on the merged figures and
  the parts' own ``slo_violation`` findings are dropped;
- the timelines are overlaid by wall-clock time and the ``load`` sections
  combined;
- the event loop is named when every part ran the same one.

:func:`read_reports_to_merge` reads the files: a report whose timeline or
load section cannot be merged, or a run given twice (which would double
every count), is refused naming the file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from dbprobe.errors import ReportFileError, UsageError
from dbprobe.gate.slo import SloCheck, evaluate_slos
from dbprobe.load.health import combine_generator_loads
from dbprobe.load.sections import (
    LoadSection,
    TimelineSection,
    load_section_generator,
    timeline_from_json,
)
from dbprobe.load.timeline import merge_timelines
from dbprobe.result.config import LoadShape, RunConfig
from dbprobe.result.findings import Finding, FindingKind, MergeWindowEvidence, Severity
from dbprobe.result.jsonio import MALFORMED, read_report
from dbprobe.result.merge import (
    merge_findings,
    merge_loops,
    merge_operation_reports,
    merge_resources,
)
from dbprobe.result.model import RawSection, Report, RunInfo, Section

__all__ = ["merge_reports", "read_reports_to_merge", "run_ids"]

# Below this share of the shortest part's window, summed throughput misleads.
_MIN_OVERLAP_SHARE = 0.9


def _section_json(report: Report, name: str) -> dict[str, Any] | None:
    for section in report.sections:
        if section.name == name:
            return section.to_json()
    return None


def _window(report: Report) -> tuple[float, float]:
    """The measured window (unix seconds) of a report; the whole run if it has no load section."""
    load = _section_json(report, "load")
    if load is not None and "measured_from_unix_s" in load:
        start = float(load["measured_from_unix_s"])
        return start, start + float(load.get("measured_s", 0.0))
    start = report.run.started_at.timestamp()
    return start, start + report.run.duration_s


def _merged_load(
    reports: Sequence[Report], windows: Sequence[tuple[float, float]]
) -> Section | None:
    loads = [_section_json(r, "load") for r in reports]
    present = [d for d in loads if d is not None]
    if not present:
        return None
    generators = [g for d in present if (g := load_section_generator(d)) is not None]
    first = present[0]
    shapes = [LoadShape.from_json(d) for d in present]
    rates = [shape.rate_per_s for shape in shapes]
    plan = replace(
        shapes[0],
        rate_per_s=sum(r for r in rates if r is not None) if rates[0] else None,
        processes=sum(shape.processes for shape in shapes),
    )
    start = min(w[0] for w in windows)
    end = max(w[1] for w in windows)
    return LoadSection(
        plan=plan,
        measured_from_unix_s=start,
        measured_s=end - start,
        generator=combine_generator_loads(generators, parallel=True),
        late_after_ms=float(first.get("late_after_ms", 0.0)),
    )


def merge_reports(reports: Sequence[Report], *, slos: Sequence[SloCheck] = ()) -> Report:
    """One report of runs that loaded one database at the same time (see the module docstring).

    Raises UsageError when the reports are of different probes or backends,
    or mix open- and closed-loop runs of an operation.
    """
    if not reports:
        raise UsageError("nothing to merge: give at least one report")
    probes = sorted({r.run.probe for r in reports})
    if len(probes) > 1:
        raise UsageError(f"cannot merge reports of different probes: {', '.join(probes)}")
    backends = sorted({r.target.backend for r in reports})
    if len(backends) > 1:
        raise UsageError(f"cannot merge reports of different databases: {', '.join(backends)}")
    first = reports[0]
    operations = merge_operation_reports([r.operations for r in reports])
    groups: list[Sequence[Finding]] = [r.findings for r in reports]
    if slos:
        groups = [[f for f in g if f.kind is not FindingKind.SLO_VIOLATION] for g in groups]
    findings = merge_findings(groups)
    if slos:
        findings = merge_findings([evaluate_slos(slos, operations), findings])

    windows = [_window(r) for r in reports]
    common_start = max(w[0] for w in windows)
    common_end = min(w[1] for w in windows)
    common_s = max(0.0, common_end - common_start)
    shortest_s = min(w[1] - w[0] for w in windows)
    if len(reports) > 1 and shortest_s > 0 and common_s < _MIN_OVERLAP_SHARE * shortest_s:
        findings.append(
            Finding(
                kind=FindingKind.MERGE_WINDOW_MISMATCH,
                severity=Severity.WARNING,
                operation=None,
                message=(
                    f"the merged reports were measured together for {common_s:.1f} s only "
                    f"(the shortest ran {shortest_s:.1f} s): summed throughput over-states the "
                    "load the database saw at once; start the hosts together"
                ),
                evidence=MergeWindowEvidence(
                    common_window_s=round(common_s, 3), shortest_s=round(shortest_s, 3)
                ),
            )
        )

    sections: list[Section] = []
    timelines = [timeline_from_json(d) for r in reports if (d := _section_json(r, "timeline"))]
    timeline = merge_timelines(timelines)
    if timeline is not None:
        sections.append(TimelineSection(timeline))
    load = _merged_load(reports, windows)
    if load is not None:
        sections.append(load)
    kept = [s for s in first.sections if s.name not in ("timeline", "load", "merge")]
    sections.extend(kept)
    sections.append(
        RawSection(
            "merge",
            {
                "reports": [
                    {
                        "host": r.run.host,
                        "started_at": r.run.started_at.isoformat(),
                        **({"loop": r.run.loop} if r.run.loop is not None else {}),
                        "measured_from_unix_s": round(w[0], 6),
                        "measured_s": round(w[1] - w[0], 3),
                        "operations": {op.name: op.count for op in r.operations},
                    }
                    for r, w in zip(reports, windows, strict=True)
                ],
                "common_window_s": round(common_s, 3),
                "sections_from_first_report": [s.name for s in kept],
            },
        )
    )

    started = min(r.run.started_at for r in reports)
    ended = max(r.run.started_at.timestamp() + r.run.duration_s for r in reports)
    hosts = list(dict.fromkeys(r.run.host for r in reports))
    return Report(
        tool=first.tool,
        run=RunInfo(
            probe=first.run.probe,
            started_at=started,
            duration_s=ended - started.timestamp(),
            argv=first.run.argv,
            host=", ".join(hosts),
            python=first.run.python,
            interrupted=any(r.run.interrupted for r in reports),
            loop=merge_loops(r.run.loop for r in reports),
        ),
        target=first.target,
        config=_merged_config(reports),
        operations=operations,
        findings=tuple(findings),
        resources=merge_resources([r.resources for r in reports]),
        sections=tuple(sections),
    )


def _merged_config(reports: Sequence[Report]) -> RunConfig:
    """The first report's config, with what is a total over the parts: the rate, the count."""
    config = replace(reports[0].config, merged_reports=len(reports))
    rates = [r.config.rate_per_s for r in reports]
    if config.load is not None and all(rate is not None for rate in rates):
        load = replace(config.load, rate_per_s=sum(rate or 0.0 for rate in rates))
        config = replace(config, load=load)
    return config


def run_ids(report: Report) -> frozenset[tuple[str, str]]:
    """The runs a report holds, each as (host, start to the microsecond): its run id.

    A merged report holds the runs its ``merge`` section lists, so merging it
    again with one of its parts is caught too.
    """
    merged = _section_json(report, "merge")
    if merged is not None:
        parts = merged.get("reports")
        if isinstance(parts, list) and all(isinstance(p, dict) for p in parts):
            return frozenset((str(p.get("host")), str(p.get("started_at"))) for p in parts)
    return frozenset({(report.run.host, report.run.started_at.isoformat())})


def read_reports_to_merge(paths: Sequence[Path]) -> list[Report]:
    """Read the report files ``dbprobe merge`` was given; ReportFileError/UsageError naming one.

    Each report is merged on its own first, which reads everything a merge
    reads beyond the operations (timeline points, the load section, the
    measured window): a malformed one is named here instead of failing later
    with no file to blame. A run given twice is refused: its counts would be
    doubled without a word.
    """
    reports: list[Report] = []
    seen: dict[tuple[str, str], Path] = {}
    for path in paths:
        report = read_report(path)
        try:
            merge_reports([report])
        except MALFORMED as exc:
            detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
            raise ReportFileError(
                f"{path} cannot be merged: its timeline or load section is malformed ({detail})"
            ) from None
        for run in sorted(run_ids(report)):
            if run in seen:
                host, started_at = run
                raise UsageError(
                    f"{seen[run]} and {path} both hold the run of {host} started at "
                    f"{started_at}: merging it twice would double its counts; give each run once"
                )
            seen[run] = path
        reports.append(report)
    return reports
