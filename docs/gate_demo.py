"""The baseline / compare / report / history / suite workflow, through the library functions.

Each step prints the ``dbprobe`` command it stands for and makes the calls
that command makes, so the README's examples can be checked before the CLI
wiring exists. Usage::

    python docs/gate_demo.py [--db URL] [--out DIR] [--slow]

``--slow`` injects a real slowdown (an extra ``pg_sleep(0.005)`` on
PostgreSQL, a busy-looping CTE on SQLite) into ``read_program`` for the
second run, so the gate has something to find.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import text

from dbprobe.database.engine import PoolOptions
from dbprobe.database.url import Backend, resolve_target
from dbprobe.gate.compare import compare_reports, exit_status
from dbprobe.gate.store import HistoryStore
from dbprobe.gate.thresholds import Level, Metric
from dbprobe.gate.trend import history
from dbprobe.load.harness import TargetOptions
from dbprobe.load.plan import LoadPlan
from dbprobe.probes import uow
from dbprobe.probes.uow import run_uow
from dbprobe.report.exports import custom_smaller_is_better, pytest_benchmark_json, write_export
from dbprobe.report.render import Format, render_report_file
from dbprobe.result.jsonio import read_report, write_report
from dbprobe.suite import SuiteSettings, judge_suite, run_suite, write_suite


def say(command: str) -> None:
    print(f"\n$ {command}")  # noqa: T201 - a demo script prints


def slow_down_read_program(backend: Backend) -> None:
    """Make uow's read_program issue one slow statement more (the demo's "regression")."""
    original = uow.build_operations

    def build(options: uow.UowOptions, world: uow.UowWorld) -> Any:
        ops = original(options, world)
        patched = []
        for op in ops:
            if op.name != "read_program":
                patched.append(op)
                continue

            async def run(ctx: Any, inner: Any = op.run) -> None:
                await inner(ctx)
                async with ctx.unit_of_work(write=False) as work:
                    if backend is Backend.POSTGRESQL:
                        await work.session.execute(text("SELECT pg_sleep(0.005)"))
                    else:
                        await work.session.execute(text(
                            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
                            "WHERE x < 6000) SELECT count(*) FROM c"))  # fmt: skip
                    await work.commit()

            patched.append(type(op)(op.name, op.weight, run))
        return patched

    uow.build_operations = build  # type: ignore[assignment]


async def main(db: str | None, out: Path, slow: bool) -> int:
    store = HistoryStore(out / "history.sqlite3")
    target = resolve_target(db or f"sqlite+aiosqlite:///{out / 'demo.sqlite3'}")
    options = TargetOptions(target, scale="tiny", pool=PoolOptions(size=4))
    probe = uow.UowOptions(plan=LoadPlan(4, None, 3.0, 0.5))

    say("dbprobe uow --scale tiny --threads 4 --duration 3 --json base.json --record")
    base = await run_uow(options, probe)
    write_report(base, out / "base.json")
    store.record(base, label="v1")
    say("dbprobe baseline save main base.json")
    info = store.save_baseline("main", read_report(out / "base.json"))
    print(f"saved baseline {info.name}: {info.probe} on {info.backend}, scale {info.scale}")  # noqa: T201
    say("dbprobe baseline list")
    for b in store.baselines():
        print(f"{b.name:<10} {b.probe:<5} {b.backend:<10} {b.scale:<6} {b.host:<16} {b.saved_at}")  # noqa: T201

    if slow:
        slow_down_read_program(target.backend)
    say("dbprobe uow --scale tiny --threads 4 --duration 3 --json run.json --record")
    run = await run_uow(options, probe)
    write_report(run, out / "run.json")
    store.record(run, label="v2")

    say("dbprobe compare run.json --baseline main --fail-on minor")
    comparison = compare_reports(store.baseline("main"), read_report(out / "run.json"),
                                 baseline_label="main")  # fmt: skip
    for warning in comparison.warnings:
        print(f"warning: {warning}")  # noqa: T201
    for result in comparison.results:
        print(result.describe())  # noqa: T201
    status = exit_status(comparison, Level.MINOR)
    print(f"exit status {status}")  # noqa: T201

    say("dbprobe report run.json --baseline main --markdown run.md --html run.html")
    (out / "run.md").write_text(
        render_report_file(out / "run.json", fmt=Format.MARKDOWN, baseline="main", store=store),
        encoding="utf-8",
    )
    (out / "run.html").write_text(
        render_report_file(out / "run.json", baseline="main", store=store, with_history=True),
        encoding="utf-8",
    )
    say("dbprobe report run.json --pytest-benchmark pytest.json --github-benchmark custom.json")
    write_export(out / "pytest.json", pytest_benchmark_json([run]))
    write_export(out / "custom.json", custom_smaller_is_better([run], metric=Metric.P50))

    say("dbprobe history uow read_program")
    trend = history(store, "uow", "read_program")
    for point in trend.points:
        print(f"run {point.run_id} {point.label}: p50 {point.value:.3f} ms (n={point.count})")  # noqa: T201
    print(f"{len(trend.steps)} step change(s) (needs {2 * trend.window} runs or more)")  # noqa: T201

    say("dbprobe suite --scale tiny --threads 4 --duration 2 --out suite/ --baseline main")
    reports = await run_suite(options, SuiteSettings(threads=4, duration_s=2.0, warmup_s=0.5,
                                                     repo_transactions=20))  # fmt: skip
    for report in reports:  # the suite's baselines are NAME/<probe>
        store.save_baseline(f"main/{report.run.probe}", report)
    files = write_suite(judge_suite(reports, store=store, baseline="main").views, out / "suite")
    written = (*files.reports, files.markdown, files.html, files.pytest_benchmark, files.custom)
    print("wrote " + ", ".join(str(p.relative_to(out)) for p in written if p))  # noqa: T201
    return status


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database URL (default: an SQLite file in --out)")
    parser.add_argument("--out", type=Path, default=Path("demo-out"))
    parser.add_argument("--slow", action="store_true", help="slow read_program down in run 2")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    sys.exit(asyncio.run(main(args.db, args.out, args.slow)))
