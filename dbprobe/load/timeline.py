"""The per-interval timeline of a run: throughput, latency, errors, in-flight, lag (pure).

The runner records into a :class:`TimelineRecorder` as operations start and
end; each interval (one second by default) becomes a :class:`TimelinePoint`.
Intervals in which nothing finished still become points (throughput 0, the
in-flight count shows who is stuck): a stall is visible, not skipped.

Memory stays flat however long a run lasts: once ``max_points`` points exist,
neighbours are merged pairwise and the interval doubles (counts add and the
per-point histograms merge exactly), so a soak of a day keeps at most
``max_points`` points, each covering a longer stretch.

Timelines of several processes or hosts are overlaid by wall-clock time with
:func:`merge_timelines`; consecutive phases of one process are joined with
:func:`concat_timelines`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from dbprobe.metrics.sparse import SparseHistogram

__all__ = [
    "DEFAULT_INTERVAL_S",
    "MAX_POINTS",
    "Timeline",
    "TimelinePoint",
    "TimelineRecorder",
    "combine_points",
    "concat_timelines",
    "merge_timelines",
]

DEFAULT_INTERVAL_S = 1.0
MAX_POINTS = 3600


@dataclass(frozen=True)
class TimelinePoint:
    """One interval of the run.

    Attributes:
        t_s: start of the interval, seconds after measurement began.
        interval_s: its length (the last one of a run may be shorter).
        commits, errors: operations that finished in it, committed or given up.
        throughput_per_s: ``commits / interval_s``.
        p50_ms, p99_ms, max_ms: latency of the operations that committed in it
            (from the intended start when a rate is set).
        in_flight_max: most operations running at once during it.
        started: operations started in it.
        late, skipped: open loop: started over the lateness threshold; skipped
            for being over ``--latency-limit``.
        lag_max_ms: open loop: the largest schedule lag of an operation started in it.
        target_rate_per_s: open loop: the intended arrival rate in its middle.
        rss_mb: the generator process's memory at its end, if sampled.
        histogram: ``((bucket_lower_us, count), ...)``: its latencies, to merge exactly.
    """

    t_s: float
    interval_s: float
    commits: int
    errors: int
    throughput_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    in_flight_max: int
    started: int = 0
    late: int = 0
    skipped: int = 0
    lag_max_ms: float = 0.0
    target_rate_per_s: float | None = None
    rss_mb: float | None = None
    histogram: tuple[tuple[int, int], ...] = ()

    def sparse(self) -> SparseHistogram:
        return SparseHistogram.from_pairs(self.histogram)


@dataclass(frozen=True)
class Timeline:
    """Points of one run; ``start_unix_s`` is the wall-clock time measurement began."""

    interval_s: float
    start_unix_s: float
    points: tuple[TimelinePoint, ...] = field(default_factory=tuple)


def _point(
    t_s: float,
    interval_s: float,
    hist: SparseHistogram,
    *,
    errors: int,
    in_flight_max: int,
    started: int,
    late: int,
    skipped: int,
    lag_max_ms: float,
    target_rate_per_s: float | None,
    rss_mb: float | None,
) -> TimelinePoint:
    p50, p99 = hist.percentiles_ms((50.0, 99.0))
    return TimelinePoint(
        t_s=round(t_s, 6),
        interval_s=round(interval_s, 6),
        commits=hist.total,
        errors=errors,
        throughput_per_s=hist.total / interval_s if interval_s > 0 else 0.0,
        p50_ms=p50,
        p99_ms=p99,
        max_ms=hist.max_ms(),
        in_flight_max=in_flight_max,
        started=started,
        late=late,
        skipped=skipped,
        lag_max_ms=lag_max_ms,
        target_rate_per_s=target_rate_per_s,
        rss_mb=rss_mb,
        histogram=tuple((value, n) for value, n in hist.to_pairs()),
    )


def _serial(points: Sequence[TimelinePoint]) -> TimelinePoint:
    """Consecutive points of one source as one longer point."""
    if len(points) == 1:
        return points[0]
    hist = SparseHistogram()
    for p in points:
        hist.merge(p.sparse())
    interval = sum(p.interval_s for p in points)
    rates = [(p.target_rate_per_s, p.interval_s) for p in points if p.target_rate_per_s is not None]
    rss = [p.rss_mb for p in points if p.rss_mb is not None]
    return _point(
        points[0].t_s,
        interval,
        hist,
        errors=sum(p.errors for p in points),
        in_flight_max=max(p.in_flight_max for p in points),
        started=sum(p.started for p in points),
        late=sum(p.late for p in points),
        skipped=sum(p.skipped for p in points),
        lag_max_ms=max(p.lag_max_ms for p in points),
        target_rate_per_s=(sum(r * w for r, w in rates) / sum(w for _, w in rates))
        if rates and sum(w for _, w in rates) > 0
        else None,
        rss_mb=max(rss) if rss else None,
    )


def _parallel(t_s: float, points: Sequence[TimelinePoint]) -> TimelinePoint:
    """Points of several sources over the same interval: counts, rates and memory add up."""
    hist = SparseHistogram()
    for p in points:
        hist.merge(p.sparse())
    rates = [p.target_rate_per_s for p in points if p.target_rate_per_s is not None]
    rss = [p.rss_mb for p in points if p.rss_mb is not None]
    return _point(
        t_s,
        max(p.interval_s for p in points),
        hist,
        errors=sum(p.errors for p in points),
        # Each source's own peak, added: an upper bound of the peaks at one instant.
        in_flight_max=sum(p.in_flight_max for p in points),
        started=sum(p.started for p in points),
        late=sum(p.late for p in points),
        skipped=sum(p.skipped for p in points),
        lag_max_ms=max(p.lag_max_ms for p in points),
        target_rate_per_s=sum(rates) if rates else None,
        rss_mb=sum(rss) if rss else None,
    )


def combine_points(points: Sequence[TimelinePoint]) -> TimelinePoint:
    """The same interval seen by several processes, as one point (for a live display)."""
    return _parallel(points[0].t_s, points)


def _halve(points: Sequence[TimelinePoint]) -> list[TimelinePoint]:
    return [_serial(points[i : i + 2]) for i in range(0, len(points), 2)]


class TimelineRecorder:
    """Fed by the runner as measured operations start and end; cheap on that path.

    ``rate_at(t_s)`` gives the intended arrival rate (open loop) and
    ``rss_mb()`` the process's memory; both are read once per interval.
    """

    __slots__ = (
        "_end_ns",
        "_errors",
        "_hist",
        "_interval_ns",
        "_lag_max_ns",
        "_last_ns",
        "_late",
        "_max_points",
        "_new",
        "_origin_ns",
        "_points",
        "_rate_at",
        "_rss_mb",
        "_skipped",
        "_start_ns",
        "_started",
        "in_flight",
        "in_flight_max",
    )

    def __init__(
        self,
        origin_ns: int,
        *,
        interval_s: float = DEFAULT_INTERVAL_S,
        max_points: int = MAX_POINTS,
        rate_at: Callable[[float], float] | None = None,
        rss_mb: Callable[[], float] | None = None,
    ) -> None:
        if max_points < 2 or max_points % 2:
            raise ValueError("max_points must be an even number of at least 2")
        self._origin_ns = origin_ns
        self._interval_ns = int(interval_s * 1e9)
        self._max_points = max_points
        self._rate_at = rate_at
        self._rss_mb = rss_mb
        self._points: list[TimelinePoint] = []
        self._new: list[TimelinePoint] = []
        self._start_ns = origin_ns
        self._end_ns = origin_ns + self._interval_ns
        self._hist = SparseHistogram()
        self._errors = 0
        self._started = 0
        self._late = 0
        self._skipped = 0
        self._lag_max_ns = 0
        self._last_ns = origin_ns
        self.in_flight = 0
        self.in_flight_max = 0

    @property
    def interval_s(self) -> float:
        return self._interval_ns / 1e9

    def begin(self, now_ns: int, lag_ns: int = 0, late: bool = False) -> None:
        """A measured operation starts (``lag_ns``: how long after its intended start)."""
        if now_ns >= self._end_ns:
            self._roll(now_ns)
        self.in_flight += 1
        if self.in_flight > self.in_flight_max:
            self.in_flight_max = self.in_flight
        self._started += 1
        if lag_ns > self._lag_max_ns:
            self._lag_max_ns = lag_ns
        if late:
            self._late += 1

    def end(self, now_ns: int, latency_ns: int) -> None:
        """It ended: committed after ``latency_ns``, or gave up (``latency_ns`` < 0)."""
        if now_ns >= self._end_ns:
            self._roll(now_ns)
        self._last_ns = now_ns
        self.in_flight -= 1
        if latency_ns >= 0:
            self._hist.record_ns(latency_ns)
        else:
            self._errors += 1

    def skip(self, now_ns: int) -> None:
        """An arrival skipped for being over the latency limit."""
        if now_ns >= self._end_ns:
            self._roll(now_ns)
        self._skipped += 1

    def tick(self, now_ns: int) -> None:
        """Close the intervals that are over, even if nothing finished in them."""
        if now_ns >= self._end_ns:
            self._roll(now_ns)

    def take_new(self) -> list[TimelinePoint]:
        """The points closed since the last call (for a live display)."""
        new, self._new = self._new, []
        return new

    def finish(self, end_ns: int, start_unix_s: float) -> Timeline:
        """Close every interval up to ``end_ns`` (the last one partial) and return the timeline.

        Operations that ended after ``end_ns`` (in flight at a deadline) are kept:
        the timeline then ends with the last of them.
        """
        end_ns = max(end_ns, self._last_ns)
        self.tick(end_ns)
        pending = self._hist.total or self._errors or self._started or self._skipped
        if end_ns > self._start_ns or pending:
            end_ns = max(end_ns, self._start_ns + 1)
            partial = end_ns - self._start_ns < self._interval_ns // 2
            self._close(end_ns)
            # A sliver at the end (operations finishing just after a timed run's
            # deadline) joins the interval before it: a few commits over a few
            # ms would show as an absurd throughput.
            if partial and len(self._points) >= 2:
                self._points[-2:] = [_serial(self._points[-2:])]
        return Timeline(self.interval_s, start_unix_s, tuple(self._points))

    def _roll(self, now_ns: int) -> None:
        while now_ns >= self._end_ns:
            self._close(self._end_ns)

    def _close(self, end_ns: int) -> None:
        length_ns = end_ns - self._start_ns
        t_s = (self._start_ns - self._origin_ns) / 1e9
        point = _point(
            t_s,
            length_ns / 1e9,
            self._hist,
            errors=self._errors,
            in_flight_max=self.in_flight_max,
            started=self._started,
            late=self._late,
            skipped=self._skipped,
            lag_max_ms=self._lag_max_ns / 1e6,
            target_rate_per_s=self._rate_at(t_s + length_ns / 2e9) if self._rate_at else None,
            rss_mb=self._rss_mb() if self._rss_mb else None,
        )
        self._points.append(point)
        self._new.append(point)
        self._hist = SparseHistogram()
        self._errors = self._started = self._late = self._skipped = 0
        self._lag_max_ns = 0
        self.in_flight_max = self.in_flight
        self._start_ns = end_ns
        self._end_ns = end_ns + self._interval_ns
        if len(self._points) >= self._max_points:
            # Keep memory flat: merge neighbours and double the interval. The
            # open interval starts on a boundary of the doubled grid, since the
            # closed points are an even number of old intervals.
            self._points = _halve(self._points)
            self._interval_ns *= 2
            self._end_ns = self._start_ns + self._interval_ns


def concat_timelines(timelines: Sequence[Timeline]) -> Timeline | None:
    """Consecutive runs of one process (the phases of a catalogue) as one timeline."""
    if not timelines:
        return None
    first = timelines[0]
    points: list[TimelinePoint] = []
    for tl in timelines:
        shift = tl.start_unix_s - first.start_unix_s
        points.extend(replace(p, t_s=round(p.t_s + shift, 6)) for p in tl.points)
    return Timeline(max(tl.interval_s for tl in timelines), first.start_unix_s, tuple(points))


def merge_timelines(timelines: Sequence[Timeline]) -> Timeline | None:
    """Timelines of processes or hosts that ran at the same time, overlaid by wall clock.

    Each point goes to the interval of the merged grid (the coarsest of the
    inputs, starting at the earliest start) that holds its midpoint; within
    one interval the points of one source are joined, then the sources added.
    """
    timelines = [tl for tl in timelines if tl is not None]
    if not timelines:
        return None
    interval = max(tl.interval_s for tl in timelines)
    origin = min(tl.start_unix_s for tl in timelines)
    buckets: dict[int, dict[int, list[TimelinePoint]]] = {}
    for source, tl in enumerate(timelines):
        for p in tl.points:
            middle = tl.start_unix_s + p.t_s + p.interval_s / 2 - origin
            index = max(0, int(middle // interval))
            buckets.setdefault(index, {}).setdefault(source, []).append(p)
    points = tuple(
        _parallel(index * interval, [_serial(ps) for ps in buckets[index].values()])
        for index in sorted(buckets)
    )
    return Timeline(interval, origin, points)
