"""Merging reports of several processes or hosts that loaded one database together (pure).

One Python process saturates a core long before PostgreSQL does, so a heavy
load comes from several processes (``processes=P``) or several machines, each
writing its own report. Merged:

- counts (count, attempts, commits, rollbacks, errors, retries, cancelled,
  late, skipped, unstarted, error classes, statements) are summed;
- latency, commit latency, service time and schedule lag come from the
  HdrHistograms of the parts merged exactly, so every percentile is the one
  of the combined run (not an average of percentiles);
- throughput is summed: each part's commits over its own measured window.
  The parts ran at the same time, so within their common window the
  database saw the sum; the ``merge`` section gives each part's window and
  the common one, and a ``merge_window_mismatch`` warning says when they
  overlap too little for that to hold;
- findings are concatenated; the same N+1 (or unused eager load, or
  MissingGreenlet) seen by several parts becomes one finding whose
  occurrences and operations checked add up; identical findings appear once.
  With ``slos``, objectives are evaluated again on the merged figures and
  the parts' own ``slo_violation`` findings are dropped;
- the timelines are overlaid by wall-clock time, and the generator's
  resources added (memory, CPU) or kept at the busiest (event-loop CPU).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from dbprobe.errors import UsageError
from dbprobe.generator import combine_generator_loads
from dbprobe.metrics import LatencyHistogram, LatencySummary
from dbprobe.report.load import (
    LoadSection,
    TimelineSection,
    load_section_generator,
    timeline_from_json,
)
from dbprobe.report.model import (
    Finding,
    OperationReport,
    QueryCounts,
    RawSection,
    Report,
    Resources,
    RunInfo,
    Section,
    Severity,
)
from dbprobe.slo import SloCheck, evaluate_slos
from dbprobe.timeline import merge_timelines

__all__ = [
    "merge_findings",
    "merge_operation_reports",
    "merge_reports",
    "merge_resources",
]

_SAMPLES_PER_CLASS = 3
_CALLS_SUFFIX = re.compile(r" \(in \d+ of \d+ calls\)$")
# Below this share of the shortest part's window, summed throughput misleads.
_MIN_OVERLAP_SHARE = 0.9
_SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


def _merged_histogram(encoded: Sequence[str]) -> LatencyHistogram:
    merged = LatencyHistogram()
    for text in encoded:
        merged.merge(LatencyHistogram.decode(text))
    return merged


def _merge_one(parts: Sequence[OperationReport]) -> OperationReport:
    first = parts[0]
    latency = _merged_histogram([p.histogram for p in parts])
    # Reports written before commit histograms were kept cannot merge commit
    # latency exactly: it is then left empty rather than approximated.
    exact_commit = all(p.commit_histogram for p in parts)
    commit = _merged_histogram([p.commit_histogram for p in parts]) if exact_commit else None
    open_loop = first.open_loop
    service = _merged_histogram([p.service_histogram for p in parts]) if open_loop else None
    lag = _merged_histogram([p.schedule_lag_histogram for p in parts]) if open_loop else None

    error_classes: dict[str, int] = {}
    error_samples: dict[str, list[str]] = {}
    for p in parts:
        for cls, n in p.error_classes.items():
            error_classes[cls] = error_classes.get(cls, 0) + n
        for cls, samples in p.error_samples.items():
            kept = error_samples.setdefault(cls, [])
            kept.extend(s for s in samples if s not in kept)
            del kept[_SAMPLES_PER_CLASS:]
    commits = sum(p.commits for p in parts)
    committed_statements = sum(p.queries.per_op_mean * p.commits for p in parts)
    return OperationReport(
        name=first.name,
        count=sum(p.count for p in parts),
        attempts=sum(p.attempts for p in parts),
        commits=commits,
        rollbacks=sum(p.rollbacks for p in parts),
        errors=sum(p.errors for p in parts),
        retries=sum(p.retries for p in parts),
        cancelled=sum(p.cancelled for p in parts),
        error_classes=dict(sorted(error_classes.items())),
        error_samples={k: tuple(v) for k, v in sorted(error_samples.items())},
        latency_ms=latency.summary(),
        commit_latency_ms=commit.summary() if commit is not None else LatencySummary.empty(),
        throughput_per_s=sum(p.throughput_per_s for p in parts),
        queries=QueryCounts(
            total=sum(p.queries.total for p in parts),
            per_op_mean=committed_statements / commits if commits else 0.0,
            per_op_max=max(p.queries.per_op_max for p in parts),
        ),
        histogram=latency.encode(),
        service_latency_ms=service.summary() if service is not None else None,
        schedule_lag_ms=lag.summary() if lag is not None else None,
        late=sum(p.late for p in parts),
        skipped=sum(p.skipped for p in parts),
        unstarted=sum(p.unstarted for p in parts),
        commit_histogram=commit.encode() if commit is not None else "",
        service_histogram=service.encode() if service is not None else "",
        schedule_lag_histogram=lag.encode() if lag is not None else "",
        lock_waits=sum(p.lock_waits for p in parts),
        lock_wait_ms_total=sum(p.lock_wait_ms_total for p in parts),
    )


def merge_operation_reports(
    groups: Sequence[Sequence[OperationReport]],
) -> tuple[OperationReport, ...]:
    """Operations of several parts, matched by name, in the order they first appear."""
    by_name: dict[str, list[OperationReport]] = {}
    for group in groups:
        for op in group:
            by_name.setdefault(op.name, []).append(op)
    for name, parts in by_name.items():
        if len({p.open_loop for p in parts}) > 1:
            raise UsageError(
                f"cannot merge {name}: some reports ran it at a fixed rate (open loop) and "
                "some in a closed loop; their latencies measure different things"
            )
    return tuple(_merge_one(parts) for parts in by_name.values())


def _tally_key(f: Finding) -> tuple[str, str | None, str] | None:
    if "occurrences" not in f.evidence or "operations_checked" not in f.evidence:
        return None
    what = f.evidence.get("fingerprint") or f.evidence.get("relationship")
    return (f.kind, f.operation, str(what))


def merge_findings(groups: Sequence[Sequence[Finding]]) -> list[Finding]:
    """Findings of several parts: tallies of the same pattern combined, duplicates once."""
    merged: list[Finding] = []
    tallies: dict[tuple[str, str | None, str], int] = {}
    seen: set[tuple[str, str, str | None, str]] = set()
    for group in groups:
        for f in group:
            key = _tally_key(f)
            if key is None:
                plain = (f.kind, f.severity.value, f.operation, f.message)
                if plain not in seen:
                    seen.add(plain)
                    merged.append(f)
                continue
            if key not in tallies:
                tallies[key] = len(merged)
                merged.append(f)
                continue
            index = tallies[key]
            before = merged[index]
            evidence: dict[str, Any] = dict(before.evidence)
            evidence["occurrences"] = int(before.evidence["occurrences"]) + int(
                f.evidence["occurrences"]
            )
            evidence["operations_checked"] = int(before.evidence["operations_checked"]) + int(
                f.evidence["operations_checked"]
            )
            if "max_executions" in evidence or "max_executions" in f.evidence:
                evidence["max_executions"] = max(
                    int(before.evidence.get("max_executions", 0)),
                    int(f.evidence.get("max_executions", 0)),
                )
            message = _CALLS_SUFFIX.sub("", before.message)
            message += f" (in {evidence['occurrences']} of {evidence['operations_checked']} calls)"
            merged[index] = replace(before, message=message, evidence=evidence)
    return sorted(merged, key=lambda f: _SEVERITY_ORDER[f.severity])


def merge_resources(parts: Sequence[Resources]) -> Resources:
    """Generator resources of parts that ran at once: memory and CPU add up."""
    loops = [r.loop_cpu_percent for r in parts if r.loop_cpu_percent is not None]
    return Resources(
        rss_mb_start=sum(r.rss_mb_start for r in parts),
        # Each part's own peak, added: an upper bound of the peak at one instant.
        rss_mb_peak=sum(r.rss_mb_peak for r in parts),
        cpu_percent=sum(r.cpu_percent for r in parts),
        loop_cpu_percent=max(loops) if loops else None,
        processes=sum(r.processes for r in parts),
    )


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
    rates = [d.get("rate_per_s") for d in present]
    plan = {
        "rate_per_s": sum(float(r) for r in rates if r is not None) if rates[0] else None,
        "arrivals": first.get("arrivals"),
        "profile": first.get("profile"),
        "latency_limit_ms": first.get("latency_limit_ms"),
        "processes": sum(int(d.get("processes") or 1) for d in present),
    }
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
        groups = [[f for f in g if f.kind != "slo_violation"] for g in groups]
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
                kind="merge_window_mismatch",
                severity=Severity.WARNING,
                operation=None,
                message=(
                    f"the merged reports were measured together for {common_s:.1f} s only "
                    f"(the shortest ran {shortest_s:.1f} s): summed throughput over-states the "
                    "load the database saw at once; start the hosts together"
                ),
                evidence={
                    "common_window_s": round(common_s, 3),
                    "shortest_s": round(shortest_s, 3),
                },
            )
        )

    sections: list[Section] = []
    timelines = [timeline_from_json(d) for r in reports if (d := _section_json(r, "timeline"))]
    timeline = merge_timelines(timelines)
    if timeline is not None:
        sections.append(TimelineSection(timeline, show=any(op.open_loop for op in operations)))
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
        ),
        target=first.target,
        config=dict(first.config) | _config_totals(reports),
        operations=operations,
        findings=tuple(findings),
        resources=merge_resources([r.resources for r in reports]),
        sections=tuple(sections),
    )


def _config_totals(reports: Sequence[Report]) -> dict[str, Any]:
    """The config keys whose meaning is a total over the parts."""
    rates = [r.config.get("rate_per_s") for r in reports]
    totals: dict[str, Any] = {"merged_reports": len(reports)}
    if all(isinstance(rate, int | float) for rate in rates):
        totals["rate_per_s"] = sum(float(rate) for rate in rates if rate is not None)
    return totals
