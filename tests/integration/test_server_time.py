"""Server time apart from client time, from pg_stat_statements (issue 21).

pg_stat_statements must be loaded at server start, which the shared test
server is not (and must not be restarted for it): the test makes a
PostgreSQL cluster of its own on a free port, with the extension preloaded,
and drops it afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from dbprobe.database.url import Target, resolve_target
from dbprobe.instrument.server_time import ENABLE
from dbprobe.load.harness import TargetOptions
from dbprobe.load.plan import LoadPlan
from dbprobe.probes.scenarios.probe import run_scenarios

pytestmark = pytest.mark.asyncio

SLEEP_S = 0.02
SCENARIOS = f"""
from sqlalchemy import text
from dbprobe import scenario

@scenario
async def sleep_on_the_server(ctx):
    async with ctx.session_factory() as session:
        await session.execute(text("SELECT pg_sleep(:s)"), {{"s": {SLEEP_S}}})
"""


def _bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for directory in versions:
        if (directory / name).exists():
            return str(directory / name)
    pytest.fail(f"{name} not found: PostgreSQL's server binaries are needed")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def pss_server() -> Iterator[str]:
    """A cluster of this module's own with pg_stat_statements loaded; its URL."""
    root = os.geteuid() == 0
    # initdb refuses to run as root: there, the server's own user runs it.
    as_owner = ["runuser", "-u", "postgres", "--"] if root else []
    base = Path(tempfile.mkdtemp(prefix="dbprobe-pss-"))
    data = base / "data"
    if root:
        shutil.chown(base, "postgres")
    port = _free_port()
    run = [*as_owner, _bin("pg_ctl"), "-D", str(data), "-w"]
    subprocess.run(
        [*as_owner, _bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"],
        check=True,
        capture_output=True,
    )
    options = (
        f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={base} "
        "-c shared_preload_libraries=pg_stat_statements -c fsync=off"
    )
    subprocess.run([*run, "-o", options, "-l", str(base / "log"), "start"], check=True,
                   capture_output=True)  # fmt: skip
    try:
        subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", "postgres",
             "-c", "CREATE DATABASE probe", "-c", "\\c probe",
             "-c", "CREATE EXTENSION pg_stat_statements"],
            check=True, capture_output=True,
        )  # fmt: skip
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/probe"
    finally:
        subprocess.run([*run, "-m", "immediate", "stop"], check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


async def _server_figures(url: str, text: str) -> tuple[int, float]:
    """Calls and mean execution time (ms) pg_stat_statements holds for statements like ``text``."""
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            "SELECT sum(calls), sum(total_exec_time) FROM pg_stat_statements "
            "WHERE query LIKE '%' || $1 || '%' AND query NOT LIKE '%pg_stat_statements%'",
            text,
        )
    finally:
        await conn.close()
    assert row is not None
    return int(row[0]), float(row[1]) / int(row[0])


async def _run(url: str, tmp_path: Path) -> object:
    source = tmp_path / "sleep.py"
    source.write_text(SCENARIOS)
    return await run_scenarios(
        TargetOptions(resolve_target(url, {}), scale="tiny"),
        str(source),
        LoadPlan(workers=2, transactions_per_worker=10, warmup_s=0.0),
    )


async def test_the_server_share_of_a_pg_sleep_is_the_sleep(pss_server: str, tmp_path: Path) -> None:
    report = await _run(pss_server, tmp_path)
    (op,) = report.operations  # type: ignore[attr-defined]
    assert op.commits == 20
    assert op.server_ms is not None
    # The operation's one statement is its whole server time: what the server
    # says its executions took, on average (no clock of the test's own: a
    # sleep overshoots on a busy machine, and the server's figure says so).
    calls, mean_ms = await _server_figures(pss_server, "pg_sleep")
    assert calls == 20
    assert op.server_ms == pytest.approx(mean_ms, rel=1e-6)
    assert op.server_ms >= SLEEP_S * 1000  # pg_sleep never ends early
    assert op.latency_ms.mean_ms >= op.server_ms  # the client's share is the rest
    assert report.target.server_time_note is None  # type: ignore[attr-defined]


async def test_without_the_extension_the_report_says_how_to_enable_it(
    pg_target: Target, tmp_path: Path
) -> None:
    # The shared test server has no pg_stat_statements in the test's database.
    report = await _run(pg_target.url.render_as_string(hide_password=False), tmp_path)
    (op,) = report.operations  # type: ignore[attr-defined]
    assert op.server_ms is None
    note = report.target.server_time_note  # type: ignore[attr-defined]
    assert note is not None
    assert note.startswith("pg_stat_statements is not installed in this database; ")
    assert note.endswith(ENABLE)
