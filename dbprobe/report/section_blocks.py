"""What each report section says: its figures as blocks (pure).

Built from the section views of :mod:`dbprobe.report.section_views`, laid out
by the console, Markdown and HTML renderers alike, so that a figure is
written the same way in all three.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from dbprobe.load.timeline import Timeline, TimelinePoint, merge_timelines
from dbprobe.probes.scaling import ScalingSection
from dbprobe.report.blocks import Block, Cell, Heading, Lines, Tone, cell
from dbprobe.report.blocks import table as make_table
from dbprobe.report.probe_blocks import deadlock_blocks, isolation_blocks, pool_blocks
from dbprobe.report.probe_views import DeadlockView, IsolationView, PoolView
from dbprobe.report.section_views import (
    LoadView,
    MergeView,
    OtherSection,
    SectionView,
    SelectView,
    TimelineView,
)
from dbprobe.result.config import ProfileConfig

__all__ = ["TIMELINE_ROWS", "coarsen_timeline", "section_blocks"]

#: Longer timelines are shown with neighbouring intervals joined (the JSON keeps every point).
TIMELINE_ROWS = 30
_OTHER_VALUE_CHARS = 160


def section_blocks(view: SectionView) -> tuple[Block, ...]:
    """The blocks that show ``view``."""
    if isinstance(view, TimelineView):
        return _timeline(view)
    if isinstance(view, LoadView):
        return _load(view)
    if isinstance(view, PoolView):
        return pool_blocks(view)
    if isinstance(view, DeadlockView):
        return deadlock_blocks(view)
    if isinstance(view, IsolationView):
        return isolation_blocks(view)
    if isinstance(view, SelectView):
        return _select(view)
    if isinstance(view, ScalingSection):
        return _scaling(view)
    if isinstance(view, MergeView):
        return _merge(view)
    return _other(view)


# --------------------------------------------------------------------------- timeline


def coarsen_timeline(timeline: Timeline, rows: int = TIMELINE_ROWS) -> tuple[TimelinePoint, ...]:
    """At most ``rows`` points: neighbouring intervals joined (counts add, histograms merge)."""
    points = timeline.points
    if len(points) <= rows:
        return points
    step = -(-len(points) // rows)
    # Re-bucket onto a grid ``step`` intervals wide; merge_timelines joins the points of one source.
    width = sum(p.interval_s for p in points[:step])
    coarse = merge_timelines([Timeline(width, 0.0, points)])
    return coarse.points if coarse is not None else points


def _timeline(view: TimelineView) -> tuple[Block, ...]:
    points = coarsen_timeline(view.timeline)
    if not points:
        return (Heading("Timeline"), Lines(("no interval was recorded",), Tone.DIM))
    open_loop = view.open_loop
    # Whole seconds for intervals of a second (the last may be shorter); a repo
    # run's phases last milliseconds.
    digits = 0 if min(p.interval_s for p in points[:-1] or points) >= 1 else 2
    headers = ["t (s)", "tx/s", "p50", "p99", "errors", "in flight"]
    if open_loop:
        headers += ["target/s", "lag max", "late", "skipped"]
    rows = []
    for p in points:
        row = [
            cell(f"{p.t_s:.{digits}f}"),
            cell(f"{p.throughput_per_s:.1f}"),
            cell(f"{p.p50_ms:.2f}"),
            cell(f"{p.p99_ms:.2f}"),
            cell(p.errors, Tone.BAD if p.errors else Tone.PLAIN),
            cell(p.in_flight_max),
        ]
        if open_loop:
            rate = p.target_rate_per_s
            row += [
                cell(f"{rate:.1f}" if rate is not None else "—"),
                cell(f"{p.lag_max_ms:.1f}"),
                cell(p.late, Tone.WARN if p.late else Tone.PLAIN),
                cell(p.skipped, Tone.WARN if p.skipped else Tone.PLAIN),
            ]
        rows.append(row)
    caption = "p50/p99 of the operations that committed in each interval" + (
        ", from their intended start; lag max: the latest start behind schedule"
        if open_loop
        else ""
    )
    if len(points) < len(view.timeline.points):
        caption += f"; {len(view.timeline.points)} intervals joined into {len(points)} rows"
    return (
        Heading("Timeline"),
        make_table("timeline (latency in ms)", headers, rows, caption=caption, long=True),
    )


# --------------------------------------------------------------------------- load


def _profile(profile: ProfileConfig | None) -> str:
    if profile is None or profile.kind == "steady":
        return "steady"
    if profile.kind == "ramp" and profile.from_per_s is not None:
        return f"ramp from {profile.from_per_s:g}/s"
    if profile.kind == "spike" and profile.factor is not None:
        seconds = f"{profile.seconds:g} s" if profile.seconds is not None else "a fifth of the run"
        return f"spike x{profile.factor:g} for {seconds}"
    return profile.kind


def _load(view: LoadView) -> tuple[Block, ...]:
    shape = view.shape
    if view.open_loop and shape.rate_per_s is not None:
        limit = shape.latency_limit_ms
        mode = (
            f"open loop: {shape.arrivals} arrivals at {shape.rate_per_s:g}/s, "
            f"profile {_profile(shape.profile)}"
            + (f", latency limit {limit:g} ms" if limit else "")
            + "; latency counted from each operation's intended start"
            + (
                f", late when started over {view.late_after_ms:g} ms behind it"
                if view.late_after_ms
                else ""
            )
        )
    else:
        mode = "closed loop: each worker starts its next operation when its last one ends"
    window = f"measured {view.measured_s:.1f} s"
    if view.measured_from is not None:
        window += f" from {view.measured_from.isoformat(timespec='seconds')}"
    if shape.processes > 1:
        window += f", in {shape.processes} processes"
    lines = [mode, window]
    g = view.generator
    if g is not None:
        generator = f"load generator: event loop {g.loop_cpu_percent:.0f} % of a core" + (
            " (the busiest process)" if shape.processes > 1 else ""
        )
        if g.loop_lag_samples:
            generator += (
                f", event-loop lag p50 {g.loop_lag_p50_ms:.1f} / p99 {g.loop_lag_p99_ms:.1f} ms"
            )
        if g.wakeups:  # only a fixed rate makes free workers wait for their start
            generator += (
                f", wake-up lag p99 {g.wakeup_lag_p99_ms:.1f} ms over {g.wakeups} waits"
                f" (max {g.wakeup_lag_max_ms:.1f} ms)"
            )
        if g.saturated:
            generator += "; saturated: the latencies describe dbprobe as much as the database"
        lines.append(generator)
    blocks: list[Block] = [Heading("Load"), Lines(tuple(lines), Tone.DIM)]
    if view.parts:
        blocks.append(
            make_table(
                "processes",
                ("#", "pid", "operations", "measured s", "loop CPU %"),
                [
                    (
                        cell(p.index),
                        cell(p.pid),
                        cell(p.count),
                        cell(f"{p.measured_s:.1f}"),
                        cell(f"{p.loop_cpu_percent:.0f}"),
                    )
                    for p in view.parts
                ],
            )
        )
    return tuple(blocks)


# --------------------------------------------------------------------------- select, merge


def _select(view: SelectView) -> tuple[Block, ...]:
    rows = [
        (
            cell(f.layer, code=True),
            cell(f"{f.throughput_per_s:.1f}"),
            cell(f"{f.p50_ms:.3f}"),
            cell(f"{f.mean_ms:.3f}"),
            cell(f"{f.statements_per_op:.1f}"),
            cell(f"{f.relative_throughput:.1%}" if f.relative_throughput is not None else "—"),
            cell(f"{f.added_us_per_select:+,.0f} µs" if f.added_us_per_select is not None else "—"),
        )
        for f in view.layers
    ]
    return (
        Heading("Layers"),
        Lines(
            (
                f"point selects by primary key, ids drawn from {view.accounts} accounts; "
                "each layer's throughput against the bare driver's, and the time it adds "
                "to every select",
            ),
            Tone.DIM,
        ),
        make_table(
            "select: driver, Core and ORM side by side (latency in ms)",
            ("layer", "tx/s", "p50 ms", "mean ms", "stmts/op", "vs driver", "added per select"),
            rows,
        ),
    )


def _merge(view: MergeView) -> tuple[Block, ...]:
    summary = (
        f"merged {len(view.parts)} reports, measured together for {view.common_window_s:.1f} s"
    )
    if view.sections_from_first_report:
        summary += "; sections of the first report: " + ", ".join(view.sections_from_first_report)
    rows = [
        (
            cell(p.host),
            cell(p.started_at.isoformat(timespec="seconds")),
            cell(f"{p.measured_s:.1f}"),
            cell(", ".join(f"{name} {n}" for name, n in p.operations.items())),
        )
        for p in view.parts
    ]
    return (
        Heading("Merged reports"),
        Lines((summary,)),
        make_table(
            "the reports merged (operations finished in each)",
            ("host", "started", "measured s", "operations"),
            rows,
            left=(0, 1, 3),
        ),
    )


# --------------------------------------------------------------------------- scaling


def _scaling(view: ScalingSection) -> tuple[Block, ...]:
    rows = []
    for op in view.operations:
        fit = op.fit
        tone = Tone.WARN if fit is not None and fit.growth.scales_with_data else Tone.PLAIN
        rows.append(
            (
                cell(op.name, code=True),
                cell(op.table or "—"),
                cell(" / ".join(f"{n:,}" for n in op.rows) or "—"),
                cell(" / ".join(f"{ms:.2f}" for ms in op.p50_ms) or "—"),
                cell(
                    f"{fit.exponent:.2f} ({fit.low:.2f}..{fit.high:.2f})"
                    if fit is not None
                    else "—"
                ),
                cell(str(fit.growth) if fit is not None else f"not fitted: {op.not_fitted}", tone),
            )
        )
    # What would tell an undetermined growth, under the table.
    notes = [f"{op.name}: {op.fit.note}" for op in view.operations if op.fit and op.fit.note]
    return (
        Heading("Cost against data volume"),
        Lines(
            (
                f"each operation at scales {', '.join(view.scales)}: its p50 (the median of its "
                "rounds') against the rows of the largest table it reads; constant when under "
                "1.5 times the smallest scale's at the largest with a slope surely under 0.5, "
                "else the shape that fits best with a constant cost per call when 95% of 1,000 "
                "resamples of the rounds agree; the exponent is the log-log slope between the "
                "two largest scales",
            ),
            Tone.DIM,
        ),
        make_table(
            "growth with the data (per scale, smallest first)",
            ("operation", "table", "rows", "p50 ms", "exponent (95% CI)", "growth"),
            rows,
            left=(0, 1, 5),
        ),
        *([Lines(tuple(notes), Tone.DIM)] if notes else []),
    )


# --------------------------------------------------------------------------- any other


def _flatten(data: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            items += _flatten(value, f"{name}.")
            continue
        text = value if isinstance(value, str) else json.dumps(value, default=str)
        if len(text) > _OTHER_VALUE_CHARS:
            text = text[: _OTHER_VALUE_CHARS - 1] + "…"
        items.append((name, text))
    return items


def _other(view: OtherSection) -> tuple[Block, ...]:
    rows: Sequence[tuple[Cell, Cell]] = [
        (cell(k, code=True), cell(v)) for k, v in _flatten(view.data)
    ]
    return (
        Heading(view.name),
        make_table(f"section {view.name}", ("key", "value"), rows, left=(0, 1)),
    )
