"""dbprobe never writes into somebody's database uninvited, and cleans up exactly its own."""

from __future__ import annotations

import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

import pytest

from dbprobe.database.url import Target
from tests.cli import run_dbprobe


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return run_dbprobe(args, tmp_path)


def _tables(path: Path) -> set[str]:
    with closing(sqlite3.connect(path)) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_a_file_with_other_tables_is_refused_unless_forced_and_clean_keeps_them(
    tmp_path: Path,
) -> None:
    app = tmp_path / "app.sqlite3"
    with closing(sqlite3.connect(app)) as conn, conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, total INTEGER)")
        conn.execute("INSERT INTO orders VALUES (1, 990)")
    url = f"sqlite:///{app}"
    refused = _run(
        ["uow", "--db", url, "--scale", "tiny", "--transactions", "1", "--quiet"], tmp_path
    )
    assert refused.returncode == 2
    (line,) = refused.stderr.strip().splitlines()
    assert "holds tables of its own (orders)" in line
    assert "--force" in line
    assert _tables(app) == {"orders"}

    forced = _run(["seed", "--db", url, "--scale", "tiny", "--force"], tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert {"orders", "users", "programs", "dbprobe_seed_state"} <= _tables(app)

    cleaned = _run(["clean", "--db", url], tmp_path)
    assert cleaned.returncode == 0, cleaned.stderr
    assert _tables(app) == {"orders"}
    with closing(sqlite3.connect(app)) as conn:
        assert conn.execute("SELECT total FROM orders").fetchall() == [(990,)]


def test_clean_removes_the_default_file_it_created(tmp_path: Path) -> None:
    assert _run(["seed", "--scale", "tiny"], tmp_path).returncode == 0
    default = tmp_path / "data" / "dbprobe.sqlite3"
    assert default.exists()
    cleaned = _run(["clean"], tmp_path)
    assert cleaned.returncode == 0
    assert not default.exists()


@pytest.fixture
def scratch_pg(pg_target: Target) -> str:
    """A database of this test's own, so dropping dbprobe's schema disturbs no other test."""
    import asyncio

    import asyncpg

    admin = pg_target.url.set(drivername="postgresql", database="postgres")

    async def recreate() -> None:
        conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
        try:
            await conn.execute("DROP DATABASE IF EXISTS dbprobe_clean_test")
            await conn.execute("CREATE DATABASE dbprobe_clean_test")
        finally:
            await conn.close()

    asyncio.run(recreate())
    return pg_target.url.set(database="dbprobe_clean_test").render_as_string(hide_password=False)


def test_clean_on_postgresql_drops_dbprobes_tables_and_schema(
    scratch_pg: str, tmp_path: Path
) -> None:
    assert _run(["seed", "--db", scratch_pg, "--scale", "tiny"], tmp_path).returncode == 0
    cleaned = _run(["clean", "--db", scratch_pg], tmp_path)
    assert cleaned.returncode == 0, cleaned.stderr
    assert "dbprobe_seed_state" in cleaned.stdout
    assert "and the dbprobe schema" in cleaned.stdout
