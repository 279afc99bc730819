from __future__ import annotations

import math
import random
import re

import pytest

from dbprobe.errors import ConfigError
from dbprobe.load.plan import LoadPlan, RetryPolicy
from dbprobe.load.profiles import LoadProfile


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


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"workers": 10_001}, "--threads must be 10,000 or less, got 10001"),
        ({"workers": 100, "processes": 101}, "is 10,100 workers (connections) in all"),
        ({"processes": 257}, "--processes must be 256 or less, got 257"),
        ({"duration_s": math.inf}, "--duration must be 2,592,000 s (30 days) or less, got inf"),
        ({"duration_s": math.nan}, "--duration must be 2,592,000 s (30 days) or less, got nan"),
        ({"duration_s": 1e-300}, "--duration must be at least 0.001 s (a millisecond), got 1e-300"),
        ({"warmup_s": 1e308}, "--warmup must be 2,592,000 s (30 days) or less, got 1e+308"),
        ({"rate_per_s": 1e9}, "--rate must be 1,000,000 per second or less, got 1e+09"),
        (
            {"rate_per_s": 5e5, "profile": LoadProfile("spike", spike_factor=3, spike_s=1)},
            "--rate (the profile's peak) must be 1,000,000 per second or less, got 1.5e+06",
        ),
        ({"grace_s": -1}, "--grace must be from 0 to 2,592,000 s"),
        ({"grace_s": math.inf}, "--grace must be from 0 to 2,592,000 s"),
    ],
)
def test_load_plan_refuses_amounts_beyond_their_maximum(
    kwargs: dict[str, object], message: str
) -> None:
    # Library and plugin callers get the CLI's maxima too (dbprobe.result.limits).
    plan: dict[str, object] = {"workers": 1, "duration_s": 10.0, **kwargs}
    with pytest.raises(ConfigError, match=re.escape(message)):
        LoadPlan(**plan)  # type: ignore[arg-type]


def test_retries_beyond_the_maximum_are_refused() -> None:
    with pytest.raises(ConfigError, match="--retries must be 1,000 or less, got 1001"):
        RetryPolicy(retries=1001)
