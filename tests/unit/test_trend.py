"""Step changes in a recorded history, by the documented rule."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest

from dbprobe.errors import ConfigError
from dbprobe.gate.store import HistoryStore
from dbprobe.gate.thresholds import Metric
from dbprobe.gate.trend import detect_steps, history
from tests import synthetic


def _noisy(rng: random.Random, level: float, n: int, spread: float = 0.03) -> list[float]:
    return [level * (1 + rng.uniform(-spread, spread)) for _ in range(n)]


def test_a_flat_noisy_series_has_no_step() -> None:
    rng = random.Random(1)
    assert detect_steps(_noisy(rng, 2.0, 40, spread=0.08)) == ()


def test_a_30_percent_step_is_flagged_once_at_the_first_run_after_it() -> None:
    rng = random.Random(2)
    values = _noisy(rng, 2.0, 12) + _noisy(rng, 2.6, 12)
    (step,) = detect_steps(values)
    assert step.index == 12
    assert step.is_regression
    assert step.worse == pytest.approx(1.3, rel=0.05)
    assert step.p_value == pytest.approx(2 / 252)  # windows of 5 that do not overlap at all


def test_a_step_smaller_than_the_threshold_is_not_flagged_however_clean() -> None:
    values = [2.0] * 10 + [2.1] * 10
    assert detect_steps([v + i * 1e-6 for i, v in enumerate(values)]) == ()


def test_an_improvement_is_a_step_that_is_not_a_regression_and_throughput_is_inverted() -> None:
    rng = random.Random(3)
    faster = _noisy(rng, 2.0, 10) + _noisy(rng, 1.4, 10)
    (step,) = detect_steps(faster)
    assert not step.is_regression
    (tps,) = detect_steps(faster, higher_is_better=True)  # throughput fell by 30 %
    assert tps.is_regression


def test_a_single_outlier_run_is_not_a_step() -> None:
    rng = random.Random(4)
    values = _noisy(rng, 2.0, 20)
    values[10] = 6.0
    assert detect_steps(values) == ()


def test_the_window_must_hold_two_runs() -> None:
    with pytest.raises(ConfigError, match="at least 2 runs"):
        detect_steps([1.0, 2.0], window=1)


def test_history_reads_recorded_runs_of_the_same_backend_and_scale(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "history.sqlite3")
    rng = random.Random(5)
    for i in range(14):
        slow = 1.5 if i >= 8 else 1.0  # a change landed with run 8
        store.record(
            synthetic.report(
                {
                    "read": [v * slow for v in synthetic.lognormal_ms(rng, 300, sigma=0.2)],
                    "write": synthetic.lognormal_ms(rng, 300, sigma=0.2, median_ms=5),
                },
                started_at=synthetic.T0 + dt.timedelta(hours=i),
            ),
            label=f"c{i:02d}",
        )
    # Another scale must not mix in.
    store.record(
        synthetic.report(
            {"read": [50.0] * 20}, scale="small", started_at=synthetic.T0 + dt.timedelta(days=2)
        )
    )
    trend = history(store, "uow", "read", backend="sqlite", scale="tiny")
    assert len(trend.points) == 14
    assert [p.label for p in trend.step_runs()] == ["c08"]
    assert trend.steps[0].worse == pytest.approx(1.5, rel=0.05)
    assert history(store, "uow", "write", backend="sqlite", scale="tiny").steps == ()
    throughput = history(store, "uow", "read", Metric.THROUGHPUT, backend="sqlite", scale="tiny")
    assert throughput.points[0].value == pytest.approx(30.0)  # 300 in 10 s
    latest = history(store, "uow", "read")  # the most recent run is scale small
    assert (latest.scale, len(latest.points)) == ("small", 1)
    empty = history(HistoryStore(tmp_path / "none.sqlite3"), "uow", "read")
    assert empty.points == ()
    assert empty.steps == ()
