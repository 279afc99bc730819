"""The HTML report's plots over the time of a run, drawn with matplotlib as PNG bytes.

Imported only when an HTML report is drawn (see :mod:`dbprobe.report.plots`
for why the object API on an Agg canvas rather than ``pyplot``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dbprobe.load.timeline import TimelinePoint
from dbprobe.probes.pool.model import TimelineRow

__all__ = ["MAX_POINTS", "pool_timeline_plot", "timeline_plot"]

#: Longer timelines are drawn with neighbouring intervals joined: past a few
#: hundred points a line no longer shows more, and drawing takes longer.
MAX_POINTS = 600

_CURRENT = "#1f6fb4"
_P99 = "#c0392b"
_TARGET = "#555555"
_ERRORS = "#b3261e"
_LAG = "#a15c00"
_WAITING = "#f0ad4e"
_DPI = 96
_MARKED_POINTS = 60
_NAN = float("nan")


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def _panels(n: int) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(9.0, 0.6 + 1.9 * n), layout="constrained")
    first = fig.add_subplot(n, 1, 1)
    axes = [first] + [fig.add_subplot(n, 1, i + 1, sharex=first) for i in range(1, n)]
    for ax in axes:
        ax.grid(True, alpha=0.3)
    return fig, axes


def timeline_plot(points: Sequence[TimelinePoint]) -> bytes:
    """Throughput, p50/p99 latency and errors per second over the run.

    At a fixed rate the target rate is drawn over the throughput, and a
    fourth panel shows the schedule lag: how far behind its intended start
    the latest operation of each interval began. ``points`` must not be empty.
    """
    open_loop = any(p.target_rate_per_s is not None for p in points)
    fig, axes = _panels(4 if open_loop else 3)
    # Each interval is drawn at its middle, so intervals of unequal length line up.
    xs = [p.t_s + p.interval_s / 2 for p in points]
    # A short run's few points are marked, so that a lone point still shows.
    marker = "o" if len(points) <= _MARKED_POINTS else None

    ax = axes[0]
    throughput = [p.throughput_per_s for p in points]
    ax.plot(xs, throughput, color=_CURRENT, marker=marker, label="committed")
    if open_loop:
        target = [p.target_rate_per_s if p.target_rate_per_s is not None else _NAN for p in points]
        ax.plot(xs, target, color=_TARGET, linestyle="--", label="target rate")
        ax.legend(fontsize=8, loc="lower right")
    ax.set_ylabel("tx/s")
    ax.set_ylim(bottom=0)

    ax = axes[1]
    ax.plot(xs, [p.p50_ms for p in points], color=_CURRENT, marker=marker, label="p50")
    ax.plot(xs, [p.p99_ms for p in points], color=_P99, marker=marker, label="p99")
    lows = [p.p50_ms for p in points if p.p50_ms > 0]
    if lows and max(p.p99_ms for p in points) / min(lows) > 30:
        ax.set_yscale("log")
    ax.set_ylabel("latency (ms)")
    ax.legend(fontsize=8, loc="upper right")

    ax = axes[2]
    per_s = [p.errors / p.interval_s if p.interval_s > 0 else 0.0 for p in points]
    ax.bar(xs, per_s, width=[p.interval_s * 0.9 for p in points], color=_ERRORS)
    ax.set_ylabel("errors/s")
    ax.set_ylim(bottom=0, top=max(1.0, *per_s) * 1.1)
    if not any(per_s):
        ax.text(0.5, 0.5, "no errors", transform=ax.transAxes, ha="center", color=_TARGET)

    if open_loop:
        ax = axes[3]
        ax.plot(xs, [p.lag_max_ms for p in points], color=_LAG, marker=marker)
        ax.set_ylabel("lag max (ms)")
        ax.set_ylim(bottom=0)
    axes[0].set_xlim(0, max(p.t_s + p.interval_s for p in points))
    axes[-1].set_xlabel("seconds into the measured run")
    return _png(fig)


def pool_timeline_plot(rows: Sequence[TimelineRow], pool_size: int, connections: int) -> bytes:
    """Demand, connections checked out and workers waiting per second; timeouts as bars.

    ``rows`` must not be empty.
    """
    fig, (ax, timeouts) = _panels(2)
    xs = [r.second for r in rows]
    # Each second's level holds until the next: the last one is drawn to its end.
    edges = [*xs, xs[-1] + 1]
    for values, color, linestyle, label in (
        ([r.demand for r in rows], _TARGET, "--", "demand"),
        ([r.checked_out for r in rows], _CURRENT, "-", "checked out"),
        ([r.waiting for r in rows], _WAITING, "-", "waiting"),
    ):
        ax.step(
            edges,
            [*values, values[-1]],
            where="post",
            color=color,
            linestyle=linestyle,
            label=label,
        )
    ax.axhline(connections, color=_P99, linewidth=1, linestyle=":", label="size + overflow")
    if connections != pool_size:
        ax.axhline(pool_size, color=_CURRENT, linewidth=1, linestyle=":", label="pool size")
    ax.set_ylabel("connections / workers")
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="upper right")
    timeouts.bar([x + 0.5 for x in xs], [r.timeouts for r in rows], width=0.9, color=_ERRORS)
    timeouts.set_ylabel("timeouts")
    timeouts.set_ylim(bottom=0, top=max(1, *(r.timeouts for r in rows)) * 1.1)
    if not any(r.timeouts for r in rows):
        timeouts.text(0.5, 0.5, "no timeouts", transform=timeouts.transAxes, ha="center")
    timeouts.set_xlim(xs[0], edges[-1])
    timeouts.set_xlabel("second of the run")
    return _png(fig)
