from __future__ import annotations

import random

import pytest

from dbprobe.errors import ConfigError
from dbprobe.load.plan import LoadPlan, RetryPolicy


def test_backoff_grows_exponentially_with_full_jitter_and_a_cap() -> None:
    policy = RetryPolicy(retries=10, base_backoff_s=0.01, max_backoff_s=0.05)
    rng = random.Random(0)
    for retry, ceiling in [(1, 0.01), (2, 0.02), (3, 0.04), (4, 0.05), (9, 0.05)]:
        waits = [policy.backoff_s(retry, rng) for _ in range(200)]
        assert max(waits) <= ceiling
        assert min(waits) >= 0.0
        # full jitter spreads the waits over the whole interval
        assert max(waits) > ceiling * 0.9
        assert min(waits) < ceiling * 0.1


def test_backoff_is_reproducible_for_a_seeded_rng() -> None:
    policy = RetryPolicy()
    a = [policy.backoff_s(n, random.Random(3)) for n in (1, 2, 3)]
    b = [policy.backoff_s(n, random.Random(3)) for n in (1, 2, 3)]
    assert a == b


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"workers": 0, "duration_s": 1}, "--threads must be at least 1, got 0"),
        ({"workers": 1, "transactions_per_worker": 0}, "--transactions must be at least 1"),
        ({"workers": 1, "duration_s": -2}, "--duration must be positive, got -2"),
        ({"workers": 1}, "either --transactions or --duration"),
        ({"workers": 1, "duration_s": 1, "transactions_per_worker": 3}, "not both"),
        ({"workers": 1, "duration_s": 1, "warmup_s": -1}, "--warmup must be 0 or more"),
    ],
)
def test_load_plan_rejects_impossible_amounts(kwargs: dict[str, float], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        LoadPlan(**kwargs)  # type: ignore[arg-type]


def test_negative_retries_are_refused() -> None:
    with pytest.raises(ConfigError, match="--retries must be 0 or more, got -1"):
        RetryPolicy(retries=-1)
