"""PoolProbeOptions: bad values are one clear ConfigError naming the option."""

from __future__ import annotations

from typing import Any

import pytest

from dbprobe.database.engine import PoolOptions
from dbprobe.errors import ConfigError
from dbprobe.probes.pool.probe import PoolProbeOptions


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pool_timeout_s": 0}, "--pool-timeout must be a positive number of seconds, got 0"),
        ({"pool_timeout_s": -1.5}, "--pool-timeout must be a positive number of seconds, got -1.5"),
        ({"pool_timeout_s": float("nan")}, "--pool-timeout must be a positive number"),
        ({"pool_size": 0}, "--pool-size must be at least 1, got 0"),
        ({"pool_size": -3}, "--pool-size must be at least 1, got -3"),
        ({"max_overflow": -1}, "--max-overflow must be 0 or more, got -1"),
        ({"threads": 0}, "--threads must be at least 1, got 0"),
        ({"hold_ms": -1}, "--hold-ms must be 0 or more milliseconds, got -1"),
        ({"duration_s": 0}, "--duration must be a positive number of seconds, got 0"),
        ({"duration_s": float("inf")}, "--duration must be a positive number of seconds"),
        ({"ramp": True, "duration_s": 2}, "--ramp needs --duration of at least 3 s"),
    ],
)
def test_out_of_range_values_name_the_option_and_what_is_allowed(
    change: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        PoolProbeOptions(**change)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_the_engine_pool_is_built_from_the_probe_settings() -> None:
    probe = PoolProbeOptions(pool_size=2, max_overflow=4, pool_timeout_s=0.3, threads=6)
    assert probe.connections == 6
    assert probe.pool_options(connect_timeout_s=3.0) == PoolOptions(
        size=2, max_overflow=4, timeout_s=0.3, connect_timeout_s=3.0
    )


def test_config_carries_every_option() -> None:
    probe = PoolProbeOptions(
        pool_size=2,
        max_overflow=0,
        pool_timeout_s=0.3,
        threads=6,
        hold_ms=1000,
        duration_s=4,
        ramp=True,
        trace_holders=True,
    )
    assert probe.as_config().to_json() == {
        "pool_size": 2,
        "max_overflow": 0,
        "pool_timeout_s": 0.3,
        "threads": 6,
        "hold_ms": 1000,
        "duration_s": 4,
        "ramp": True,
        "trace_holders": True,
    }


def test_zero_hold_and_zero_overflow_are_allowed() -> None:
    probe = PoolProbeOptions(pool_size=1, max_overflow=0, hold_ms=0)
    assert (probe.pool_size, probe.max_overflow, probe.hold_ms) == (1, 0, 0)
