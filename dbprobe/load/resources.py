"""The dbprobe process's own memory and CPU during a run (psutil)."""

from __future__ import annotations

import time
from collections.abc import Callable

import psutil

from dbprobe.result.model import Resources

__all__ = ["ResourceSampler"]

_MB = 1024 * 1024


class ResourceSampler:
    """Call :meth:`sample` now and then (the progress tick does); :meth:`finish` at the end."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._proc = psutil.Process()
        self._clock = clock
        self._started = clock()
        self._cpu_start = self._cpu_s()
        self.rss_mb_start = self._rss_mb()
        self.rss_mb_peak = self.rss_mb_start

    def _cpu_s(self) -> float:
        t = self._proc.cpu_times()
        return float(t.user + t.system)

    def _rss_mb(self) -> float:
        return float(self._proc.memory_info().rss) / _MB

    def sample(self) -> None:
        self.rss_mb_peak = max(self.rss_mb_peak, self._rss_mb())

    def finish(self) -> Resources:
        self.sample()
        wall = self._clock() - self._started
        cpu = (self._cpu_s() - self._cpu_start) / wall * 100 if wall > 0 else 0.0
        return Resources(self.rss_mb_start, self.rss_mb_peak, cpu)
