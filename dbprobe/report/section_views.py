"""The probes' report sections as the renderers read them: from their JSON, by name.

A report just run carries each section as the probe's own object; a report
read back from a file carries it as a :class:`~dbprobe.result.model.RawSection`
(JSON only). The renderers read both the same way: from ``section.to_json()``,
parsed here into typed views. So a saved report, a baseline and the run that
wrote them render alike, and every figure a section shows is one its JSON keeps.

The JSON of each section is written by its probe (``timeline`` and ``load`` in
:mod:`dbprobe.load.sections`, ``pool`` in :mod:`dbprobe.probes.pool.section`,
``deadlock`` in :mod:`dbprobe.probes.deadlock.section`, ``isolation`` in
:mod:`dbprobe.probes.isolation.matrix`, ``select`` in
:mod:`dbprobe.probes.select.probe`, ``scaling`` in :mod:`dbprobe.probes.scaling`,
``merge`` in :mod:`dbprobe.report.merge`); the ``scaling`` view is the section itself.
A section of another name, or one this dbprobe cannot read (written by a
newer or older version), becomes an :class:`OtherSection`, shown as its keys
and values rather than dropped. The probes' own sections (pool, deadlock,
isolation) are read in :mod:`dbprobe.report.probe_views`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dbprobe.load.sections import timeline_from_json
from dbprobe.load.timeline import Timeline
from dbprobe.probes.scaling import ScalingSection, scaling_from_json
from dbprobe.probes.select.probe import LayerFigures
from dbprobe.report.probe_views import (
    DeadlockView,
    IsolationView,
    PoolView,
    opt_float,
    read_deadlock,
    read_isolation,
    read_pool,
)
from dbprobe.result.config import LoadShape
from dbprobe.result.model import Report

__all__ = [
    "GeneratorFigures",
    "LoadView",
    "MergePart",
    "MergeView",
    "OtherSection",
    "ProcessFigures",
    "SectionView",
    "SectionViews",
    "SelectView",
    "TimelineView",
    "read_section",
    "section_views",
]


# --------------------------------------------------------------------------- load, timeline


@dataclass(frozen=True)
class TimelineView:
    """The ``timeline`` section: the run interval by interval."""

    timeline: Timeline

    @property
    def open_loop(self) -> bool:
        return any(p.target_rate_per_s is not None for p in self.timeline.points)


@dataclass(frozen=True)
class GeneratorFigures:
    """The load generator's own effort, as the ``load`` section states it."""

    loop_cpu_percent: float
    wakeups: int
    wakeup_lag_p50_ms: float
    wakeup_lag_p99_ms: float
    wakeup_lag_max_ms: float
    saturated: bool
    # The event loop's own lag, from a probe task's timer (absent from older reports).
    loop_lag_samples: int = 0
    loop_lag_p50_ms: float = 0.0
    loop_lag_p99_ms: float = 0.0


@dataclass(frozen=True)
class ProcessFigures:
    """One process of a multi-process run: what it ran and its event loop's CPU."""

    index: int
    pid: int
    measured_s: float
    loop_cpu_percent: float
    operations: Mapping[str, Mapping[str, int]]

    @property
    def count(self) -> int:
        return sum(c.get("count", 0) for c in self.operations.values())


@dataclass(frozen=True)
class LoadView:
    """The ``load`` section: closed or open loop, over which window, in how many processes."""

    shape: LoadShape
    open_loop: bool
    measured_from: dt.datetime | None
    measured_s: float
    late_after_ms: float | None
    generator: GeneratorFigures | None
    parts: tuple[ProcessFigures, ...]


def _load(d: Mapping[str, Any]) -> LoadView:
    g = d.get("generator")
    generator = (
        GeneratorFigures(
            loop_cpu_percent=float(g["loop_cpu_percent"]),
            wakeups=int(g.get("wakeups", 0)),
            wakeup_lag_p50_ms=float(g.get("wakeup_lag_p50_ms", 0.0)),
            wakeup_lag_p99_ms=float(g.get("wakeup_lag_p99_ms", 0.0)),
            wakeup_lag_max_ms=float(g.get("wakeup_lag_max_ms", 0.0)),
            saturated=bool(g.get("saturated", False)),
            loop_lag_samples=int(g.get("loop_lag_samples", 0)),
            loop_lag_p50_ms=float(g.get("loop_lag_p50_ms", 0.0)),
            loop_lag_p99_ms=float(g.get("loop_lag_p99_ms", 0.0)),
        )
        if isinstance(g, Mapping)
        else None
    )
    measured_from = d.get("measured_from")
    return LoadView(
        shape=LoadShape.from_json(d),
        open_loop=d["mode"] == "open",
        measured_from=dt.datetime.fromisoformat(measured_from) if measured_from else None,
        measured_s=float(d["measured_s"]),
        late_after_ms=opt_float(d.get("late_after_ms")),
        generator=generator,
        parts=tuple(
            ProcessFigures(
                index=int(p["index"]),
                pid=int(p["pid"]),
                measured_s=float(p["measured_s"]),
                loop_cpu_percent=float(p["loop_cpu_percent"]),
                operations={
                    name: {k: int(v) for k, v in counts.items()}
                    for name, counts in p["operations"].items()
                },
            )
            for p in d.get("parts", ())
        ),
    )


# --------------------------------------------------------------------------- select, merge


@dataclass(frozen=True)
class SelectView:
    """The ``select`` section: each layer's figures against the bare driver's."""

    accounts: int
    layers: tuple[LayerFigures, ...]


def _select(d: Mapping[str, Any]) -> SelectView:
    return SelectView(
        accounts=int(d["accounts"]),
        layers=tuple(
            LayerFigures(
                layer=str(f["layer"]),
                throughput_per_s=float(f["throughput_per_s"]),
                p50_ms=float(f["p50_ms"]),
                mean_ms=float(f["mean_ms"]),
                statements_per_op=float(f["statements_per_op"]),
                relative_throughput=opt_float(f.get("relative_throughput")),
                added_us_per_select=opt_float(f.get("added_us_per_select")),
            )
            for f in d["layers"]
        ),
    )


@dataclass(frozen=True)
class MergePart:
    """One of the reports ``dbprobe merge`` combined."""

    host: str
    started_at: dt.datetime
    measured_s: float
    operations: Mapping[str, int]


@dataclass(frozen=True)
class MergeView:
    """The ``merge`` section: the parts, and how long they ran together."""

    parts: tuple[MergePart, ...]
    common_window_s: float
    sections_from_first_report: tuple[str, ...]


def _merge(d: Mapping[str, Any]) -> MergeView:
    return MergeView(
        parts=tuple(
            MergePart(
                host=str(r["host"]),
                started_at=dt.datetime.fromisoformat(r["started_at"]),
                measured_s=float(r["measured_s"]),
                operations={name: int(n) for name, n in r["operations"].items()},
            )
            for r in d["reports"]
        ),
        common_window_s=float(d["common_window_s"]),
        sections_from_first_report=tuple(d.get("sections_from_first_report", ())),
    )


@dataclass(frozen=True)
class OtherSection:
    """A section this dbprobe has no view of: its name and JSON, shown as they are."""

    name: str
    data: Mapping[str, Any]


SectionView = (
    TimelineView
    | LoadView
    | PoolView
    | DeadlockView
    | IsolationView
    | SelectView
    | ScalingSection
    | MergeView
    | OtherSection
)

_READERS: dict[str, Callable[[Mapping[str, Any]], SectionView]] = {
    "timeline": lambda d: TimelineView(timeline_from_json(d)),
    "load": _load,
    "pool": read_pool,
    "deadlock": read_deadlock,
    "isolation": read_isolation,
    "select": _select,
    "scaling": scaling_from_json,
    "merge": _merge,
}

# How the load was applied, in this order, after the probe's own results.
_CONTEXT = {"load": 0, "timeline": 1, "merge": 2}


def read_section(name: str, data: Mapping[str, Any]) -> SectionView:
    """The view of the section ``name`` holding ``data`` (its JSON)."""
    reader = _READERS.get(name)
    if reader is None:
        return OtherSection(name, data)
    try:
        return reader(data)
    except (KeyError, TypeError, ValueError, AttributeError):
        # Written by another dbprobe version: shown as it is rather than lost.
        return OtherSection(name, data)


@dataclass(frozen=True)
class SectionViews:
    """A report's sections, read from their JSON.

    ``own``: the probe's results (a pool, a matrix...), shown with the
    operations; ``context``: how the load was applied and when (load,
    timeline, merge), shown after the findings.
    """

    own: tuple[SectionView, ...]
    context: tuple[SectionView, ...]


def section_views(report: Report) -> SectionViews:
    """Every section of ``report``, read from its JSON (see :class:`SectionViews`)."""
    own = [s for s in report.sections if s.name not in _CONTEXT]
    context = sorted(
        (s for s in report.sections if s.name in _CONTEXT), key=lambda s: _CONTEXT[s.name]
    )
    return SectionViews(
        tuple(read_section(s.name, s.to_json()) for s in own),
        tuple(read_section(s.name, s.to_json()) for s in context),
    )
