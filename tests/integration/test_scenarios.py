"""User scenario files under load, on real databases: the example, N+1 in user code, hooks."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import inspect

from dbprobe.database.engine import PoolOptions, open_database
from dbprobe.database.url import Backend, Target
from dbprobe.errors import UsageError
from dbprobe.gate.slo import parse_slo
from dbprobe.load.harness import TargetOptions
from dbprobe.load.plan import LoadPlan
from dbprobe.probes.scenarios.probe import run_scenarios
from dbprobe.result.config import ScenariosConfig
from dbprobe.result.findings import Severity
from dbprobe.result.jsonio import report_to_dict

pytestmark = pytest.mark.asyncio

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "scenarios.py"


def _line_of(path: Path, marker: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(i for i, line in enumerate(lines, 1) if marker in line)


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "my_scenarios.py"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


async def _tables(target: Target) -> set[str]:
    db = await open_database(target, PoolOptions(size=1))
    try:
        async with db.engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await db.dispose()


async def test_the_example_scenarios_run_and_their_n_plus_one_points_at_the_example(
    target: Target,
) -> None:
    options = TargetOptions(target, scale="tiny", pool=PoolOptions(size=3))
    report = await run_scenarios(
        options, str(EXAMPLE), LoadPlan(workers=3, transactions_per_worker=8)
    )

    ops = {op.name: op for op in report.operations}
    assert set(ops) == {"browse_movements", "view_program", "week_overview_lazy"}
    assert sum(op.count for op in ops.values()) == 24
    assert all(op.errors == 0 for op in ops.values())
    assert ops["browse_movements"].queries.per_op_max == 1
    assert ops["view_program"].queries.per_op_max == 4  # three SELECTs and the INSERT
    assert report.run.probe == "run"
    assert report.target.scale == "tiny"  # REFERENCE_DOMAIN = True: seeded first
    assert isinstance(report.config.probe, ScenariosConfig)
    assert report.config.probe.weights == {
        "browse_movements": 3,
        "view_program": 2,
        "week_overview_lazy": 1,
    }
    (n_plus_one,) = [f for f in report.findings if f.kind == "n_plus_one"]
    assert n_plus_one.operation == "week_overview_lazy"
    assert n_plus_one.evidence.relationship == "Microcycle.sessions"
    line = _line_of(EXAMPLE, "# one SELECT per week: the N+1")
    assert n_plus_one.evidence.location == f"{EXAMPLE}:{line}"
    assert n_plus_one.evidence.occurrences == ops["week_overview_lazy"].commits
    # teardown() dropped the example's own table again.
    assert "example_program_views" not in await _tables(target)


async def test_the_example_runs_as_a_script_through_the_api() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(EXAMPLE),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=REPO / "examples",
        env={"PATH": "/usr/bin:/bin", "COLUMNS": "160"},
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 100)
    assert proc.returncode == 0, stderr.decode()
    out = stdout.decode()
    assert "dbprobe run on sqlite+aiosqlite:" in out
    assert "week_overview_lazy" in out
    assert "N+1: Microcycle.sessions (collection)" in out
    assert f"scenarios.py:{_line_of(EXAMPLE, '# one SELECT per week: the N+1')}" in out


N_PLUS_ONE = """
    from sqlalchemy import select
    from dbprobe.domain import Microcycle, Program
    from dbprobe.scenarios import scenario

    REFERENCE_DOMAIN = True

    @scenario
    async def weeks_one_by_one(ctx):
        async with ctx.session_factory() as session:
            ids = (await session.scalars(select(Program.id).order_by(Program.id).limit(4))).all()
            for program_id in ids:
                await session.execute(select(Microcycle).where(Microcycle.program_id == program_id))  # HERE
"""


async def test_an_n_plus_one_in_a_user_scenario_names_the_users_file_and_line(
    target: Target, tmp_path: Path
) -> None:
    path = _write(tmp_path, N_PLUS_ONE)
    report = await run_scenarios(
        TargetOptions(target, scale="tiny", pool=PoolOptions(size=2)),
        str(path),
        LoadPlan(workers=2, transactions_per_worker=3),
    )
    (op,) = report.operations
    assert (op.name, op.commits, op.queries.per_op_max) == ("weeks_one_by_one", 6, 5)
    (finding,) = [f for f in report.findings if f.kind == "n_plus_one"]
    where = f"{path}:{_line_of(path, '# HERE')}"
    assert finding.evidence.location == where
    assert f"ran 4 times with 4 different parameter sets in one weeks_one_by_one at {where}" in (
        finding.message
    )
    assert finding.evidence.occurrences == 6


HOOKS = """
    from pathlib import Path
    from sqlalchemy import Column, Integer, MetaData, Table, func, insert, select
    from dbprobe.scenarios import scenario

    metadata = MetaData()
    events = Table("scenario_events", metadata, Column("id", Integer, primary_key=True),
                   Column("worker", Integer, nullable=False))

    async def setup(engine):
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)

    async def teardown(engine):
        async with engine.begin() as conn:
            rows = (await conn.execute(select(func.count()).select_from(events))).scalar_one()
            await conn.run_sync(metadata.drop_all)
        Path({out!r}).write_text(str(rows))

    @scenario(weight=2)
    async def record(ctx):
        async with ctx.write_session_factory() as session, session.begin():
            await session.execute(insert(events).values(worker=ctx.worker))

    @scenario
    async def fail_sometimes(ctx):
        if ctx.rng.random() < 0.5:
            raise ValueError("not today")
"""


async def test_setup_and_teardown_frame_the_load_and_errors_meet_the_objectives(
    target: Target, tmp_path: Path
) -> None:
    out = tmp_path / "rows.txt"
    path = _write(tmp_path, HOOKS.format(out=str(out)))
    report = await run_scenarios(
        TargetOptions(target, pool=PoolOptions(size=3)),
        str(path),
        LoadPlan(workers=3, transactions_per_worker=10),
        slos=[parse_slo("error_rate<1%")],
    )
    ops = {op.name: op for op in report.operations}
    # Every committed `record` call is one row that teardown() counted before dropping it.
    assert int(out.read_text()) == ops["record"].commits > 0
    assert "scenario_events" not in await _tables(target)
    assert ops["fail_sometimes"].errors > 0
    assert ops["fail_sometimes"].error_classes == {"other": ops["fail_sometimes"].errors}
    assert ops["fail_sometimes"].error_samples["other"][0] == "ValueError: not today"
    violations = [f for f in report.findings if f.kind == "slo_violation"]
    assert [f.operation for f in violations] == ["fail_sometimes"]
    # No REFERENCE_DOMAIN: nothing was seeded.
    assert (report.target.scale, report.config.seed_checksum) == ("none", "")
    assert isinstance(report.config.probe, ScenariosConfig)
    assert report.config.probe.engine == "dbprobe"


async def test_a_scenario_file_may_build_its_own_engine(target: Target, tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
        from sqlalchemy import text
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.pool import AsyncAdaptedQueuePool
        from dbprobe.scenarios import scenario

        def make_engine(url):
            # A pool named, as SQLAlchemy before 2.0.38 gave SQLite files none.
            return create_async_engine(
                url, poolclass=AsyncAdaptedQueuePool, pool_size=2, max_overflow=0
            )

        @scenario
        async def where_am_i(ctx):
            async with ctx.engine.connect() as conn:
                await conn.execute(text("select 1"))
        """,
    )
    report = await run_scenarios(
        TargetOptions(target), str(path), LoadPlan(workers=2, transactions_per_worker=4)
    )
    (op,) = report.operations
    assert (op.commits, op.errors) == (8, 0)
    assert isinstance(report.config.probe, ScenariosConfig)
    assert report.config.probe.engine == "make_engine"
    expected = "serializable" if target.backend is Backend.SQLITE else "read_committed"
    assert report.target.isolation == expected


async def test_a_failing_setup_is_a_usage_error_and_a_failing_teardown_an_error_finding(
    sqlite_target: Target, tmp_path: Path
) -> None:
    body = """
        from dbprobe.scenarios import scenario

        async def {hook}(engine):
            raise RuntimeError("cannot prepare")

        @scenario
        async def nothing(ctx):
            pass
        """
    setup = _write(tmp_path, body.format(hook="setup"))
    with pytest.raises(UsageError) as err:
        await run_scenarios(TargetOptions(sqlite_target), str(setup), LoadPlan(1, 1))
    assert str(err.value) == (
        f"setup() in {setup} failed at {setup}:5: RuntimeError: cannot prepare"
    )

    teardown = tmp_path / "teardown_scenarios.py"
    teardown.write_text(textwrap.dedent(body.format(hook="teardown")), encoding="utf-8")
    report = await run_scenarios(TargetOptions(sqlite_target), str(teardown), LoadPlan(1, 2))
    assert report.operations[0].commits == 2
    (finding,) = [f for f in report.findings if f.kind == "teardown_failed"]
    assert finding.severity is Severity.ERROR
    assert "RuntimeError: cannot prepare" in finding.message


async def test_a_generator_busy_with_its_own_work_is_reported_as_saturated(
    sqlite_target: Target, tmp_path: Path
) -> None:
    # A scenario that holds the event loop 20 ms a call, then awaits as any
    # I/O would (a blocking sleep: the same 20 ms on a fast machine, a slow one
    # or a busy one): every task, workers included, waits for the loop, so the
    # client sets the pace.
    path = _write(
        tmp_path,
        """
        import asyncio
        import time
        from dbprobe.scenarios import scenario

        @scenario
        async def hold_the_loop(ctx):
            time.sleep(0.02)
            await asyncio.sleep(0)
        """,
    )
    report = await run_scenarios(
        TargetOptions(sqlite_target), str(path), LoadPlan(workers=2, duration_s=1)
    )
    (finding,) = [f for f in report.findings if f.kind == "generator_saturated"]
    assert finding.severity is Severity.WARNING
    assert finding.evidence.loop_lag_p50_ms >= 5.0
    assert "ran timers" in finding.message
    assert "--processes" in finding.message
    data = report_to_dict(report)
    assert data["load"]["generator"]["saturated"] is True
    assert data["load"]["generator"]["loop_lag_p50_ms"] >= 5.0
