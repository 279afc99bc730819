"""The pytest plugin, tested on generated suites run by pytester in a subprocess."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

FIXTURES_SUITE = """
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

import dbprobe
from dbprobe.domain import Movement

{header}

{mark}
async def test_engine_has_the_reference_schema(dbprobe_engine):
    async with dbprobe_engine.connect() as conn:
        n = (await conn.execute(select(func.count()).select_from(Movement))).scalar_one()
    assert n >= 0

{mark}
async def test_seeded_holds_the_tiny_scale(dbprobe_seeded):
    async with dbprobe_seeded.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Movement))).scalar_one() == 48

{mark}
async def test_session_writes_1(dbprobe_session):
    dbprobe_session.add(Movement(id=99999, name="temp", pattern="core", primary_muscle="abs",
        primary_region="core", skill_level=1, cns_load=1, is_compound=False, is_active=True))
    await dbprobe_session.commit()
    assert await dbprobe_session.get(Movement, 99999) is not None

{mark}
async def test_session_writes_2_were_rolled_back(dbprobe_session):
    assert await dbprobe_session.get(Movement, 99999) is None

{mark}
async def test_queries_counts_the_tests_statements(dbprobe_session, dbprobe_queries):
    await dbprobe_session.execute(select(Movement).limit(3))
    await dbprobe_session.execute(select(Movement).limit(4))
    assert dbprobe_queries.count == 2

{mark}
async def test_bench_times_a_query(dbprobe_bench, dbprobe_seeded):
    async def get_movement():
        async with AsyncSession(dbprobe_seeded) as session:
            await session.get(Movement, 1)
    stats = await dbprobe_bench(get_movement, rounds=20, warmup=2)
    assert stats.rounds == 20
    assert stats.latency.count == 20
    assert 0 < stats.p50_ms <= stats.p95_ms <= stats.p99_ms
    assert stats.statements_max == 1

{mark}
async def test_assert_max_queries(dbprobe_session):
    async with dbprobe.assert_max_queries(1):
        await dbprobe_session.execute(select(Movement).limit(1))
"""

# Inner runs: no cache, and the fixture loop scope set (unset, pytest-asyncio warns).
BASE = ("-p", "no:cacheprovider", "-o", "asyncio_default_fixture_loop_scope=function")
STRICT = ("pytestmark = pytest.mark.asyncio", "")
AUTO = ("", "")
ANYIO = ('@pytest.fixture\ndef anyio_backend():\n    return "asyncio"', "@pytest.mark.anyio")


def _suite(header: str, mark: str) -> str:
    return FIXTURES_SUITE.format(header=header, mark=mark)


@pytest.mark.parametrize(
    ("mode", "header", "mark", "args"),
    [
        ("strict", *STRICT, ["-o", "asyncio_mode=strict"]),
        ("auto", *AUTO, ["-o", "asyncio_mode=auto"]),
        ("anyio", *ANYIO, ["-o", "asyncio_mode=strict"]),
    ],
)
def test_every_fixture_works_under_each_async_framework(
    db_url: str, pytester: pytest.Pytester, mode: str, header: str, mark: str, args: list[str]
) -> None:
    pytester.makepyfile(test_suite=_suite(header, mark))
    result = pytester.runpytest_subprocess(*BASE, "-W", "error", "--dbprobe-db", db_url, *args)
    result.assert_outcomes(passed=7)


def test_a_suite_in_two_xdist_workers_prepares_one_fresh_database_once(
    db_url: str, pytester: pytest.Pytester
) -> None:
    # Both workers create the schema and seed at session start; one at a time.
    pytester.makepyfile(test_suite=_suite(*STRICT))
    result = pytester.runpytest_subprocess(
        *BASE, "-n", "2", "-o", "asyncio_mode=strict", "--dbprobe-db", db_url
    )
    result.assert_outcomes(passed=7)


def test_benchmark_table_in_the_terminal_summary_and_json_report(
    db_url: str, pytester: pytest.Pytester
) -> None:
    pytester.makepyfile(
        test_bench="""
import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from dbprobe.domain import Movement

pytestmark = pytest.mark.asyncio

async def test_get_movement(dbprobe_bench, dbprobe_seeded):
    async def get_movement():
        async with AsyncSession(dbprobe_seeded) as session:
            await session.get(Movement, 2)
    await dbprobe_bench(get_movement, rounds=30, warmup=3)
"""
    )
    report = pytester.path / "bench.json"
    result = pytester.runpytest_subprocess(
        *BASE, "--dbprobe-db", db_url, "--dbprobe-json", str(report)
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*dbprobe benchmarks (ms)*",
            "benchmark*rounds*min*p50*p95*p99*max*mean*stmts*",
            "test_bench.py::test_get_movement*30*",
        ]
    )
    data = json.loads(report.read_text())
    assert data["schema"] == "dbprobe.report/1"
    assert data["run"]["probe"] == "pytest"
    (op,) = data["operations"]
    assert op["name"] == "test_bench.py::test_get_movement"
    assert op["count"] == op["latency_ms"]["count"] == 30
    assert op["queries"]["per_op_max"] == 1


def test_n_plus_one_fails_the_test_naming_the_relationship(
    db_url: str, pytester: pytest.Pytester
) -> None:
    pytester.makepyfile(
        test_nplusone="""
import pytest
from sqlalchemy import select
import dbprobe
from dbprobe.domain import Program

pytestmark = pytest.mark.asyncio

async def test_weeks_of_a_program(dbprobe_session):
    program = (await dbprobe_session.scalars(select(Program).where(Program.id == 1))).one()
    async with dbprobe.assert_no_n_plus_one():
        for week in await program.awaitable_attrs.microcycles:
            await week.awaitable_attrs.sessions
"""
    )
    result = pytester.runpytest_subprocess(*BASE, "--dbprobe-db", db_url)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*NPlusOneError*N+1: Microcycle.sessions (collection) lazy-loaded * times*",
            "*.options(selectinload(Microcycle.sessions))*",
        ]
    )


def test_bench_times_the_coroutine_not_loop_start_up(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_noop="""
import pytest

pytestmark = pytest.mark.asyncio

async def test_noop(dbprobe_bench):
    async def nothing():
        return None
    stats = await dbprobe_bench(nothing, rounds=200, warmup=10)
    print(f"NOOP_P50_MS={stats.p50_ms}")
"""
    )
    result = pytester.runpytest_subprocess(*BASE, "-s")
    result.assert_outcomes(passed=1)
    (p50_ms,) = [float(m[1]) for m in re.finditer(r"NOOP_P50_MS=([0-9.e-]+)", result.stdout.str())]
    # asyncio.run() per call, which pytest-benchmark users fall back to, starts
    # an event loop each time (hundreds of µs); an await of a no-op inside the
    # running loop is a microsecond or so. This bounds what is measured.
    assert p50_ms < 0.05


def test_disable_runs_each_benchmark_once_untimed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_disabled="""
import pytest

pytestmark = pytest.mark.asyncio
CALLS = []

async def test_counted(dbprobe_bench):
    async def work():
        CALLS.append(1)
    stats = await dbprobe_bench(work, rounds=50, warmup=5)
    assert len(CALLS) == 1
    assert stats.timed is False
"""
    )
    result = pytester.runpytest_subprocess(*BASE, "--dbprobe-disable")
    result.assert_outcomes(passed=1)
    assert "dbprobe benchmarks" not in result.stdout.str()


def test_options_are_read_from_the_ini_file(db_url: str, pytester: pytest.Pytester) -> None:
    pytester.makeini(
        f"[pytest]\ndbprobe_db = {db_url}\ndbprobe_scale = tiny\nasyncio_mode = auto\n"
        "asyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makepyfile(
        test_ini='''
from sqlalchemy import func, select
from dbprobe.domain import Program

async def test_seeded(dbprobe_seeded):
    async with dbprobe_seeded.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Program))).scalar_one() >= 6
    assert dbprobe_seeded.url.get_backend_name() == "'''
        + db_url.split("+")[0].split(":")[0]
        + """"
"""
    )
    result = pytester.runpytest_subprocess(*BASE)
    result.assert_outcomes(passed=1)


def test_bad_scale_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("--dbprobe-scale", "huge")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--dbprobe-scale 'huge': choose one of tiny, small, medium, large*"]
    )


def test_example_performance_suite_passes_with_its_statement_budgets(
    db_url: str, pytester: pytest.Pytester
) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "performance"
    report = pytester.path / "perf.json"
    # The example lives in this repository, so its run reads our pyproject.toml:
    # one process, as a user's suite would run, not our two workers sharing a file.
    result = pytester.runpytest_subprocess(
        *BASE, "-n", "0", str(example), "--dbprobe-db", db_url, "--dbprobe-json", str(report)
    )
    result.assert_outcomes(passed=11)
    data = json.loads(report.read_text())
    assert len(data["operations"]) == 11
    assert data["findings"] == []
    budgets = {op["name"].split("::")[1]: op["queries"]["per_op_max"] for op in data["operations"]}
    assert budgets["test_single_movement"] == 1
    assert budgets["test_program_read_has_no_n_plus_one"] == 4


GATE_SUITE = """
import asyncio
import os
import pytest

pytestmark = pytest.mark.asyncio
EXTRA_S = float(os.environ.get("SLOWDOWN_S", "0"))


@pytest.mark.parametrize("base_ms", [2, 3, 4])
async def test_step(dbprobe_bench, base_ms):
    async def step():
        await asyncio.sleep(base_ms / 1000 + (EXTRA_S if base_ms == 3 else 0))
    await dbprobe_bench(step, rounds=60, warmup=2)
"""


def test_compare_fails_the_session_on_an_injected_slowdown_and_passes_without(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DBPROBE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DBPROBE_HISTORY", raising=False)
    pytester.makepyfile(test_gate=GATE_SUITE)
    saved = pytester.runpytest_subprocess(*BASE, "--dbprobe-save", "base")
    saved.assert_outcomes(passed=3)
    saved.stdout.fnmatch_lines(["*saved the session's benchmarks as baseline 'base'*"])

    monkeypatch.setenv("SLOWDOWN_S", "0.01")  # step[3] takes 13 ms instead of 3
    slowed = pytester.runpytest_subprocess(*BASE, "--dbprobe-compare", "base")
    assert slowed.ret == pytest.ExitCode.TESTS_FAILED
    slowed.stdout.fnmatch_lines(
        [
            "*test_gate.py::test_step[[]3[]]* p50 *regressed (critical)*",
            "*regression at or above minor: session failed*",
        ]
    )
    assert "test_step[2]" not in "".join(
        line for line in slowed.stdout.lines if "regressed" in line
    )

    monkeypatch.setenv("SLOWDOWN_S", "0")
    same = pytester.runpytest_subprocess(*BASE, "--dbprobe-compare", "base")
    assert same.ret == pytest.ExitCode.OK
    # No false alarm; "unchanged" where the rounds could have seen 10 %, else
    # "insufficient data" (a loaded machine spreads 2-4 ms sleeps widely).
    same.stdout.fnmatch_lines(["*against baseline 'base': no regression, *"])
