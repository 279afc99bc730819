"""Reports in the formats other benchmark tools read.

- :func:`pytest_benchmark_json`: the file ``pytest --benchmark-json`` writes
  (pytest-benchmark's ``machine_info``, ``commit_info``, ``benchmarks[]`` with
  their ``stats``, ``datetime``, ``version``), which github-action-benchmark
  reads with ``tool: 'pytest'`` and pytest-benchmark's own ``compare`` loads.
  Each dbprobe operation is one benchmark whose rounds are its committed
  operations; every statistic is computed from the HdrHistogram with
  pytest-benchmark's definitions (its ``stats.py``: sample stddev, quartiles
  by the "method 3 / method 2" rule, Tukey fences, ``ops = rounds / total``),
  in seconds as pytest-benchmark writes them.
- :func:`custom_smaller_is_better`: github-action-benchmark's
  ``customSmallerIsBetter`` input, ``[{name, value, unit, range, extra}]``,
  one entry per operation with the chosen latency percentile in ms.
"""

from __future__ import annotations

import json
import math
import os
import platform
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from dbprobe.errors import ConfigError
from dbprobe.gate.stats import bootstrap_quantile_interval
from dbprobe.gate.thresholds import Metric
from dbprobe.metrics.distribution import Distribution
from dbprobe.result.files import write_text_atomic
from dbprobe.result.model import OperationReport, Report

__all__ = [
    "PYTEST_BENCHMARK_VERSION",
    "benchmark_name",
    "custom_smaller_is_better",
    "pytest_benchmark_json",
    "pytest_benchmark_stats",
    "write_export",
]

#: The pytest-benchmark release whose JSON layout these files follow; its
#: ``compare`` only warns about files of a *newer* version than its own.
PYTEST_BENCHMARK_VERSION = "4.0.0"


def benchmark_name(report: Report, operation: str) -> str:
    """The stable name of an operation across runs: ``uow::read_program[sqlite-small]``.

    Backend and scale are part of it because github-action-benchmark draws
    one chart per name, and runs of another backend or scale are other series.
    """
    return f"{report.run.probe}::{operation}[{report.target.backend}-{report.target.scale}]"


def _median_of_ranks(dist: Distribution, first: int, last: int, cum: tuple[int, ...]) -> float:
    """statistics.median of the sorted values ranked ``first..last`` (1-based, inclusive)."""
    n = last - first + 1
    mid = first + n // 2
    if n % 2:
        return dist.value_at_rank(mid, cum)
    return (dist.value_at_rank(mid - 1, cum) + dist.value_at_rank(mid, cum)) / 2


def pytest_benchmark_stats(dist: Distribution) -> dict[str, Any]:
    """pytest-benchmark's ``Stats.as_dict()`` of the values in ``dist`` (in its unit)."""
    n = dist.count
    if n == 0:
        raise ValueError("no values")
    cum = dist.cumulative()

    def at(index: int) -> float:  # pytest-benchmark's sorted_data[index], 0-based
        return dist.value_at_rank(index + 1, cum)

    mean = dist.mean()
    stddev = (
        math.sqrt(
            sum(c * (v - mean) ** 2 for v, c in zip(dist.values, dist.counts, strict=True))
            / (n - 1)
        )
        if n > 1
        else 0.0
    )
    if n == 1:
        q1 = q3 = at(0)
    elif n % 2:  # "method 3" of https://en.wikipedia.org/wiki/Quartile#Computing_methods
        k, r = n // 4, n % 4
        if r == 1:
            q1 = 0.25 * at(k - 1) + 0.75 * at(k)
            q3 = 0.75 * at(3 * k) + 0.25 * at(3 * k + 1)
        else:
            q1 = 0.75 * at(k) + 0.25 * at(k + 1)
            q3 = 0.25 * at(3 * k + 1) + 0.75 * at(3 * k + 2)
    else:  # "method 2": medians of the lower and the upper half
        q1 = _median_of_ranks(dist, 1, n // 2, cum)
        q3 = _median_of_ranks(dist, n // 2 + 1, n, cum)
    iqr = q3 - q1
    low_fence, high_fence = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    iqr_outliers = dist.count_outside(low_fence, high_fence)
    stddev_outliers = dist.count_outside(mean - stddev, mean + stddev)
    if n == 1:
        ld15iqr = hd15iqr = at(0)
    else:
        # bisect_left(sorted_data, low_fence) and bisect_right(sorted_data, high_fence)
        ld15iqr = next(v for v in dist.values if v >= low_fence)
        hd15iqr = next((v for v in dist.values if v > high_fence), dist.values[-1])
    total = mean * n
    return {
        "min": dist.values[0],
        "max": dist.values[-1],
        "mean": mean,
        "stddev": stddev,
        "rounds": n,
        "median": _median_of_ranks(dist, 1, n, cum),
        "iqr": iqr,
        "q1": q1,
        "q3": q3,
        "iqr_outliers": iqr_outliers,
        "stddev_outliers": stddev_outliers,
        "outliers": f"{stddev_outliers};{iqr_outliers}",
        "ld15iqr": ld15iqr,
        "hd15iqr": hd15iqr,
        "ops": n / total if total else 0.0,
        "total": total,
    }


def _seconds(dist: Distribution) -> Distribution:
    return Distribution(tuple(v / 1e6 for v in dist.values), dist.counts)


def _machine_info(report: Report) -> dict[str, Any]:
    # pytest-benchmark's keys; node and Python are the run's (the report's),
    # the rest describe the machine writing the export (normally the same one).
    return {
        "node": report.run.host,
        "processor": platform.processor(),
        "machine": platform.machine(),
        "python_compiler": platform.python_compiler(),
        "python_implementation": platform.python_implementation(),
        "python_implementation_version": report.run.python,
        "python_version": report.run.python,
        "python_build": list(platform.python_build()),
        "release": platform.release(),
        "system": platform.system(),
        "cpu": {"count": os.cpu_count(), "arch": platform.machine()},
    }


def _commit_info(env: Mapping[str, str]) -> dict[str, Any]:
    # No git is run: in CI the commit is in the environment (GitHub Actions).
    return {
        "id": env.get("GITHUB_SHA"),
        "time": None,
        "author_time": None,
        "dirty": None,
        "project": env.get("GITHUB_REPOSITORY", "").rpartition("/")[2] or None,
        "branch": env.get("GITHUB_HEAD_REF") or env.get("GITHUB_REF_NAME"),
    }


def _benchmark(report: Report, op: OperationReport, dist: Distribution) -> dict[str, Any]:
    stats = pytest_benchmark_stats(_seconds(dist))
    stats["iterations"] = 1
    return {
        "group": f"dbprobe {report.run.probe}",
        "name": op.name,
        "fullname": benchmark_name(report, op.name),
        "params": {"backend": report.target.backend, "scale": report.target.scale},
        "param": f"{report.target.backend}-{report.target.scale}",
        "extra_info": {
            "dbprobe_probe": report.run.probe,
            "throughput_per_s": round(op.throughput_per_s, 3),
            "p95_ms": op.latency_ms.p95_ms,
            "p99_ms": op.latency_ms.p99_ms,
            "errors": op.errors,
            "retries": op.retries,
            "statements_per_op": round(op.queries.per_op_mean, 3),
            "workers": report.config.threads,
        },
        "options": {
            "disable_gc": False,
            "timer": "perf_counter_ns",
            "min_rounds": 1,
            "max_time": report.config.duration_s or 0,
            "min_time": 0,
            "warmup": bool(report.config.warmup_s),
        },
        "stats": stats,
    }


def pytest_benchmark_json(
    reports: Sequence[Report],
    *,
    machine_info: Mapping[str, Any] | None = None,
    commit_info: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """pytest-benchmark's ``--benchmark-json`` document for the operations of ``reports``.

    Operations without a committed operation have no timings and are left out.
    """
    if not reports:
        raise ConfigError("nothing to export: no report given")
    env = os.environ if env is None else env
    benchmarks = []
    for report in reports:
        for op in report.operations:
            dist = Distribution.from_encoded_histogram(op.histogram)
            if dist.count:
                benchmarks.append(_benchmark(report, op, dist))
    first = reports[0]
    return {
        "machine_info": dict(machine_info) if machine_info is not None else _machine_info(first),
        "commit_info": dict(commit_info) if commit_info is not None else _commit_info(env),
        "benchmarks": benchmarks,
        "datetime": first.run.started_at.isoformat(),
        "version": PYTEST_BENCHMARK_VERSION,
    }


def custom_smaller_is_better(
    reports: Sequence[Report], *, metric: Metric = Metric.P50, seed: int = 0
) -> list[dict[str, Any]]:
    """github-action-benchmark ``customSmallerIsBetter`` entries, one per operation.

    ``range`` is the 95% bootstrap interval of the percentile (its half-width
    as ``± x``), so a chart shows how precise each point is.
    """
    q = metric.quantile
    if q is None:
        raise ConfigError(
            "customSmallerIsBetter takes a latency percentile (p50, p95, p99), not throughput"
        )
    entries = []
    for report in reports:
        for op in report.operations:
            dist = Distribution.from_encoded_histogram(op.histogram)
            if not dist.count:
                continue
            low, high = bootstrap_quantile_interval(dist, q, rng=random.Random(seed))
            value = dist.quantile(q) / 1000
            entries.append(
                {
                    "name": f"{benchmark_name(report, op.name)} {metric.value}",
                    "value": round(value, 4),
                    "unit": "ms",
                    "range": f"± {(high - low) / 2000:.4f}",
                    "extra": (
                        f"n: {dist.count}\n95% CI: {low / 1000:.4f}..{high / 1000:.4f} ms\n"
                        f"p95: {op.latency_ms.p95_ms:.3f} ms\np99: {op.latency_ms.p99_ms:.3f} ms\n"
                        f"throughput: {op.throughput_per_s:.1f} tx/s"
                    ),
                }
            )
    return entries


def write_export(path: Path, data: Any) -> None:
    """Write an export as JSON (UTF-8, indented), atomically, creating the directory."""
    write_text_atomic(Path(path), json.dumps(data, indent=2, ensure_ascii=False) + "\n")
