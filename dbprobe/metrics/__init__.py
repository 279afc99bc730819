"""Latency histograms and their summaries (pure: no I/O)."""

from dbprobe.metrics.histogram import LatencyHistogram
from dbprobe.metrics.summary import LatencySummary

__all__ = ["LatencyHistogram", "LatencySummary"]
