"""The HTML report's plots: what a reader needs to read them (pure drawing, no files)."""

from __future__ import annotations

import re

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from dbprobe.report.plots import _plain_log_axis


@pytest.mark.parametrize(
    ("low", "high"), [(200.0, 210.0), (150.0, 900.0), (5.0, 95.0), (0.05, 300.0)]
)
def test_a_log_latency_axis_has_labelled_ticks_however_narrow_its_range(
    low: float, high: float
) -> None:
    # The pool's holds all last about --hold-ms: a histogram within one decade,
    # where a log axis has no major tick, was drawn without a single label.
    fig = Figure()
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([low, high], [0.0, 1.0])
    _plain_log_axis(ax, "x")
    ax.set_xlim(low, high)
    fig.canvas.draw()
    labels = ax.get_xticklabels(which="both")
    # Labels of ticks outside the range are not drawn.
    shown = [t.get_text() for t in labels if t.get_text() and low <= t.get_position()[0] <= high]
    wanted = 2 if high / low < 10 else 3  # a decade or more: at least three
    assert len(shown) >= wanted, [(t.get_position()[0], t.get_text()) for t in labels]
    # Plain numbers, not 2x10^2.
    assert all(re.fullmatch(r"[0-9.]+", text) for text in shown), shown
