"""Load from several processes, merged exactly into one report, on real databases."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from dbprobe.database.engine import PoolOptions
from dbprobe.database.url import Target
from dbprobe.load.harness import ProbeHooks, TargetOptions
from dbprobe.load.plan import LoadPlan
from dbprobe.load.processes import process_seed
from dbprobe.metrics import LatencyHistogram
from dbprobe.probes import uow
from dbprobe.probes.repo.probe import run_repo
from dbprobe.probes.scenarios.probe import run_scenarios
from dbprobe.probes.uow import run_uow
from dbprobe.report.merge import merge_reports
from dbprobe.result.jsonio import report_to_dict

pytestmark = pytest.mark.asyncio

REPO = Path(__file__).resolve().parents[2]
ENTRIES = ("movement_get", "movements_by_pattern")


def _histogram_count(encoded: str) -> int:
    return LatencyHistogram.decode(encoded).count


async def test_two_processes_report_the_sum_of_their_parts_like_merged_single_runs(
    target: Target,
) -> None:
    options = TargetOptions(target, scale="tiny", pool=PoolOptions(size=2))
    plan = LoadPlan(workers=2, transactions_per_worker=5)
    # Two catalogue entries, so each process runs two phases (started together).
    combined = await run_repo(
        options, LoadPlan(workers=2, transactions_per_worker=5, processes=2), only=ENTRIES
    )
    singles = [await run_repo(options, plan, only=ENTRIES) for _ in range(2)]
    merged = merge_reports(singles)

    data = report_to_dict(combined)
    parts = data["load"]["parts"]
    assert [p["index"] for p in parts] == [0, 1]
    assert len({p["pid"] for p in parts}) == 2
    assert data["config"]["processes"] == 2
    assert data["resources"]["processes"] == 2
    for op, from_merge in zip(combined.operations, merged.operations, strict=True):
        assert op.name == from_merge.name
        assert op.count == sum(p["operations"][op.name]["count"] for p in parts) == 20
        assert op.commits == sum(p["operations"][op.name]["commits"] for p in parts)
        # One merged HdrHistogram holding every committed operation of both processes.
        assert _histogram_count(op.histogram) == op.latency_ms.count == op.commits
        assert (op.count, op.commits) == (from_merge.count, from_merge.commits)
        assert _histogram_count(op.histogram) == _histogram_count(from_merge.histogram)
        assert op.queries.total == from_merge.queries.total


async def test_a_fixed_rate_is_shared_between_processes_and_every_arrival_accounted_for(
    pg_target: Target,
) -> None:
    plan = LoadPlan(workers=3, duration_s=2, rate_per_s=60, arrivals="uniform", processes=2)
    report = await run_uow(
        TargetOptions(pg_target, scale="tiny", seed=4, pool=PoolOptions(size=3)),
        uow.UowOptions(plan=plan, mix={"read_program": 3, "create_program": 1}),
    )
    # Each process follows its own half-rate schedule, offset by half a gap.
    share = plan.per_process()
    arrivals = 0
    for index in range(2):
        schedule = share.arrival_schedule(process_seed(4, index), phase=index / 2)
        while schedule.next_ns() >= 0:
            arrivals += 1
    ops = report.operations
    assert sum(op.count + op.skipped + op.unstarted + op.cancelled for op in ops) == arrivals
    for op in ops:
        assert op.service_latency_ms is not None
        assert _histogram_count(op.service_histogram) == op.commits
    data = report_to_dict(report)
    assert data["config"]["rate_per_s"] == 60
    assert data["load"]["rate_per_s"] == 60
    timeline = data["timeline"]["points"]
    assert sum(p["commits"] for p in timeline) == sum(op.commits for op in ops)
    assert timeline[0]["target_rate_per_s"] == pytest.approx(60.0)


async def test_user_scenarios_run_in_several_processes_with_their_findings_combined(
    sqlite_target: Target,
) -> None:
    report = await run_scenarios(
        TargetOptions(sqlite_target, scale="tiny", pool=PoolOptions(size=2)),
        str(REPO / "examples" / "scenarios.py"),
        LoadPlan(workers=2, transactions_per_worker=6, processes=2),
    )
    assert sum(op.count for op in report.operations) == 24
    lazy = next(op for op in report.operations if op.name == "week_overview_lazy")
    (n_plus_one,) = [f for f in report.findings if f.kind == "n_plus_one"]
    # Both processes saw it; one finding, with their occurrences added up.
    assert n_plus_one.evidence.occurrences == lazy.commits
    assert n_plus_one.message.endswith(f"(in {lazy.commits} of {lazy.commits} calls)")


async def test_stopping_a_multi_process_run_stops_every_process_and_keeps_their_results(
    sqlite_target: Target,
) -> None:
    stop = asyncio.Event()

    def progress(_fraction: float, done: int) -> None:
        if done >= 20:
            stop.set()

    report = await run_repo(
        TargetOptions(sqlite_target, scale="tiny", pool=PoolOptions(size=2)),
        LoadPlan(workers=2, duration_s=60, processes=2),
        only=("movement_get",),
        stop=stop,
        hooks=ProbeHooks(on_progress=progress),
    )
    assert report.run.interrupted
    (op,) = report.operations
    assert op.count >= 20
    parts = report_to_dict(report)["load"]["parts"]
    assert op.count == sum(p["operations"]["movement_get"]["count"] for p in parts)
