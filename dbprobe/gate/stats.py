"""Statistics of two latency distributions (pure: no I/O, randomness injected).

Latency is skewed (a long right tail, often several modes), so nothing here
assumes normality:

- :func:`mann_whitney_u` — is one distribution shifted against the other?
  Rank-based, computed exactly from the two histograms' bucket counts: every
  value of a bucket is one tie group, ranked at its mid-rank. The p-value comes
  from the normal approximation with tie and continuity correction (exact
  enumeration when both samples are small and untied, as a trend's per-run
  figures are). Reference: Mann & Whitney (1947); tie correction as in
  Lehmann, *Nonparametrics* (1975), §1.4.
- :func:`hodges_lehmann_ratio` — how many times larger the current
  samples are (the median of every current/baseline ratio) with its
  distribution-free interval from the U test's own null distribution (Moses
  1965; Hollander & Wolfe, *Nonparametric Statistical Methods*, §4.3): the
  estimate and interval that go with the U test, for the regression gate's
  per-round figures. :func:`samples_needed` says how many samples a side
  would need to detect a given change at the spread observed.
- :func:`bootstrap_quantile_ratio` — a confidence interval for the ratio of a
  quantile (p50, p95, p99) between two distributions, by the percentile
  bootstrap, and the bootstrap test of "the ratio is 1". The U test is blind
  to a change confined to the tail (doubling the slowest 10 % moves U by
  under 1 %), so a tail percentile's significance is this test's. Each
  histogram is resampled as a whole (multinomial over its buckets). Only
  one order statistic of each resample matters, and the ``k``-th smallest
  of ``n`` values drawn from a distribution ``F`` is ``F⁻¹(U)`` with
  ``U ~ Beta(k, n - k + 1)``; drawing that Beta gives the very same
  bootstrap distribution as drawing ``n`` values, at the cost of one random
  number instead of ``n``. 1000 resamples of two histograms of any
  size take a few milliseconds.
"""

from __future__ import annotations

import bisect
import functools
import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from dbprobe.metrics.distribution import Distribution, rank_of_quantile

__all__ = [
    "MannWhitneyResult",
    "RatioInterval",
    "bootstrap_quantile_interval",
    "bootstrap_quantile_ratio",
    "hodges_lehmann_ratio",
    "holm_levels",
    "mann_whitney_u",
    "median",
    "samples_needed",
]

# Exact enumeration of U is used up to this sample size (per side) when there
# are no ties; beyond it the normal approximation is accurate to well under
# the significance levels that matter (Lehmann 1975, Table B vs §1.3).
_EXACT_MAX_N = 25


@dataclass(frozen=True)
class MannWhitneyResult:
    """The Mann-Whitney U test of ``current`` against ``baseline``.

    Attributes:
        u: U of the current sample — the number of (baseline, current) pairs in
            which the current value is larger, ties counting one half.
        n_baseline, n_current: sample sizes.
        effect: ``u / (n_baseline * n_current)``, the probability that a random
            current value exceeds a random baseline value (ties count half):
            0.5 means no shift, above 0.5 means the current run is slower.
        z: the standardised statistic (0 with the exact method).
        p_value: two-sided p-value.
        method: ``"normal"`` (tie-corrected normal approximation) or ``"exact"``.
    """

    u: float
    n_baseline: int
    n_current: int
    effect: float
    z: float
    p_value: float
    method: str

    @property
    def current_is_larger(self) -> bool:
        return self.effect > 0.5


@dataclass(frozen=True)
class RatioInterval:
    """A bootstrap confidence interval for ``current / baseline``.

    ``p_value`` is the bootstrap test of "the ratio is 1": twice the smaller
    share of resampled ratios on either side of 1, with the usual +1 so that
    it is never 0 (its resolution is ``2 / (resamples + 1)``).
    """

    low: float
    high: float
    confidence: float
    resamples: int
    p_value: float = 1.0

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high


def median(values: Sequence[float]) -> float:
    """The median of plain numbers (mean of the two middle ones for an even count)."""
    if not values:
        raise ValueError("median of no values")
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def mann_whitney_u(baseline: Distribution, current: Distribution) -> MannWhitneyResult:
    """Two-sided Mann-Whitney U test; raises ValueError if either side is empty."""
    n_a, n_b = baseline.count, current.count
    if n_a == 0 or n_b == 0:
        raise ValueError("the Mann-Whitney test needs values on both sides")
    # One merge pass over the distinct values of both sides: each distinct
    # value is one tie group, ranked at its mid-rank.
    rank_sum_b = 0.0
    tie_term = 0  # sum of t^3 - t over tie groups
    ranked = 0
    i = j = 0
    va, ca, vb, cb = baseline.values, baseline.counts, current.values, current.counts
    while i < len(va) or j < len(vb):
        if j == len(vb) or (i < len(va) and va[i] < vb[j]):
            a, b = ca[i], 0
            i += 1
        elif i == len(va) or vb[j] < va[i]:
            a, b = 0, cb[j]
            j += 1
        else:
            a, b = ca[i], cb[j]
            i += 1
            j += 1
        t = a + b
        rank_sum_b += b * (ranked + (t + 1) / 2)
        tie_term += t * t * t - t
        ranked += t
    u = rank_sum_b - n_b * (n_b + 1) / 2
    effect = u / (n_a * n_b)
    if tie_term == 0 and max(n_a, n_b) <= _EXACT_MAX_N:
        return MannWhitneyResult(
            u, n_a, n_b, effect, 0.0, _exact_two_sided_p(round(u), n_a, n_b), "exact"
        )
    n = n_a + n_b
    mean = n_a * n_b / 2
    variance = n_a * n_b / 12 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:  # every value identical: no evidence of any shift
        return MannWhitneyResult(u, n_a, n_b, effect, 0.0, 1.0, "normal")
    delta = u - mean
    # Continuity correction: U moves in steps of 1/2 or 1, the normal curve does not.
    corrected = max(0.0, abs(delta) - 0.5)
    z = math.copysign(corrected, delta) / math.sqrt(variance)
    p = math.erfc(abs(z) / math.sqrt(2))
    return MannWhitneyResult(u, n_a, n_b, effect, z, min(1.0, p), "normal")


@functools.lru_cache(maxsize=256)
def _u_frequencies(m: int, n: int) -> tuple[int, ...]:
    """How many of the C(m+n, m) orderings give U = 0, 1, ..., m*n (no ties).

    The largest of the m+n values is either a current one (it beats all m
    baseline values: U loses m and n loses one) or a baseline one (U is
    unchanged and m loses one).
    """
    if m == 0 or n == 0:
        return (1,)
    with_current = _u_frequencies(m, n - 1)
    with_baseline = _u_frequencies(m - 1, n)
    freq = [0] * (m * n + 1)
    for u, ways in enumerate(with_current):
        freq[u + m] += ways
    for u, ways in enumerate(with_baseline):
        freq[u] += ways
    return tuple(freq)


def _exact_two_sided_p(u: int, m: int, n: int) -> float:
    freq = _u_frequencies(m, n)
    total = sum(freq)
    below = sum(freq[: u + 1])
    above = sum(freq[u:])
    return min(1.0, 2 * min(below, above) / total)


def bootstrap_quantile_ratio(
    baseline: Distribution,
    current: Distribution,
    q: float,
    *,
    rng: random.Random,
    resamples: int = 1000,
    confidence: float = 0.95,
) -> RatioInterval:
    """Percentile-bootstrap CI of ``quantile(current, q) / quantile(baseline, q)``.

    Each resample redraws both histograms whole, at their own sizes (see the
    module docstring for why one Beta draw per histogram is that resample).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be within (0, 1), got {confidence}")
    if resamples < 10:
        raise ValueError(f"at least 10 resamples are needed, got {resamples}")
    draw_a = _quantile_resampler(baseline, q, rng)
    draw_b = _quantile_resampler(current, q, rng)
    ratios = sorted(draw_b() / draw_a() for _ in range(resamples))
    tail = (1 - confidence) / 2
    low = ratios[max(0, math.floor(tail * resamples))]
    high = ratios[min(resamples - 1, math.ceil((1 - tail) * resamples) - 1)]
    at_most_one = bisect.bisect_right(ratios, 1.0)
    at_least_one = resamples - bisect.bisect_left(ratios, 1.0)
    p = min(1.0, 2 * (min(at_most_one, at_least_one) + 1) / (resamples + 1))
    return RatioInterval(low, high, confidence, resamples, p)


def bootstrap_quantile_interval(
    dist: Distribution,
    q: float,
    *,
    rng: random.Random,
    resamples: int = 1000,
    confidence: float = 0.95,
) -> tuple[float, float]:
    """Percentile-bootstrap CI of one distribution's ``q``-quantile (same method)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be within (0, 1), got {confidence}")
    draw = _quantile_resampler(dist, q, rng)
    values = sorted(draw() for _ in range(resamples))
    tail = (1 - confidence) / 2
    return (
        values[max(0, math.floor(tail * resamples))],
        values[min(resamples - 1, math.ceil((1 - tail) * resamples) - 1)],
    )


def _quantile_resampler(dist: Distribution, q: float, rng: random.Random) -> Callable[[], float]:
    n = dist.count
    if n == 0:
        raise ValueError("cannot resample an empty distribution")
    k = rank_of_quantile(q, n)
    cumulative = dist.cumulative()
    fractions = [c / n for c in cumulative]
    values = dist.values

    def draw() -> float:
        # F^-1(U): the first bucket whose cumulative share reaches U.
        u = rng.betavariate(k, n - k + 1)
        return values[min(len(values) - 1, bisect.bisect_left(fractions, u))]

    return draw


def _moses_cut(m: int, n: int, confidence: float) -> int:
    """How many of the m*n ordered pairwise differences the interval leaves out at each end.

    The largest ``c`` with ``P(U < c) <= (1 - confidence) / 2`` under the null
    (exact up to 25 a side, normal beyond); 0 when the samples are too small
    for any interval at this confidence.
    """
    tail = (1 - confidence) / 2
    if max(m, n) <= _EXACT_MAX_N:
        frequencies = _u_frequencies(m, n)
        total = sum(frequencies)
        cut, below = 0, 0
        for frequency in frequencies:
            if (below + frequency) / total > tail:
                break
            below += frequency
            cut += 1
        return cut
    z = statistics.NormalDist().inv_cdf(1 - tail)
    return max(0, math.floor(m * n / 2 - z * math.sqrt(m * n * (m + n + 1) / 12)))


def hodges_lehmann_ratio(
    baseline: Sequence[float], current: Sequence[float], *, confidence: float = 0.95
) -> tuple[float, RatioInterval]:
    """``current / baseline`` estimated as the median of every pairwise ratio, with its interval.

    Positive samples only (latencies, throughputs). The interval is the
    ``c``-th smallest and largest pairwise ratio (:func:`_moses_cut`): it
    holds the true ratio with at least ``confidence``, assuming only that one
    side is the other scaled. Too few samples for any interval give the
    range of all pairwise ratios.
    """
    if not baseline or not current:
        raise ValueError("a ratio needs samples on both sides")
    logs = sorted(math.log(c) - math.log(b) for b in baseline for c in current)
    cut = min(_moses_cut(len(baseline), len(current), confidence), (len(logs) - 1) // 2)
    low, high = (logs[cut - 1], logs[len(logs) - cut]) if cut else (logs[0], logs[-1])
    interval = RatioInterval(math.exp(low), math.exp(high), confidence, resamples=0)
    return math.exp(median(logs)), interval


def _robust_sd(logs: Sequence[float]) -> float:
    # The median absolute deviation, scaled to a normal's SD: one round that
    # interference hit does not inflate the spread the way a variance would.
    centre = median(logs)
    return 1.4826 * median([abs(v - centre) for v in logs])


def samples_needed(
    baseline: Sequence[float],
    current: Sequence[float],
    *,
    change: float,
    alpha: float,
    power: float = 0.8,
) -> int:
    """Samples a side needs for the U test to detect a ``change`` (0.10: 10 %) at this spread.

    From the spread of the log samples (robust, pooled over both sides): the
    two-sample normal formula ``2 (z_a + z_b)^2 s^2 / d^2``, times pi/3, the
    U test's efficiency against the t test on normal data (Lehmann 1975).
    """
    spreads = [_robust_sd([math.log(v) for v in side]) for side in (baseline, current)]
    sd = math.sqrt(sum(s * s for s in spreads) / len(spreads))
    normal = statistics.NormalDist()
    z = normal.inv_cdf(1 - alpha / 2) + normal.inv_cdf(power)
    delta = math.log(1 + change)
    return max(1, math.ceil(2 * (z * sd / delta) ** 2 * math.pi / 3))


def holm_levels(p_values: Sequence[float | None], alpha: float) -> list[float]:
    """Each test's significance level under Holm's step-down correction (Holm 1979).

    A gate tests every operation of a run at once; at ``alpha`` each, one of
    twenty-five unchanged operations would be called significant in a fifth
    of identical runs. Holm keeps the chance of *any* false call at or below
    ``alpha``: the i-th smallest p (0-based, of ``m`` tests) is held to
    ``alpha / (m - i)``, and once one fails every larger p fails (level 0).
    ``None`` marks an operation without a test.
    """
    ranked = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    levels = [0.0] * len(p_values)
    m = len(ranked)
    for rank, (p, index) in enumerate(ranked):
        level = alpha / (m - rank)
        if p >= level:
            break  # this one and every larger p keep level 0
        levels[index] = level
    return levels
