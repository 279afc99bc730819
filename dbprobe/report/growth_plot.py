"""The HTML report's plot of a run at several scales: p50 against rows, log-log, per operation.

Imported only when an HTML report is drawn (see :mod:`dbprobe.report.plots`
for why the object API on an Agg canvas rather than ``pyplot``).
"""

from __future__ import annotations

import io
import math

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from dbprobe.probes.scaling import ScalingSection

__all__ = ["growth_plot"]

_COLUMNS = 3
_MEASURED = "#1f6fb4"
_FITTED = "#555555"
_GROWS = "#c0392b"
_DPI = 96


def growth_plot(section: ScalingSection) -> bytes:
    """One panel per fitted operation: its p50 per scale, and the exponent's line between
    the two largest scales.

    A panel whose growth is linear or worse is drawn in red. At least one
    operation of ``section`` must have a fit.
    """
    fitted = [(op, op.fit) for op in section.operations if op.fit is not None]
    rows = math.ceil(len(fitted) / _COLUMNS)
    fig = Figure(figsize=(9.0, 0.4 + 2.2 * rows), layout="constrained")
    for i, (op, fit) in enumerate(fitted):
        ax = fig.add_subplot(rows, _COLUMNS, i + 1)
        colour = _GROWS if fit.growth.scales_with_data else _MEASURED
        ax.loglog(op.rows, op.p50_ms, "o", color=colour)
        # The exponent is the slope between the two largest scales: its line is
        # drawn there, through their geometric mean, as the slope was measured.
        (x0, x1), (y0, y1) = op.rows[-2:], op.p50_ms[-2:]
        mid_x, mid_y = math.sqrt(x0 * x1), math.sqrt(y0 * y1)
        ends = (x0, x1)
        ax.loglog(ends, [mid_y * (n / mid_x) ** fit.exponent for n in ends], color=_FITTED)
        ax.set_title(f"{op.name}\n{fit.growth}, exponent {fit.exponent:.2f}", fontsize=8)
        ax.set_xlabel(f"rows of {op.table}", fontsize=7)
        ax.set_ylabel("p50 ms", fontsize=7)
        # At least a factor of 4 shown around the points: a flat cost looks flat.
        low, high = min(op.p50_ms), max(op.p50_ms)
        ax.set_ylim(min(low, high / 4) / 1.5, max(high, low * 4) * 1.5)
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,g}"))
            axis.set_minor_formatter(NullFormatter())
        ax.tick_params(labelsize=7)
        ax.grid(True, which="both", alpha=0.3)
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    return buffer.getvalue()
