"""The HTML report's plots, drawn with matplotlib and returned as PNG bytes.

Imported only when an HTML report is asked for (matplotlib takes a while to
import and is an optional dependency: ``pip install 'dbprobe[html]'``). The
object API (``Figure`` on an Agg canvas) is used rather than ``pyplot``: no
global state, no GUI backend, safe in a server or a test.
"""

from __future__ import annotations

import bisect
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from dbprobe.gate.trend import Trend
from dbprobe.metrics.distribution import Distribution

__all__ = [
    "OperationSeries",
    "histogram_plot",
    "percentile_plot",
    "throughput_plot",
    "trend_plot",
]

_CURRENT = "#1f6fb4"
_BASELINE = "#8c8c8c"
_REGRESSED = "#c0392b"
_DPI = 96
_COLUMNS = 3
# Below these spans (in decades) a log axis labels every minor tick, or those at 2 and 5.
_LABEL_ALL_MINOR_DECADES = 0.4
_LABEL_NO_MINOR_DECADES = 2.0


@dataclass(frozen=True)
class OperationSeries:
    """What the plots need of one operation (latencies in µs)."""

    name: str
    current: Distribution
    baseline: Distribution | None = None
    throughput_per_s: float = 0.0
    baseline_throughput_per_s: float | None = None
    regressed: bool = False


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()


def _grid(n: int, width: float = 4.4, height: float = 3.0) -> tuple[Figure, list[Axes]]:
    cols = max(1, min(_COLUMNS, n))
    rows = max(1, math.ceil(n / cols))
    fig = Figure(figsize=(width * cols, height * rows))
    # Fixed margins in inches rather than constrained layout: with a panel
    # per operation (27 for the repo probe) the layout solver took longer
    # than drawing.
    fig.subplots_adjust(
        left=0.75 / (width * cols),
        right=1 - 0.15 / (width * cols),
        bottom=0.6 / (height * rows),
        top=1 - 0.35 / (height * rows),
        wspace=0.75 / (width - 0.9),
        hspace=0.95 / (height - 0.95),
    )
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(n)]
    return fig, axes


def _plain_log_axis(ax: Axes, axis: str) -> None:
    """Log scale labelled 0.5, 1, 2, 10 rather than 10^0 and 2x10^0 (which overlap).

    A range within a decade or two holds one power of ten or none (the pool's
    holds all last about --hold-ms): there minor ticks are labelled too, all
    of them when the range is narrow, else those at 2 and 5 of each decade, as
    matplotlib's own LogFormatter does (whose numbers read 2e+03, not 2000).
    """
    target = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    target.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:g}"))

    def minor(value: float, _pos: int | None) -> str:
        low, high = sorted(target.get_view_interval())
        if low <= 0 or value <= 0:
            return ""
        decades = math.log10(high / low)
        if decades >= _LABEL_NO_MINOR_DECADES:
            return ""
        if decades < _LABEL_ALL_MINOR_DECADES:
            return f"{value:g}"
        coefficient = round(value / 10 ** math.floor(math.log10(value) + 1e-9))
        return f"{value:g}" if coefficient in (2, 5) else ""

    target.set_minor_formatter(FuncFormatter(minor))


def _nines(dist: Distribution) -> tuple[list[float], list[float]]:
    """(x, latency ms) with x = -log10(1 - percentile): 1 is p90, 2 is p99, 3 is p99.9."""
    top = min(5.0, math.log10(max(dist.count, 2)))
    xs = [top * i / 200 for i in range(201)]
    return xs, [dist.quantile(1 - 10**-x) / 1000 for x in xs]


def percentile_plot(series: Sequence[OperationSeries]) -> bytes:
    """Latency against percentile ("nines" axis), one panel per operation."""
    fig, axes = _grid(len(series))
    ticks = [
        (0.0, "0"),
        (math.log10(2), "50"),
        (1.0, "90"),
        (2.0, "99"),
        (3.0, "99.9"),
        (4.0, "99.99"),
        (5.0, "99.999"),
    ]
    for ax, s in zip(axes, series, strict=True):
        shown = [s.current] + ([s.baseline] if s.baseline is not None and s.baseline.count else [])
        top = 0.0
        if s.baseline is not None and s.baseline.count:
            xs, ys = _nines(s.baseline)
            ax.plot(xs, ys, color=_BASELINE, linestyle="--", label="baseline")
            top = max(top, xs[-1])
        if s.current.count:
            xs, ys = _nines(s.current)
            ax.plot(xs, ys, color=_REGRESSED if s.regressed else _CURRENT, label="this run")
            top = max(top, xs[-1])
        ax.set_xticks(
            [x for x, _ in ticks if x <= top + 1e-9],
            [label for x, label in ticks if x <= top + 1e-9],
        )
        ax.set_xlabel("percentile")
        ax.set_ylabel("latency (ms)")
        ax.set_title(f"{s.name} (n={s.current.count})", fontsize=10, y=1.0)
        lows = [d.values[0] for d in shown if d.count]
        highs = [d.values[-1] for d in shown if d.count]
        if lows and max(highs) / max(min(lows), 1) > 30:
            _plain_log_axis(ax, "y")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    return _png(fig)


def _binned(dist: Distribution, edges: Sequence[float]) -> list[float]:
    shares = [0.0] * (len(edges) - 1)
    total = dist.count
    for value, count in zip(dist.values, dist.counts, strict=True):
        index = min(len(shares) - 1, max(0, bisect.bisect_right(edges, value) - 1))
        shares[index] += count / total
    return shares


def histogram_plot(series: Sequence[OperationSeries], bins: int = 40) -> bytes:
    """Share of operations per latency bin (log-spaced), one panel per operation."""
    fig, axes = _grid(len(series))
    for ax, s in zip(axes, series, strict=True):
        shown = [d for d in (s.current, s.baseline) if d is not None and d.count]
        if not shown:
            ax.set_title(f"{s.name} (no data)", fontsize=10, y=1.0)
            continue
        low = min(d.values[0] for d in shown) / 1000
        high = max(d.values[-1] for d in shown) / 1000
        high = max(high, low * 1.01)
        edges = [low * (high / low) ** (i / bins) for i in range(bins + 1)]
        edges[-1] *= 1.0001  # the maximum falls inside the last bin
        if s.baseline is not None and s.baseline.count:
            ax.stairs(
                _binned(_ms(s.baseline), edges),
                edges,
                color=_BASELINE,
                linestyle="--",
                label="baseline",
            )
        if s.current.count:
            ax.stairs(
                _binned(_ms(s.current), edges),
                edges,
                fill=True,
                alpha=0.45,
                color=_REGRESSED if s.regressed else _CURRENT,
                label="this run",
            )
        _plain_log_axis(ax, "x")
        ax.set_xlabel("latency (ms)")
        ax.set_ylabel("share of operations")
        ax.set_title(f"{s.name} (n={s.current.count})", fontsize=10, y=1.0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper right")
    return _png(fig)


def _ms(dist: Distribution) -> Distribution:
    return Distribution(tuple(v / 1000 for v in dist.values), dist.counts)


def throughput_plot(series: Sequence[OperationSeries]) -> bytes:
    """Committed operations per second, per operation (baseline beside it)."""
    n = len(series)
    fig = Figure(figsize=(8.0, 1.0 + 0.45 * n), layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    names = [s.name for s in series]
    positions = list(range(n))
    has_baseline = any(s.baseline_throughput_per_s is not None for s in series)
    height = 0.4 if has_baseline else 0.7
    ax.barh(
        [p - (height / 2 if has_baseline else 0) for p in positions],
        [s.throughput_per_s for s in series],
        height=height,
        label="this run",
        color=[_REGRESSED if s.regressed else _CURRENT for s in series],
    )
    if has_baseline:
        ax.barh(
            [p + height / 2 for p in positions],
            [s.baseline_throughput_per_s or 0.0 for s in series],
            height=height,
            color=_BASELINE,
            label="baseline",
        )
        ax.legend(fontsize=8, loc="upper right")
    ax.set_yticks(positions, names)
    ax.invert_yaxis()
    ax.set_xlabel("committed operations per second")
    ax.grid(True, axis="x", alpha=0.3)
    return _png(fig)


def trend_plot(trends: Sequence[Trend]) -> bytes:
    """Each trend's metric over recorded runs, with flagged steps marked."""
    fig, axes = _grid(len(trends), width=6.0, height=3.0)
    for ax, t in zip(axes, trends, strict=True):
        xs = list(range(len(t.points)))
        ax.plot(xs, [p.value for p in t.points], marker="o", markersize=3, color=_CURRENT)
        for step in t.steps:
            ax.axvline(
                step.index - 0.5,
                color=_REGRESSED if step.is_regression else "#2e8b57",
                linestyle="--",
                linewidth=1,
            )
        labels = [p.label or p.started_at[:10] for p in t.points]
        every = max(1, len(xs) // 8)
        ax.set_xticks(xs[::every], labels[::every], rotation=30, ha="right", fontsize=7)
        ax.set_ylabel(f"{t.metric.value} ({t.metric.unit})")
        ax.set_title(
            f"{t.operation}: {len(t.points)} runs, {len(t.steps)} step(s)", fontsize=10, y=1.0
        )
        ax.grid(True, alpha=0.3)
    return _png(fig)
