"""The statistics of two latency distributions, against published values and naive versions."""

from __future__ import annotations

import math
import random

import pytest

from dbprobe.gate.stats import (
    bootstrap_quantile_interval,
    bootstrap_quantile_ratio,
    mann_whitney_u,
    median,
)
from dbprobe.metrics.distribution import Distribution
from tests import synthetic


def _midranks(values: list[float]) -> list[float]:
    """Ranks of ``values`` with ties at their mid-rank, the textbook way (sorting raw values)."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def _textbook_u_test(a: list[float], b: list[float]) -> tuple[float, float]:
    """U of ``b`` and the tie-corrected, continuity-corrected normal p, from raw values."""
    ranks = _midranks(a + b)
    n_a, n_b = len(a), len(b)
    u = sum(ranks[n_a:]) - n_b * (n_b + 1) / 2
    n = n_a + n_b
    ties = [sum(1 for v in a + b if v == x) for x in set(a + b)]
    variance = n_a * n_b / 12 * ((n + 1) - sum(t**3 - t for t in ties) / (n * (n - 1)))
    z = (abs(u - n_a * n_b / 2) - 0.5) / math.sqrt(variance)
    return u, math.erfc(z / math.sqrt(2))


def test_exact_p_values_match_the_published_table_for_five_against_five() -> None:
    # Mann-Whitney tables (e.g. Siegel & Castellan, Table J): for n1 = n2 = 5,
    # P(U <= 0) = 1/252, P(U <= 2) = 4/252, P(U <= 3) = 7/252; the two-sided
    # 5 % critical value is U = 2.
    def u_test(baseline: list[float], current: list[float]):  # type: ignore[no-untyped-def]
        return mann_whitney_u(Distribution.from_values(baseline), Distribution.from_values(current))

    separated = u_test([1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 10.0])
    assert (separated.method, separated.u) == ("exact", 25)
    assert separated.p_value == pytest.approx(2 / 252)
    # current 7 beats baseline 5 and 6: U = 2
    u_is_2 = u_test([5.0, 6.0, 8.0, 9.0, 10.0], [1.0, 2.0, 3.0, 4.0, 7.0])
    assert u_is_2.u == 2
    assert u_is_2.p_value == pytest.approx(2 * 4 / 252)
    # current 8 beats baseline 5, 6 and 7: U = 3
    u_is_3 = u_test([5.0, 6.0, 7.0, 9.0, 10.0], [1.0, 2.0, 3.0, 4.0, 8.0])
    assert u_is_3.u == 3
    assert u_is_3.p_value == pytest.approx(2 * 7 / 252)
    assert u_is_2.p_value < 0.05 < u_is_3.p_value


def test_bucketed_u_test_equals_the_textbook_test_on_raw_values_with_ties() -> None:
    rng = random.Random(11)
    # Rounded to 0.1 ms: many ties, as histogram buckets make.
    a = [round(v, 1) for v in synthetic.lognormal_ms(rng, 400)]
    b = [round(v * 1.08, 1) for v in synthetic.lognormal_ms(rng, 500)]
    result = mann_whitney_u(Distribution.from_values(a), Distribution.from_values(b))
    u, p = _textbook_u_test(a, b)
    assert result.method == "normal"
    assert result.u == pytest.approx(u)
    assert result.p_value == pytest.approx(p, rel=1e-9)
    assert result.effect == pytest.approx(u / (400 * 500))


def test_u_test_is_symmetric_and_identical_samples_are_not_significant() -> None:
    rng = random.Random(3)
    a = synthetic.distribution(synthetic.lognormal_ms(rng, 800))
    b = synthetic.distribution(synthetic.lognormal_ms(rng, 600, median_ms=2.4))
    forward, backward = mann_whitney_u(a, b), mann_whitney_u(b, a)
    assert forward.p_value == pytest.approx(backward.p_value)
    assert forward.effect == pytest.approx(1 - backward.effect)
    assert forward.current_is_larger
    assert not backward.current_is_larger
    same = mann_whitney_u(a, a)
    assert same.p_value == pytest.approx(1.0)
    assert same.effect == pytest.approx(0.5)
    constant = Distribution.from_values([5.0] * 30)
    assert mann_whitney_u(constant, constant).p_value == 1.0


def test_u_test_refuses_an_empty_side() -> None:
    with pytest.raises(ValueError, match="both sides"):
        mann_whitney_u(Distribution((), ()), Distribution.from_values([1.0]))


def _naive_bootstrap_ratio(
    a: list[float], b: list[float], q: float, rng: random.Random, resamples: int
) -> tuple[float, float]:
    """Resampling every value, the way the bootstrap is usually written."""

    def quantile(values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[max(1, math.ceil(q * len(ordered))) - 1]

    ratios = sorted(
        quantile(rng.choices(b, k=len(b))) / quantile(rng.choices(a, k=len(a)))
        for _ in range(resamples)
    )
    return ratios[int(0.025 * resamples)], ratios[int(0.975 * resamples) - 1]


def test_beta_bootstrap_agrees_with_resampling_every_value() -> None:
    rng = random.Random(5)
    a = synthetic.lognormal_ms(rng, 600)
    b = [v * 1.2 for v in synthetic.lognormal_ms(rng, 500)]
    fast = bootstrap_quantile_ratio(
        Distribution.from_values(a),
        Distribution.from_values(b),
        0.5,
        rng=random.Random(1),
        resamples=2000,
    )
    slow = _naive_bootstrap_ratio(a, b, 0.5, random.Random(2), 2000)
    assert fast.low == pytest.approx(slow[0], rel=0.02)
    assert fast.high == pytest.approx(slow[1], rel=0.02)
    assert fast.low < median(b) / median(a) < fast.high


def test_bootstrap_is_reproducible_with_the_same_seed_and_covers_the_point_ratio() -> None:
    rng = random.Random(8)
    a = synthetic.distribution(synthetic.lognormal_ms(rng, 1500))
    b = synthetic.distribution([v * 1.3 for v in synthetic.lognormal_ms(rng, 1500)])
    first = bootstrap_quantile_ratio(a, b, 0.95, rng=random.Random(42))
    again = bootstrap_quantile_ratio(a, b, 0.95, rng=random.Random(42))
    assert first == again
    point = b.quantile(0.95) / a.quantile(0.95)
    assert point in first
    assert first.resamples == 1000
    assert first.confidence == 0.95
    low, high = bootstrap_quantile_interval(a, 0.5, rng=random.Random(1))
    assert low < a.quantile(0.5) < high


def test_quantiles_follow_hdrhistogram_and_median_of_plain_numbers() -> None:
    dist = Distribution.from_values([4.0, 1.0, 3.0, 2.0])
    assert dist.quantile(0.5) == 2.0  # the 2nd of 4 (ceil(0.5 * 4)), as HdrHistogram
    assert dist.quantile(0.75) == 3.0
    assert dist.quantile(1.0) == 4.0
    assert dist.quantile(0.0) == 1.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert median([3.0, 1.0, 2.0]) == 2.0
    with pytest.raises(ValueError, match="no values"):
        median([])
