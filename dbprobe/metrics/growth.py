"""How an operation's latency grows with the rows it reads (pure: no I/O, randomness seeded).

Measured at several data sizes, each size gives the median of its rounds'
figures (one figure per round, as the regression gate judges them). Two
questions are asked of them, each answered only when the percentile
bootstrap (resampling the rounds within each size) says so:

- **Does it grow?** ``constant`` when the p50 at the largest size is less
  than 1.5 times the smallest's and the slope between the two largest sizes
  lies under 0.5, interval and all: it surely does not follow the rows. An
  index's depth grows with ``log n``, which at these sizes costs a few
  percent; a scan grows 20 to 40 times from tiny to medium. The machine
  drifts between the scales' runs, and no interval over one scale's rounds
  can see that: beside the other half of the test suite, an SQLite
  primary-key lookup measured 0.69, 0.44 and 0.76 ms at three scales, and a
  PostgreSQL one went from 0.32 to 0.44 ms halfway through one scale's
  rounds, data unchanged; so the bound is on the estimate, and on the slope
  (0.21 there, interval -0.003..0.22). It grows when more than 1.5 times,
  interval and all; anything else is ``undetermined``, with "more rounds
  would tell". A shape fitted to a cost that may not grow is noise: one
  round of five 80 % slower than the rest once made a flat lookup
  "logarithmic" at 95 % of the resamples.
- **How?** A constant cost per call (the round trip, the ORM) bends the
  log-log line: measured on SQLite, a count over an unindexed column took
  0.98, 2.08 and 17.2 ms at 1,312, 33,883 and 450,237 rows, a slope of 0.48
  through all three, for a cost that is linear. So each shape is fitted with
  a constant of its own, ``t = c + k * f(n)`` for ``f`` = ``log n``
  (``logarithmic``), ``n`` (``linear``) and ``n ** 2`` (``worse than
  linear``), and the shape with the smallest squared error is the growth when
  it wins in 95 % of the resamples. That needs three sizes: through two,
  every shape fits exactly. But whatever the sizes, a slope between the two
  largest whose interval lies at 0.5 or above is linear (a logarithmic cost
  never bends the line that far), or worse than linear over 1.2 (a constant
  cost only flattens the line), whichever shape fitted best; any other
  growth is ``undetermined``, with what would tell.

Whatever the fit, no growth is named from rows that grew less than tenfold
across the sizes: the machine drifts between the sizes' runs (an SQLite
primary-key lookup went from 0.44 to 0.83 ms between two of them, beside
the other half of the test suite), and over 48 to 160 rows such a drift
looks like a linear cost.

The ``exponent`` reported, with its interval, is the slope between the two
largest sizes, where the constant cost weighs least: near 1 for a scan, near 2
for a nested loop over two growing tables.
"""

from __future__ import annotations

import enum
import math
import random
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "CONSTANT_GROWTH",
    "LINEAR_FROM",
    "MIN_ROUNDS_PER_SIZE",
    "MIN_ROWS_SPAN",
    "WORSE_ABOVE",
    "Growth",
    "GrowthFit",
    "SizeSample",
    "fit_growth",
]

#: Growing by less than this from the smallest size to the largest, interval and all, is constant.
CONSTANT_GROWTH = 0.5
#: A slope between the two largest sizes whose interval lies at or above this is linear
#: or worse, and above the next worse than linear: a constant cost only flattens the line.
LINEAR_FROM = 0.5
WORSE_ABOVE = 1.2

#: Below this ratio of the largest size's rows to the smallest's, no growth is named.
MIN_ROWS_SPAN = 10

#: Fewer rounds than this at a size give no interval worth reading.
MIN_ROUNDS_PER_SIZE = 5

_RESAMPLES = 1000
_CONFIDENCE = 0.95


class Growth(enum.StrEnum):
    CONSTANT = "constant"
    LOGARITHMIC = "logarithmic"
    LINEAR = "linear"
    WORSE_THAN_LINEAR = "worse than linear"
    UNDETERMINED = "undetermined"

    @property
    def scales_with_data(self) -> bool:
        """Linear or worse: the cost follows the data."""
        return self in (Growth.LINEAR, Growth.WORSE_THAN_LINEAR)


#: Each growing shape as the function of the rows it adds cost by.
_SHAPES: dict[Growth, Callable[[float], float]] = {
    Growth.LOGARITHMIC: math.log,
    Growth.LINEAR: lambda n: n,
    Growth.WORSE_THAN_LINEAR: lambda n: n * n,
}


@dataclass(frozen=True)
class SizeSample:
    """One data size: the rows read, and one figure (ms) per round measured there."""

    rows: int
    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)


@dataclass(frozen=True)
class GrowthFit:
    """The growth, and the exponent between the two largest sizes with its interval.

    ``note`` says why an ``undetermined`` growth could not be told, and what would.
    """

    exponent: float
    low: float
    high: float
    growth: Growth
    confidence: float = _CONFIDENCE
    note: str = ""

    def describe(self) -> str:
        """``linear (exponent 0.93, 95% CI 0.88..0.97)``."""
        text = (
            f"{self.growth} (exponent {self.exponent:.2f}, {self.confidence:.0%} CI "
            f"{self.low:.2f}..{self.high:.2f})"
        )
        return f"{text}: {self.note}" if self.note else text


def _slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx


def _squared_error(fs: Sequence[float], ts: Sequence[float]) -> float:
    """Of ``t = c + k * f`` fitted by least squares; infinite if the cost would fall (k < 0)."""
    mean_f, mean_t = statistics.fmean(fs), statistics.fmean(ts)
    sff = sum((f - mean_f) ** 2 for f in fs)
    k = sum((f - mean_f) * (t - mean_t) for f, t in zip(fs, ts, strict=True)) / sff
    if k < 0:
        return math.inf
    c = mean_t - k * mean_f
    return sum((t - c - k * f) ** 2 for f, t in zip(fs, ts, strict=True))


def _best_shape(rows: Sequence[int], medians: Sequence[float]) -> Growth:
    errors = {g: _squared_error([f(n) for n in rows], medians) for g, f in _SHAPES.items()}
    return min(errors, key=lambda g: errors[g])


def _interval(values: list[float]) -> tuple[float, float]:
    values.sort()
    tail = (1 - _CONFIDENCE) / 2
    return values[int(tail * len(values))], values[
        min(len(values) - 1, int((1 - tail) * len(values)))
    ]


def fit_growth(sizes: Sequence[SizeSample], *, seed: int = 0) -> GrowthFit | str:
    """The growth of latency with rows, or why it cannot be fitted (one line).

    Sizes with the same row count are one size: at least two different ones
    are needed, each with :data:`MIN_ROUNDS_PER_SIZE` rounds.
    """
    # Sizes of equal rows are one size, their rounds pooled.
    pooled: dict[int, list[float]] = {}
    for s in sizes:
        if s.rows > 0 and s.values and min(s.values) > 0:
            pooled.setdefault(s.rows, []).extend(s.values)
    usable = [SizeSample(n, tuple(pooled[n])) for n in sorted(pooled)]
    short = [s for s in usable if len(s.values) < MIN_ROUNDS_PER_SIZE]
    if short:
        return (
            f"{len(short[0].values)} rounds at {short[0].rows:,} rows, "
            f"need at least {MIN_ROUNDS_PER_SIZE} at each size"
        )
    if len(usable) < 2:
        return "the rows it reads are the same at every scale"
    rows = [s.rows for s in usable]
    logs = [math.log(n) for n in rows]
    top = (len(rows) - 2, len(rows) - 1)
    rng = random.Random(seed)
    resampled = [
        [statistics.median(rng.choices(s.values, k=len(s.values))) for s in usable]
        for _ in range(_RESAMPLES)
    ]
    growth = [m[-1] / m[0] for m in resampled]
    local = [_slope([logs[i] for i in top], [math.log(m[i]) for i in top]) for m in resampled]
    medians = [s.median for s in usable]
    exponent = _slope([logs[i] for i in top], [math.log(medians[i]) for i in top])
    low, high = _interval(local)
    grew_low, grew_high = _interval(growth)
    if medians[-1] / medians[0] < 1 + CONSTANT_GROWTH and high < LINEAR_FROM:
        return GrowthFit(exponent, low, high, Growth.CONSTANT)
    if rows[-1] / rows[0] < MIN_ROWS_SPAN:
        # A machine that drifted 1.9x between the scales' runs (measured) would
        # pass for a linear cost over 48 to 160 rows.
        note = (
            f"the rows it reads grew only {rows[-1] / rows[0]:.1f} times across the scales, "
            "too little to tell a cost that grows from a machine that drifted; use scales "
            "further apart"
        )
        return GrowthFit(exponent, low, high, Growth.UNDETERMINED, note=note)
    if grew_low <= 1 + CONSTANT_GROWTH:
        # Neither: a shape fitted to a cost that may not grow at all is noise.
        note = (
            f"its p50 at the largest scale is {grew_low:.2f}..{grew_high:.2f} times the "
            "smallest's; more rounds would tell whether it grows at all"
        )
        return GrowthFit(exponent, low, high, Growth.UNDETERMINED, note=note)
    if low >= LINEAR_FROM:
        # It follows the data: only how steeply is left to tell, and by the slope
        # alone. The fitted shapes lean on the smallest size, where a drift of the
        # machine weighs most: a linear scan measured 0.71, 0.75 and 7.6 ms at
        # 2,000, 20,000 and 200,000 rows (its fixed cost up from 0.45 ms at the
        # first scale only) fitted c + k*n^2 best in 95 % of the resamples.
        worse = low > WORSE_ABOVE
        return GrowthFit(exponent, low, high, Growth.WORSE_THAN_LINEAR if worse else Growth.LINEAR)
    if len(rows) < 3:
        note = (
            "two scales cannot tell a logarithmic cost from a linear one under a constant "
            "cost per call; add a third scale"
        )
        return GrowthFit(exponent, low, high, Growth.UNDETERMINED, note=note)
    # Only now, with three sizes or more and a growth neither flat nor steep: the shape.
    shape, wins = Counter(_best_shape(rows, m) for m in resampled).most_common(1)[0]
    if wins >= _CONFIDENCE * _RESAMPLES:
        return GrowthFit(exponent, low, high, shape)
    return GrowthFit(
        exponent,
        low,
        high,
        Growth.UNDETERMINED,
        note=f"its rounds fit {shape} best in only {wins / _RESAMPLES:.0%} of the resamples; "
        "more rounds, or scales further apart, would tell",
    )
