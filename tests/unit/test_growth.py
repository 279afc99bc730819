"""Latency against rows: a growth is named only when the resampled rounds agree on it."""

from __future__ import annotations

import math
import random
from collections.abc import Callable

from dbprobe.metrics.growth import Growth, GrowthFit, SizeSample, fit_growth

ROWS = (1_312, 33_883, 450_237)  # session_exercises at scales tiny, small and medium

Cost = Callable[[float], float]


def _sizes(
    cost_ms: Cost, *, rounds: int = 5, noise: float = 0.1, seed: int = 1
) -> list[SizeSample]:
    rng = random.Random(seed)
    return [
        SizeSample(n, tuple(cost_ms(n) * math.exp(rng.gauss(0, noise)) for _ in range(rounds)))
        for n in ROWS
    ]


def _fit(cost_ms: Cost, **kwargs: float) -> GrowthFit:
    fit = fit_growth(_sizes(cost_ms, **kwargs))  # type: ignore[arg-type]
    assert isinstance(fit, GrowthFit), fit
    return fit


def test_a_lookup_whose_cost_does_not_follow_the_rows_is_constant() -> None:
    fit = _fit(lambda n: 0.3)
    assert fit.growth is Growth.CONSTANT
    assert fit.low < 0 < fit.high


def test_an_index_depth_of_a_few_percent_is_constant_too() -> None:
    # A B-tree one level deeper at the largest size: 6 % more.
    fit = _fit(lambda n: 0.8 + 0.008 * math.log(n), noise=0.03)
    assert fit.growth is Growth.CONSTANT


def test_a_scan_whose_fixed_cost_outweighs_its_rows_at_the_smallest_size_is_linear() -> None:
    # As measured on SQLite: 0.98, 2.08 and 17.2 ms, a cost of 0.9 ms per call
    # and 36 ns per row; the log-log slope through all three is 0.48.
    fit = _fit(lambda n: 0.9 + 36e-6 * n)
    assert fit.growth is Growth.LINEAR
    assert fit.growth.scales_with_data
    # The exponent is the slope between the two largest sizes.
    assert 0.75 < fit.exponent < 1.0
    assert fit.describe().startswith(f"linear (exponent {fit.exponent:.2f}, 95% CI ")


def test_a_cost_growing_with_the_square_of_the_rows_is_worse_than_linear() -> None:
    fit = _fit(lambda n: 0.5 + 1e-9 * n**2)
    assert fit.growth is Growth.WORSE_THAN_LINEAR
    assert 1.5 < fit.exponent < 2.1  # the constant cost still flattens the line a little


def test_a_cost_growing_with_the_logarithm_of_the_rows_is_logarithmic() -> None:
    fit = _fit(lambda n: 0.5 + 0.3 * math.log(n), noise=0.03)
    assert fit.growth is Growth.LOGARITHMIC
    assert not fit.growth.scales_with_data


def test_rounds_too_noisy_to_tell_the_shape_leave_the_growth_undetermined() -> None:
    fit = _fit(lambda n: 0.5 + 0.3 * math.log(n), noise=0.4, seed=3)
    assert fit.growth is Growth.UNDETERMINED
    assert "more rounds" in fit.note


def test_one_slow_round_of_five_names_no_shape_for_a_flat_lookup() -> None:
    # Measured beside a CPU-bound process, SQLite, a primary-key lookup: one
    # round at scale medium 80 % slower. It was once called "logarithmic".
    sizes = [
        SizeSample(1_312, (0.486, 0.444, 0.451, 0.445, 0.448)),
        SizeSample(33_883, (0.46, 0.45, 0.459, 0.458, 0.485)),
        SizeSample(450_237, (0.449, 0.433, 0.799, 0.439, 0.449)),
    ]
    fit = fit_growth(sizes)
    assert isinstance(fit, GrowthFit)
    assert fit.growth is Growth.CONSTANT


def test_a_machine_that_drifted_between_scales_leaves_a_flat_lookup_constant() -> None:
    # Measured in the full suite on the oldest versions: the other half of the
    # suite moved the machine between the scales' runs (0.69, 0.44, 0.76 ms).
    sizes = [
        SizeSample(1_312, (0.7, 0.44, 0.69, 0.45, 0.71, 0.68, 0.69, 0.72, 0.44, 0.70)),
        SizeSample(33_883, (0.439, 0.44, 0.43, 0.45, 0.44, 0.437, 0.44, 0.45, 0.43, 0.44)),
        SizeSample(450_237, (0.713, 0.813, 0.753, 0.708, 0.727, 0.766, 0.81, 0.772, 0.748, 0.76)),
    ]
    fit = fit_growth(sizes)
    assert isinstance(fit, GrowthFit)
    assert fit.high < 0.5
    assert fit.growth is Growth.CONSTANT
    # Growing by more than half, yet not surely: undetermined, not constant.
    grown = [sizes[0], sizes[1], SizeSample(450_237, tuple(v * 1.4 for v in sizes[2].values))]
    fit = fit_growth(grown)
    assert isinstance(fit, GrowthFit)
    assert fit.growth is Growth.UNDETERMINED
    assert fit.note.endswith("more rounds would tell whether it grows at all")


def test_two_sizes_name_linear_only_beyond_what_a_constant_cost_can_bend() -> None:
    two = _sizes(lambda n: 0.9 + 36e-6 * n)[:2]  # tiny and small: 0.95 and 2.1 ms
    fit = fit_growth(two)
    assert isinstance(fit, GrowthFit)
    assert fit.growth is Growth.UNDETERMINED
    assert fit.note.endswith("add a third scale")
    steep = fit_growth(_sizes(lambda n: 0.9 + 36e-6 * n)[1:])  # small and medium
    assert isinstance(steep, GrowthFit)
    assert steep.growth is Growth.LINEAR
    square = fit_growth(_sizes(lambda n: 1e-9 * n**2)[1:])
    assert isinstance(square, GrowthFit)
    assert square.growth is Growth.WORSE_THAN_LINEAR


def test_too_few_rounds_or_one_size_is_said_not_fitted() -> None:
    few = [SizeSample(100, (1.0, 1.1, 0.9)), SizeSample(1000, (2.0,) * 10)]
    assert fit_growth(few) == "3 rounds at 100 rows, need at least 5 at each size"
    same = [SizeSample(400, (1.0,) * 6), SizeSample(400, (1.1,) * 6)]
    assert fit_growth(same) == "the rows it reads are the same at every scale"


def test_the_same_samples_give_the_same_fit() -> None:
    sizes = _sizes(lambda n: 0.3 + 80e-6 * n)
    assert fit_growth(sizes) == fit_growth(sizes)


def test_rows_that_grew_less_than_tenfold_name_no_growth() -> None:
    # movements at scales tiny and small: 48 and 160 rows. A machine that
    # drifted 1.9 times between the two runs looks like a linear cost there.
    drifted = [
        SizeSample(48, (0.44,) * 5 + (0.45,) * 5),
        SizeSample(160, (0.83,) * 5 + (0.84,) * 5),
    ]
    fit = fit_growth(drifted)
    assert isinstance(fit, GrowthFit)
    assert fit.low > 0.5  # the slope alone would have said linear
    assert fit.growth is Growth.UNDETERMINED
    assert fit.note.startswith("the rows it reads grew only 3.3 times across the scales")
    # Flat over the same rows is still constant.
    flat = [SizeSample(48, (0.44,) * 10), SizeSample(160, (0.45,) * 10)]
    assert fit_growth(flat).growth is Growth.CONSTANT  # type: ignore[union-attr]


def test_a_scan_whose_smallest_scale_ran_on_a_slower_machine_is_linear_not_worse() -> None:
    # Measured on the oldest versions beside two CPU hogs: a count over 2,000,
    # 20,000 and 200,000 rows, the machine slower during the first scale only.
    sizes = [
        SizeSample(2_000, (0.70, 0.71, 0.72, 0.70, 0.71, 0.70, 0.71, 0.69, 0.71, 0.72)),
        SizeSample(20_000, (0.75, 0.76, 0.74, 0.75, 0.75, 0.76, 0.75, 0.74, 0.76, 0.75)),
        SizeSample(200_000, (7.6, 7.5, 7.7, 7.6, 7.6, 7.5, 7.6, 7.7, 7.6, 7.6)),
    ]
    fit = fit_growth(sizes)
    assert isinstance(fit, GrowthFit)
    assert fit.growth is Growth.LINEAR
