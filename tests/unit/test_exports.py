"""Exports load the way their consumers load them.

The consumers are re-implemented here field by field from their source:

- github-action-benchmark ``src/extract.ts``: ``extractPytestResult`` (tool
  ``pytest``) reads ``benchmarks[].fullname``, ``stats.ops``, ``stats.stddev``,
  ``stats.mean``, ``stats.rounds``; ``extractCustomBenchmarkResult`` (tools
  ``customSmallerIsBetter``/``customBiggerIsBetter``) reads an array of
  ``{name, value, unit, range, extra}``.
- pytest-benchmark ``src/pytest_benchmark/stats.py``: ``Stats.fields`` and the
  definitions of each (sample stddev, quartiles, Tukey fences, ``ops``).
"""

from __future__ import annotations

import json
import math
import random
import statistics
from bisect import bisect_left, bisect_right
from pathlib import Path
from typing import Any

import pytest

from dbprobe.errors import ConfigError
from dbprobe.gate.thresholds import Metric
from dbprobe.metrics.distribution import Distribution
from dbprobe.report.exports import (
    custom_smaller_is_better,
    pytest_benchmark_json,
    pytest_benchmark_stats,
    write_export,
)
from tests import synthetic

# pytest-benchmark's Stats.fields (4.x), in its order.
PYTEST_BENCHMARK_FIELDS = (
    "min", "max", "mean", "stddev", "rounds", "median", "iqr", "q1", "q3", "iqr_outliers",
    "stddev_outliers", "outliers", "ld15iqr", "hd15iqr", "ops", "total",
)  # fmt: skip


def _human(seconds: float) -> tuple[float, str]:
    """getHumanReadableUnitValue of extract.ts."""
    if seconds < 1.0e-6:
        return seconds * 1e9, "nsec"
    if seconds < 1.0e-3:
        return seconds * 1e6, "usec"
    if seconds < 1.0:
        return seconds * 1e3, "msec"
    return seconds, "sec"


def extract_pytest_result(output: str) -> list[dict[str, Any]]:
    """github-action-benchmark's extractPytestResult, field access for field access."""
    data = json.loads(output)
    results = []
    for bench in data["benchmarks"]:
        stats = bench["stats"]
        mean, unit = _human(stats["mean"])
        results.append(
            {
                "name": bench["fullname"],
                "value": stats["ops"],
                "unit": "iter/sec",
                "range": f"stddev: {stats['stddev']}",
                "extra": f"mean: {mean} {unit}\nrounds: {stats['rounds']}",
            }
        )
    return results


def extract_custom_result(output: str) -> list[dict[str, Any]]:
    """github-action-benchmark's extractCustomBenchmarkResult."""
    data = json.loads(output)
    assert isinstance(data, list)
    return [
        {key: entry.get(key) for key in ("name", "value", "unit", "range", "extra")}
        for entry in data
    ]


def _reference_stats(data: list[float]) -> dict[str, Any]:
    """pytest-benchmark's statistics, from its documented definitions, on raw values."""
    s = sorted(data)
    n = len(s)
    mean = statistics.mean(s)
    stddev = statistics.stdev(s) if n > 1 else 0
    if n == 1:
        q1 = q3 = s[0]
    elif n % 2:
        k, r = n // 4, n % 4
        q1 = 0.25 * s[k - 1] + 0.75 * s[k] if r == 1 else 0.75 * s[k] + 0.25 * s[k + 1]
        q3 = (
            0.75 * s[3 * k] + 0.25 * s[3 * k + 1]
            if r == 1
            else 0.25 * s[3 * k + 1] + 0.75 * s[3 * k + 2]
        )
    else:
        q1, q3 = statistics.median(s[: n // 2]), statistics.median(s[n // 2 :])
    iqr = q3 - q1
    iqr_out = sum(1 for v in s if v < q1 - 1.5 * iqr or v > q3 + 1.5 * iqr)
    sd_out = sum(1 for v in s if v < mean - stddev or v > mean + stddev)
    pos = bisect_right(s, q3 + 1.5 * iqr)
    return {
        "min": s[0], "max": s[-1], "mean": mean, "stddev": stddev, "rounds": n,
        "median": statistics.median(s), "iqr": iqr, "q1": q1, "q3": q3,
        "iqr_outliers": iqr_out, "stddev_outliers": sd_out, "outliers": f"{sd_out};{iqr_out}",
        "ld15iqr": s[bisect_left(s, q1 - 1.5 * iqr)] if n > 1 else s[0],
        "hd15iqr": (s[-1] if pos == n else s[pos]) if n > 1 else s[0],
        "ops": n / sum(s), "total": sum(s),
    }  # fmt: skip


@pytest.mark.parametrize("n", [1, 2, 5, 6, 7, 8, 101, 400], ids=lambda n: f"n{n}")
def test_stats_follow_pytest_benchmark_definitions(n: int) -> None:
    rng = random.Random(n)
    data = [round(v, 2) for v in synthetic.lognormal_ms(rng, n)]  # ties included
    ours = pytest_benchmark_stats(Distribution.from_values(data))
    reference = _reference_stats(data)
    assert tuple(ours) == PYTEST_BENCHMARK_FIELDS
    for key, value in reference.items():
        if isinstance(value, str):
            assert ours[key] == value, key
        else:
            assert ours[key] == pytest.approx(value, rel=1e-9), key


def _reports():  # type: ignore[no-untyped-def]
    rng = random.Random(3)
    uow = synthetic.report(
        {"read_program": synthetic.lognormal_ms(rng, 500), "idle": []},
        config=synthetic.run_config(duration_s=5.0),
    )
    repo = synthetic.report(
        {"movement_by_id": synthetic.lognormal_ms(rng, 60, median_ms=0.4)}, probe="repo"
    )
    return uow, repo


def test_pytest_benchmark_export_loads_as_github_action_benchmark_reads_it(tmp_path: Path) -> None:
    uow, repo = _reports()
    data = pytest_benchmark_json(
        [uow, repo],
        env={"GITHUB_SHA": "abc123", "GITHUB_REF_NAME": "main", "GITHUB_REPOSITORY": "me/app"},
    )
    path = tmp_path / "pytest-benchmark.json"
    write_export(path, data)
    results = extract_pytest_result(path.read_text(encoding="utf-8"))
    # The operation with no committed operation has no timings and is left out.
    assert [r["name"] for r in results] == [
        "uow::read_program[sqlite-tiny]",
        "repo::movement_by_id[sqlite-tiny]",
    ]
    read = data["benchmarks"][0]["stats"]
    assert results[0]["value"] == pytest.approx(1 / read["mean"])
    assert results[0]["extra"].endswith("msec\nrounds: 500")
    assert 1.5e-3 < read["median"] < 2.5e-3  # seconds, as pytest-benchmark writes them
    # The top-level shape pytest-benchmark writes.
    assert set(data) == {"machine_info", "commit_info", "benchmarks", "datetime", "version"}
    assert {"node", "processor", "machine", "python_compiler", "python_implementation",
            "python_implementation_version", "python_version", "python_build", "release",
            "system", "cpu"} <= set(data["machine_info"])  # fmt: skip
    assert data["machine_info"]["node"] == "ci-1"
    assert data["commit_info"] == {
        "id": "abc123", "time": None, "author_time": None, "dirty": None,
        "project": "app", "branch": "main",
    }  # fmt: skip
    bench = data["benchmarks"][0]
    assert {
        "group",
        "name",
        "fullname",
        "params",
        "param",
        "extra_info",
        "options",
        "stats",
    } <= set(bench)
    assert set(bench["stats"]) == {*PYTEST_BENCHMARK_FIELDS, "iterations"}
    assert isinstance(bench["stats"]["rounds"], int)
    assert isinstance(bench["stats"]["outliers"], str)
    assert data["version"].count(".") == 2
    assert data["datetime"] == "2026-01-05T12:00:00+00:00"


def test_custom_smaller_is_better_export_loads_as_github_action_benchmark_reads_it(
    tmp_path: Path,
) -> None:
    uow, repo = _reports()
    path = tmp_path / "custom.json"
    write_export(path, custom_smaller_is_better([uow, repo], metric=Metric.P95))
    entries = extract_custom_result(path.read_text(encoding="utf-8"))
    assert [e["name"] for e in entries] == [
        "uow::read_program[sqlite-tiny] p95",
        "repo::movement_by_id[sqlite-tiny] p95",
    ]
    for entry in entries:
        assert isinstance(entry["value"], float)
        assert entry["value"] > 0
        assert entry["unit"] == "ms"
        assert entry["range"].startswith("± ")
        assert entry["extra"].startswith("n: ")
    expected = uow.operation("read_program").latency_ms.p95_ms
    assert entries[0]["value"] == pytest.approx(expected, rel=0.002)
    low, high = (float(x) for x in entries[0]["extra"].split("\n")[1].split()[2].split(".."))
    assert low <= entries[0]["value"] <= high
    assert float(entries[0]["range"][2:]) == pytest.approx((high - low) / 2, abs=2e-4)


def test_throughput_is_not_a_smaller_is_better_metric_and_nothing_to_export_is_refused() -> None:
    uow, _ = _reports()
    with pytest.raises(ConfigError, match="not throughput"):
        custom_smaller_is_better([uow], metric=Metric.THROUGHPUT)
    with pytest.raises(ConfigError, match="no report"):
        pytest_benchmark_json([])
    assert not math.isnan(pytest_benchmark_stats(Distribution.from_values([3.0]))["ops"])
