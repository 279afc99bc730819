"""The ``load`` and ``timeline`` sections of a report: how the load was applied, and when.

``load`` says whether the run was a closed or an open loop (rate, arrivals,
profile, latency limit), in how many processes, over which measured window
(wall clock, so that reports of several hosts can be lined up), and what the
generator itself spent; with several processes it lists each one's counts.
``timeline`` holds the run interval by interval (see :mod:`dbprobe.load.timeline`).

Both are :class:`~dbprobe.result.model.Section` s: JSON under their name,
which the renderers of :mod:`dbprobe.report` read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dbprobe.load.health import GeneratorLoad
from dbprobe.load.timeline import Timeline, TimelinePoint
from dbprobe.result.config import LoadShape

__all__ = [
    "LoadSection",
    "ProcessPart",
    "TimelineSection",
    "load_section_generator",
    "timeline_from_json",
]


def _iso(unix_s: float) -> str:
    return dt.datetime.fromtimestamp(unix_s, dt.UTC).isoformat()


def _point_to_json(p: TimelinePoint) -> dict[str, Any]:
    data: dict[str, Any] = {
        "t_s": round(p.t_s, 3),
        "interval_s": round(p.interval_s, 3),
        "commits": p.commits,
        "errors": p.errors,
        "throughput_per_s": round(p.throughput_per_s, 3),
        "p50_ms": round(p.p50_ms, 3),
        "p99_ms": round(p.p99_ms, 3),
        "max_ms": round(p.max_ms, 3),
        "in_flight_max": p.in_flight_max,
        "started": p.started,
    }
    if p.target_rate_per_s is not None:
        data |= {
            "target_rate_per_s": round(p.target_rate_per_s, 3),
            "late": p.late,
            "skipped": p.skipped,
            "lag_max_ms": round(p.lag_max_ms, 3),
        }
    if p.rss_mb is not None:
        data["rss_mb"] = round(p.rss_mb, 1)
    data["histogram"] = [list(pair) for pair in p.histogram]
    return data


def _point_from_json(d: Mapping[str, Any]) -> TimelinePoint:
    rate = d.get("target_rate_per_s")
    rss = d.get("rss_mb")
    return TimelinePoint(
        t_s=float(d["t_s"]),
        interval_s=float(d["interval_s"]),
        commits=int(d["commits"]),
        errors=int(d["errors"]),
        throughput_per_s=float(d["throughput_per_s"]),
        p50_ms=float(d["p50_ms"]),
        p99_ms=float(d["p99_ms"]),
        max_ms=float(d["max_ms"]),
        in_flight_max=int(d["in_flight_max"]),
        started=int(d.get("started", 0)),
        late=int(d.get("late", 0)),
        skipped=int(d.get("skipped", 0)),
        lag_max_ms=float(d.get("lag_max_ms", 0.0)),
        target_rate_per_s=float(rate) if rate is not None else None,
        rss_mb=float(rss) if rss is not None else None,
        histogram=tuple((int(v), int(n)) for v, n in d.get("histogram", ())),
    )


def timeline_from_json(data: Mapping[str, Any]) -> Timeline:
    """The timeline of a report's ``timeline`` section (as written by :class:`TimelineSection`)."""
    return Timeline(
        float(data["interval_s"]),
        float(data["start_unix_s"]),
        tuple(_point_from_json(p) for p in data["points"]),
    )


@dataclass(frozen=True)
class TimelineSection:
    """The timeline as a report section."""

    timeline: Timeline
    name: str = "timeline"

    def to_json(self) -> dict[str, Any]:
        return {
            "interval_s": self.timeline.interval_s,
            "start": _iso(self.timeline.start_unix_s),
            "start_unix_s": round(self.timeline.start_unix_s, 6),
            "points": [_point_to_json(p) for p in self.timeline.points],
        }


@dataclass(frozen=True)
class ProcessPart:
    """One process of a multi-process run: what it did, for the ``load`` section."""

    index: int
    pid: int
    measured_from_unix_s: float
    measured_s: float
    loop_cpu_percent: float
    operations: Mapping[str, Mapping[str, int]]
    loop: str | None = None  # the event loop the process ran on

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "pid": self.pid,
            **({"loop": self.loop} if self.loop is not None else {}),
            "measured_from": _iso(self.measured_from_unix_s),
            "measured_s": round(self.measured_s, 3),
            "loop_cpu_percent": round(self.loop_cpu_percent, 1),
            "operations": {name: dict(counts) for name, counts in self.operations.items()},
        }


@dataclass(frozen=True)
class LoadSection:
    """How the load was applied (see the module docstring)."""

    plan: LoadShape
    measured_from_unix_s: float
    measured_s: float
    generator: GeneratorLoad
    late_after_ms: float
    parts: tuple[ProcessPart, ...] = field(default_factory=tuple)
    name: str = "load"

    @property
    def open_loop(self) -> bool:
        return self.plan.rate_per_s is not None

    def to_json(self) -> dict[str, Any]:
        g = self.generator
        data: dict[str, Any] = {
            "mode": "open" if self.open_loop else "closed",
            **self.plan.to_json(),
            "latency_from": "intended_start" if self.open_loop else "actual_start",
            "measured_from": _iso(self.measured_from_unix_s),
            "measured_from_unix_s": round(self.measured_from_unix_s, 6),
            "measured_s": round(self.measured_s, 3),
            "generator": {
                "loop_cpu_s": round(g.loop_cpu_s, 3),
                "wall_s": round(g.wall_s, 3),
                "loop_cpu_percent": round(g.loop_cpu_percent, 1),
                "wakeups": g.wakeups,
                "wakeup_lag_p50_ms": round(g.wakeup_lag_p50_ms, 3),
                "wakeup_lag_p99_ms": round(g.wakeup_lag_p99_ms, 3),
                "wakeup_lag_max_ms": round(g.wakeup_lag_max_ms, 3),
                "processes": g.processes,
                "loop_lag_samples": g.lag_samples,
                "loop_lag_p50_ms": round(g.loop_lag_p50_ms, 3),
                "loop_lag_p99_ms": round(g.loop_lag_p99_ms, 3),
                "saturated": g.saturated,
            },
        }
        if self.open_loop:
            data["late_after_ms"] = self.late_after_ms
        if self.parts:
            data["parts"] = [p.to_json() for p in self.parts]
        return data


def load_section_generator(data: Mapping[str, Any]) -> GeneratorLoad | None:
    """The generator figures of a ``load`` section read back from JSON."""
    g = data.get("generator")
    if not isinstance(g, Mapping):
        return None
    return GeneratorLoad(
        loop_cpu_s=float(g.get("loop_cpu_s", 0.0)),
        wall_s=float(g.get("wall_s", 0.0)),
        wakeups=int(g.get("wakeups", 0)),
        wakeup_lag_p99_ms=float(g.get("wakeup_lag_p99_ms", 0.0)),
        wakeup_lag_max_ms=float(g.get("wakeup_lag_max_ms", 0.0)),
        processes=int(g.get("processes", 1)),
        wakeup_lag_p50_ms=float(g.get("wakeup_lag_p50_ms", 0.0)),
        lag_samples=int(g.get("loop_lag_samples", 0)),
        loop_lag_p50_ms=float(g.get("loop_lag_p50_ms", 0.0)),
        loop_lag_p99_ms=float(g.get("loop_lag_p99_ms", 0.0)),
    )
