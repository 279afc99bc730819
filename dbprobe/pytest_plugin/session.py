"""The end of a session that ran benchmarks: its report, the baseline gate, the summary table.

Loaded only when a session ran a timed ``dbprobe_bench``.
"""

from __future__ import annotations

import platform
import socket
import time
from importlib.metadata import version
from typing import Any

import pytest

from dbprobe.bench import BenchStats
from dbprobe.errors import DbprobeError
from dbprobe.metrics import LatencyHistogram
from dbprobe.pytest_plugin import GATE_KEY, OPTIONS_KEY, RESULTS_KEY, STARTED_KEY
from dbprobe.pytest_plugin.fixtures import server_facts
from dbprobe.result.config import PytestConfig, RunConfig
from dbprobe.result.jsonio import write_report
from dbprobe.result.merge import merge_loops
from dbprobe.result.model import (
    CalibrationRound,
    OperationReport,
    QueryCounts,
    Report,
    Resources,
    RunInfo,
    TargetInfo,
    ToolInfo,
)

__all__ = ["finish", "session_report", "summary"]

# Below these many rounds a percentile is the largest value: p95 needs 20
# rounds to differ from max, p99 100 (pytest-benchmark users read them apart).
_ROUNDS_FOR = {"p95": 20, "p99": 100}


def _operation(stats: BenchStats) -> OperationReport:
    rounds = stats.rounds
    histogram = LatencyHistogram.decode(stats.histogram)
    duration_s = stats.latency.mean_ms * rounds / 1000 / stats.concurrency
    return OperationReport(
        name=stats.name,
        count=rounds,
        attempts=rounds,
        commits=rounds,
        rollbacks=0,
        errors=0,
        retries=0,
        cancelled=0,
        error_classes={},
        error_samples={},
        latency_ms=histogram.summary(),
        commit_latency_ms=LatencyHistogram().summary(),
        throughput_per_s=rounds / duration_s if duration_s > 0 else 0.0,
        queries=QueryCounts(
            total=round(stats.statements_mean * rounds),
            per_op_mean=stats.statements_mean,
            per_op_max=stats.statements_max,
        ),
        histogram=stats.histogram,
        rounds=stats.samples,
    )


def _timed(config: pytest.Config) -> list[BenchStats]:
    return [s for s in config.stash.get(RESULTS_KEY, []) if s.timed]


def session_report(config: pytest.Config, started_at: Any, duration_s: float) -> Report:
    """The session's benchmarks as a dbprobe.report/1 report (probe "pytest")."""
    options = config.stash[OPTIONS_KEY]
    results = _timed(config)
    server = server_facts(config)
    return Report(
        tool=ToolInfo("dbprobe", version("dbprobe")),
        run=RunInfo(
            probe="pytest",
            started_at=started_at,
            duration_s=duration_s,
            argv=tuple(config.invocation_params.args),
            host=socket.gethostname(),
            python=platform.python_version(),
            # The loop pytest-asyncio ran the benchmarks on, if it was one for all.
            loop=merge_loops(s.loop for s in results),
        ),
        target=TargetInfo(
            # Empty when the benchmarks ran on the user's own engine only.
            backend=server.get("backend", ""),
            url=server.get("url", ""),
            server_version=server.get("server_version", ""),
            scale=options.scale,
            seed=1,
            isolation="",
        ),
        config=RunConfig(PytestConfig(disable=options.disable)),
        operations=tuple(_operation(s) for s in results),
        findings=tuple(f for s in results for f in s.findings),
        resources=Resources(0.0, 0.0, 0.0),
        calibration=tuple(
            CalibrationRound(r.cpu_ms, None, r.cpu_wait)
            for s in results
            for r in s.samples
            if r.cpu_ms is not None
        ),
    )


def finish(session: pytest.Session) -> None:
    """Write the session's report, and save or compare it as the options ask."""
    config = session.config
    options = config.stash[OPTIONS_KEY]
    started_at, started = config.stash[STARTED_KEY]
    report = session_report(config, started_at, time.perf_counter() - started)
    if options.json is not None:
        write_report(report, options.json)
    if options.save is None and options.compare is None:
        return
    # Imported here: the statistics are only needed when a session saves or compares.
    from dbprobe.gate.decide import GateSettings, judge
    from dbprobe.gate.store import HistoryStore
    from dbprobe.gate.thresholds import Level

    lines: list[str] = []
    try:
        store = HistoryStore()
        if options.compare is not None:
            settings = GateSettings(fail_on=Level(options.fail_on))
            verdict = judge(report, options.compare, store=store, settings=settings)
            lines += [*verdict.comparison.warnings, *verdict.result_lines()]
            lines.append(f"against baseline {options.compare!r}: {verdict.summary()}")
            if verdict.failed:
                lines.append(f"dbprobe: regression at or above {options.fail_on}: session failed")
                session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if options.save is not None:
            store.save_baseline(options.save, report)
            lines.append(f"saved the session's benchmarks as baseline {options.save!r}")
    except DbprobeError as exc:
        lines.append(f"dbprobe: {exc}")
        session.exitstatus = pytest.ExitCode.USAGE_ERROR
    config.stash[GATE_KEY] = lines


def _few_rounds_note(results: list[BenchStats]) -> str | None:
    fewest = min(s.rounds for s in results)
    short = [f"{name} {needed}" for name, needed in _ROUNDS_FOR.items() if fewest < needed]
    if not short:
        return None
    return (
        f"note: a benchmark of {fewest} rounds reports its slowest round as "
        f"{' and '.join(n.split()[0] for n in short)}: rounds needed to tell them "
        f"from max: {', '.join(short)}"
    )


def summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The table of the session's benchmarks, after the comparison's verdicts if any."""
    results = _timed(config)
    tr = terminalreporter
    gate = config.stash.get(GATE_KEY, [])
    if gate:
        tr.section("dbprobe comparison")
        for line in gate:
            tr.write_line(line)
    tr.section("dbprobe benchmarks (ms)")
    width = max(len(s.name) for s in results)
    figures = ("min", "p50", "p95", "p99", "max", "mean", "stddev", "iqr")
    tr.write_line(
        f"{'benchmark':<{width}}  {'rounds':>6}  "
        + "  ".join(f"{f:>8}" for f in figures)
        + f"  {'stmts':>5}"
    )
    for s in results:
        values = (s.min_ms, s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms, s.mean_ms)
        tr.write_line(
            f"{s.name:<{width}}  {s.rounds:>6}  "
            + "  ".join(f"{v:>8.3f}" for v in (*values, s.stddev_ms, s.iqr_ms))
            + f"  {s.statements_mean:>5.1f}"
        )
    note = _few_rounds_note(results)
    if note:
        tr.write_line(note)
    for s in results:
        for f in s.findings:
            tr.write_line(f"{f.severity.value}: {f.message}")
