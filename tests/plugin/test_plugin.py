"""The pytest plugin, tested on generated suites, each run as a pytest process of its own."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.plugin import runpytest

FIXTURES_SUITE = """
import pytest
from sqlalchemy import String, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import dbprobe
from dbprobe.domain import Movement


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "plugin_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(50))

{header}

{mark}
async def test_engine_is_for_the_users_tables(dbprobe_engine):
    # The user's create_all lands in the database's default schema; on
    # PostgreSQL none of dbprobe's tables are there (they live in the schema
    # dbprobe); DDL rolled back, so the database stays clean.
    async with dbprobe_engine.connect() as conn:
        transaction = await conn.begin()
        await conn.run_sync(Base.metadata.create_all)
        names = await conn.run_sync(lambda c: inspect(c).get_table_names())
        schema = await conn.run_sync(lambda c: inspect(c).default_schema_name)
        await transaction.rollback()
    assert "plugin_notes" in names
    assert schema in ("main", "public")
    if dbprobe_engine.dialect.name == "postgresql":
        assert "movements" not in names

{mark}
async def test_seeded_holds_the_tiny_scale(dbprobe_seeded):
    async with dbprobe_seeded.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(Movement))).scalar_one() == 48

{mark}
async def test_session_writes_1(dbprobe_seeded_session):
    dbprobe_seeded_session.add(Movement(id=99999, name="temp", pattern="core",
        primary_muscle="abs", primary_region="core", skill_level=1, cns_load=1,
        is_compound=False, is_active=True))
    await dbprobe_seeded_session.commit()
    assert await dbprobe_seeded_session.get(Movement, 99999) is not None

{mark}
async def test_session_writes_2_were_rolled_back(dbprobe_seeded_session):
    assert await dbprobe_seeded_session.get(Movement, 99999) is None

{mark}
async def test_session_is_on_the_engine(dbprobe_session, dbprobe_engine):
    assert dbprobe_session.bind.engine is dbprobe_engine
    await dbprobe_session.run_sync(lambda s: Base.metadata.create_all(s.connection()))
    dbprobe_session.add(Note(id=1, text="kept until the test ends"))
    await dbprobe_session.commit()
    assert (await dbprobe_session.execute(select(func.count()).select_from(Note))).scalar_one() == 1

{mark}
async def test_queries_counts_the_tests_statements(dbprobe_seeded_session, dbprobe_queries):
    await dbprobe_seeded_session.execute(select(Movement).limit(3))
    await dbprobe_seeded_session.execute(select(Movement).limit(4))
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
async def test_assert_max_queries(dbprobe_seeded_session):
    async with dbprobe.assert_max_queries(1):
        await dbprobe_seeded_session.execute(select(Movement).limit(1))
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
    result = runpytest(pytester, *BASE, "-W", "error", "--dbprobe-db", db_url, *args)
    result.assert_outcomes(passed=8)


def test_a_suite_in_two_xdist_workers_prepares_one_fresh_database_once(
    db_url: str, pytester: pytest.Pytester
) -> None:
    # Both workers create the schema and seed at session start; one at a time.
    pytester.makepyfile(test_suite=_suite(*STRICT))
    result = runpytest(
        pytester, *BASE, "-n", "2", "-o", "asyncio_mode=strict", "--dbprobe-db", db_url
    )
    result.assert_outcomes(passed=8)


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
    result = runpytest(pytester, *BASE, "--dbprobe-db", db_url, "--dbprobe-json", str(report))
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

async def test_weeks_of_a_program(dbprobe_seeded_session):
    session = dbprobe_seeded_session
    program = (await session.scalars(select(Program).where(Program.id == 1))).one()
    async with dbprobe.assert_no_n_plus_one():
        for week in await program.awaitable_attrs.microcycles:
            await week.awaitable_attrs.sessions
"""
    )
    result = runpytest(pytester, *BASE, "--dbprobe-db", db_url)
    result.assert_outcomes(failed=1)
    # What the failure says, wherever pytest breaks its lines.
    out = " ".join(result.stdout.str().split())
    assert "NPlusOneError" in out
    assert re.search(r"N\+1: Microcycle\.sessions \(collection\) lazy-loaded \d+ times", out)
    assert ".options(selectinload(Program.microcycles).selectinload(Microcycle.sessions))" in out


def test_bench_awaits_every_round_in_the_tests_own_loop(pytester: pytest.Pytester) -> None:
    # asyncio.run() per call, which pytest-benchmark users fall back to, would
    # time an event loop's start-up in every round: here each round is awaited
    # in the loop the test runs on, so only the coroutine is timed.
    pytester.makepyfile(
        test_noop="""
import asyncio
import pytest

pytestmark = pytest.mark.asyncio

async def test_noop(dbprobe_bench):
    loops = []
    async def nothing():
        loops.append(asyncio.get_running_loop())
    stats = await dbprobe_bench(nothing, rounds=200, warmup=10)
    assert len(loops) == 210
    assert set(map(id, loops)) == {id(asyncio.get_running_loop())}
    assert stats.rounds == stats.latency.count == 200
"""
    )
    result = runpytest(pytester, *BASE)
    result.assert_outcomes(passed=1)


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
    result = runpytest(pytester, *BASE, "--dbprobe-disable")
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
    result = runpytest(pytester, *BASE)
    result.assert_outcomes(passed=1)


def test_bad_scale_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_x="def test_x():\n    pass\n")
    result = runpytest(pytester, "--dbprobe-scale", "huge")
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
    result = runpytest(
        pytester,
        *BASE,
        "-n",
        "0",
        str(example),
        "--dbprobe-db",
        db_url,
        "--dbprobe-json",
        str(report),
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
EXTRA_MS = float(os.environ.get("SLOWDOWN_MS", "0"))


class Clock:
    # The benchmark's clock, injected: each reading moves it on by 1 us (the CPU
    # reference reads it too, and stays the same), and a step spends exactly
    # the milliseconds it is given. The verdicts then rest on what the steps
    # cost, not on how busy the machine running this test is.
    def __init__(self):
        self.ns = 0

    def __call__(self):
        self.ns += 1_000
        return self.ns

    def spend(self, ms):
        self.ns += int(ms * 1_000_000)


@pytest.mark.parametrize("base_ms", [2, 3, 4])
async def test_step(dbprobe_bench, base_ms):
    clock = Clock()
    calls = []

    async def step():
        calls.append(1)
        jitter_ms = (len(calls) % 5) * 0.1
        clock.spend(base_ms + jitter_ms + (EXTRA_MS if base_ms == 3 else 0))
        await asyncio.sleep(0)

    await dbprobe_bench(step, rounds=60, warmup=2, clock_ns=clock)
"""


def test_compare_fails_the_session_on_an_injected_slowdown_and_passes_without(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DBPROBE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("DBPROBE_HISTORY", raising=False)
    pytester.makepyfile(test_gate=GATE_SUITE)
    saved = runpytest(pytester, *BASE, "--dbprobe-save", "base")
    saved.assert_outcomes(passed=3)
    saved.stdout.fnmatch_lines(["*saved the session's benchmarks as baseline 'base'*"])

    monkeypatch.setenv("SLOWDOWN_MS", "10")  # step[3] takes 13 ms instead of 3
    slowed = runpytest(pytester, *BASE, "--dbprobe-compare", "base")
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

    monkeypatch.setenv("SLOWDOWN_MS", "0")
    same = runpytest(pytester, *BASE, "--dbprobe-compare", "base")
    assert same.ret == pytest.ExitCode.OK
    # No false alarm, and with the clock injected the rounds are enough to say so.
    same.stdout.fnmatch_lines(["*against baseline 'base': no regression, 3 unchanged*"])


def test_without_a_url_the_fixtures_use_a_temporary_database_of_the_session(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Never the CLI's data directory: tests and `python -m dbprobe` share no state.
    data = tmp_path / "data"
    monkeypatch.setenv("DBPROBE_DATA_DIR", str(data))
    monkeypatch.delenv("DBPROBE_DB_URL", raising=False)
    pytester.makepyfile(
        test_default="""
import pytest
from sqlalchemy import inspect

pytestmark = pytest.mark.asyncio

async def test_engine(dbprobe_engine, tmp_path_factory):
    path = dbprobe_engine.url.database
    assert path.startswith(str(tmp_path_factory.getbasetemp()))
    async with dbprobe_engine.connect() as conn:
        # Nothing seeded: no test asked for dbprobe_seeded.
        assert await conn.run_sync(lambda c: inspect(c).get_table_names()) == []
"""
    )
    result = runpytest(pytester, *BASE)
    result.assert_outcomes(passed=1)
    assert not data.exists()
