"""Merging the results of parts that ran at once: operations, findings, resources (pure).

Parts are processes of one run, or runs of several hosts against one
database. Merged:

- counts (count, attempts, commits, rollbacks, errors, retries, cancelled,
  late, skipped, unstarted, error classes, statements) are summed;
- latency, commit latency, service time and schedule lag come from the
  HdrHistograms of the parts merged exactly, so every percentile is the one
  of the combined run (not an average of percentiles);
- throughput is summed: each part's commits over its own measured window;
- findings are concatenated; the same N+1 (or unused eager load, or
  MissingGreenlet) seen by several parts becomes one finding whose
  occurrences and operations checked add up; identical findings appear once;
- the generator's resources are added (memory, CPU) or kept at the busiest
  (event-loop CPU);
- the event loop is kept when every part ran the same one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from dbprobe.errors import UsageError
from dbprobe.metrics import LatencyHistogram, LatencySummary
from dbprobe.metrics.sparse import SparseHistogram
from dbprobe.result.findings import Finding, FindingKind, Severity, TalliedEvidence
from dbprobe.result.model import OperationReport, QueryCounts, Resources, RoundFigures

__all__ = [
    "join_consecutive",
    "merge_findings",
    "merge_loops",
    "merge_operation_reports",
    "merge_resources",
]

_SAMPLES_PER_CLASS = 3


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
    errors_by_class: dict[str, int] = {}
    error_samples: dict[str, list[str]] = {}
    for p in parts:
        for cls, n in p.error_classes.items():
            error_classes[cls] = error_classes.get(cls, 0) + n
        for cls, n in p.errors_by_class.items():
            errors_by_class[cls] = errors_by_class.get(cls, 0) + n
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
        rounds=_merged_rounds(parts),
        errors_by_class=dict(sorted(errors_by_class.items())),
        server_ms=_merged_server_ms(parts),
    )


def _merged_server_ms(parts: Sequence[OperationReport]) -> float | None:
    """The mean over every part's operations, when every part has one."""
    if not parts or any(p.server_ms is None for p in parts):
        return None
    count = sum(p.count for p in parts)
    if count == 0:
        return None
    return sum((p.server_ms or 0.0) * p.count for p in parts) / count


def _merged_rounds(parts: Sequence[OperationReport]) -> tuple[RoundFigures, ...]:
    """Round ``r`` of parts that ran at once, as one: histograms added, the longest window.

    A part with fewer rounds (interrupted sooner) adds nothing to the rounds it lacks.
    """
    length = max(len(p.rounds) for p in parts)
    merged = []
    for r in range(length):
        present = [p.rounds[r] for p in parts if r < len(p.rounds)]
        hist = SparseHistogram()
        for figures in present:
            hist.merge(SparseHistogram.from_pairs(figures.histogram))
        pairs = tuple((value, hist.counts[value]) for value in sorted(hist.counts))
        # The slowest process's references: the ones its own figures had to live with.
        cpus = [f.cpu_ms for f in present if f.cpu_ms is not None]
        trips = [f.round_trip_ms for f in present if f.round_trip_ms is not None]
        waits = [f.cpu_wait for f in present if f.cpu_wait is not None]
        merged.append(
            RoundFigures(
                max(f.duration_s for f in present),
                pairs,
                max(cpus) if cpus else None,
                max(trips) if trips else None,
                max(waits) if waits else None,
            )
        )
    return tuple(merged)


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


def join_consecutive(parts: Sequence[tuple[OperationReport, float]]) -> tuple[OperationReport, ...]:
    """Operations measured in consecutive phases (a catalogue's rounds), matched by name.

    Each part comes with its phase's measured seconds. Counts add up and the
    histograms merge exactly, as for parts that ran at once; but throughput is
    the commits over the phases' total time, and the rounds follow one another.
    """
    by_name: dict[str, list[tuple[OperationReport, float]]] = {}
    for op, measured_s in parts:
        by_name.setdefault(op.name, []).append((op, measured_s))
    joined = []
    for group in by_name.values():
        reports = [op for op, _ in group]
        if len(reports) == 1:
            joined.append(reports[0])
            continue
        merged = _merge_one(reports)
        seconds = sum(s for _, s in group)
        joined.append(
            replace(
                merged,
                throughput_per_s=merged.commits / seconds if seconds > 0 else 0.0,
                rounds=tuple(r for op in reports for r in op.rounds),
            )
        )
    return tuple(joined)


def _tally_key(f: Finding) -> tuple[FindingKind, str | None, str] | None:
    evidence = f.evidence
    if not isinstance(evidence, TalliedEvidence) or not evidence.tallied:
        return None
    return (f.kind, f.operation, evidence.pattern)


def merge_findings(groups: Sequence[Sequence[Finding]]) -> list[Finding]:
    """Findings of several parts: tallies of the same pattern combined, duplicates once."""
    merged: list[Finding] = []
    tallies: dict[tuple[FindingKind, str | None, str], int] = {}
    seen: set[tuple[FindingKind, Severity, str | None, str]] = set()
    for group in groups:
        for f in group:
            key = _tally_key(f)
            if key is None:
                plain = (f.kind, f.severity, f.operation, f.message)
                if plain not in seen:
                    seen.add(plain)
                    merged.append(f)
            elif key not in tallies:
                tallies[key] = len(merged)
                merged.append(f)
            else:
                merged[tallies[key]] = merged[tallies[key]].combined(f)
    return sorted(merged, key=lambda f: f.severity.rank)


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


def merge_loops(loops: Iterable[str | None]) -> str | None:
    """The event loop every part ran on; None when one did not record it or they differ
    (a merged figure then stands for no single loop)."""
    kinds = set(loops)
    if len(kinds) != 1:
        return None
    return kinds.pop()
