"""A user's table with a foreign key into dbprobe's tables keeps every row.

Emptying or dropping a table that another table references reaches that other
table: SQLite's DELETE (and the implicit DELETE of DROP TABLE) runs its ON
DELETE CASCADE / SET NULL actions; PostgreSQL's TRUNCATE ... CASCADE would
empty it. dbprobe looks for such foreign keys first and refuses, even with
``--force``, naming each one.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from contextlib import closing
from pathlib import Path

from dbprobe.database.url import Target
from tests.cli import run_dbprobe

NOTES = 40


def _refused(proc: subprocess.CompletedProcess[str], *named: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "foreign key" in line
    for reference in named:
        assert reference in line
    assert "Traceback" not in proc.stderr


def _sqlite_notes(path: Path, parent: str) -> None:
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, "
            f"owner INTEGER REFERENCES {parent}(id) ON DELETE CASCADE)"
        )
        conn.executemany("INSERT INTO notes VALUES (?, ?)", [(i, 1) for i in range(NOTES)])


def _sqlite_count(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT count(*) FROM notes").fetchone()[0])


def test_sqlite_reseed_clean_and_probes_refuse_a_cascading_user_table_and_keep_its_rows(
    tmp_path: Path,
) -> None:
    app = tmp_path / "app.sqlite3"
    url = f"sqlite:///{app}"
    assert run_dbprobe(["seed", "--db", url, "--scale", "tiny"], tmp_path).returncode == 0
    _sqlite_notes(app, "users")

    for args in (
        ["seed", "--db", url, "--scale", "tiny", "--seed", "2"],
        ["seed", "--db", url, "--scale", "tiny", "--seed", "2", "--force"],
        ["uow", "--db", url, "--scale", "tiny", "--seed", "2", "--transactions", "1", "--quiet"],
        ["clean", "--db", url],
        ["uow", "--db", url, "--scale", "tiny", "--seed", "2", "-t", "1", "--quiet", "--force"],
    ):
        _refused(run_dbprobe(args, tmp_path), "notes.owner -> users")
        assert _sqlite_count(app) == NOTES, args

    # The same seed is already there: nothing is emptied, so the run goes ahead.
    ran = run_dbprobe(
        ["uow", "--db", url, "--scale", "tiny", "--transactions", "1", "--quiet"], tmp_path
    )
    assert ran.returncode == 0, ran.stderr
    assert _sqlite_count(app) == NOTES


def test_sqlite_isolation_probe_refuses_to_reset_a_referenced_probe_table(
    tmp_path: Path,
) -> None:
    app = tmp_path / "app.sqlite3"
    url = f"sqlite:///{app}"
    assert run_dbprobe(["seed", "--db", url, "--scale", "tiny"], tmp_path).returncode == 0
    with closing(sqlite3.connect(app)) as conn, conn:
        conn.execute("CREATE TABLE isolation_test (id int primary key, value int)")
        conn.execute("INSERT INTO isolation_test VALUES (1, 10), (2, 20)")
    _sqlite_notes(app, "isolation_test")
    proc = run_dbprobe(["isolation", "--db", url, "--test", "P4", "--quiet"], tmp_path)
    _refused(proc, "notes.owner -> isolation_test")
    assert _sqlite_count(app) == NOTES


def _pg(url: str, *statements: str, table: str = "public.notes") -> int:
    """Run ``statements`` on ``url``; return the number of rows left in ``table``."""
    import asyncpg

    from dbprobe.database.url import resolve_target

    dsn = resolve_target(url, {}).url.set(drivername="postgresql")

    async def run() -> int:
        conn = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        try:
            for statement in statements:
                await conn.execute(statement)
            return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
        finally:
            await conn.close()

    return asyncio.run(run())


def test_postgresql_reseed_and_clean_never_reach_a_user_table_in_another_schema(
    private_pg: Target, tmp_path: Path
) -> None:
    own_pg = private_pg.url.render_as_string(hide_password=False)
    assert run_dbprobe(["seed", "--db", own_pg, "--scale", "tiny"], tmp_path).returncode == 0
    assert (
        _pg(
            own_pg,
            "CREATE TABLE public.notes (id int PRIMARY KEY, "
            "owner int REFERENCES dbprobe.users(id) ON DELETE CASCADE)",
            f"INSERT INTO public.notes SELECT i, 1 FROM generate_series(1, {NOTES}) i",
        )
        == NOTES
    )
    for args in (
        ["seed", "--db", own_pg, "--scale", "tiny", "--seed", "2"],
        ["seed", "--db", own_pg, "--scale", "tiny", "--seed", "2", "--force"],
        ["clean", "--db", own_pg],
        ["uow", "--db", own_pg, "--scale", "tiny", "--seed", "2", "-t", "1", "--quiet", "--force"],
    ):
        _refused(run_dbprobe(args, tmp_path), "public.notes.owner -> dbprobe.users")
        assert _pg(own_pg) == NOTES, args

    # The isolation probe's table, which it empties before every test.
    _pg(
        own_pg,
        "CREATE TABLE dbprobe.isolation_test (id int PRIMARY KEY, value int)",
        "INSERT INTO dbprobe.isolation_test VALUES (1, 10)",
        "CREATE TABLE public.remarks (id int PRIMARY KEY, "
        "test int REFERENCES dbprobe.isolation_test(id) ON DELETE CASCADE)",
        "INSERT INTO public.remarks VALUES (1, 1)",
    )
    isolation = ["isolation", "--db", own_pg, "--test", "P4", "--quiet"]
    _refused(run_dbprobe(isolation, tmp_path), "public.remarks.test -> dbprobe.isolation_test")
    assert _pg(own_pg, table="public.remarks") == 1


def test_clean_keeps_the_default_file_when_a_user_put_tables_in_it(tmp_path: Path) -> None:
    assert run_dbprobe(["seed", "--scale", "tiny"], tmp_path).returncode == 0
    default = tmp_path / "data" / "dbprobe.sqlite3"
    _sqlite_notes(default, "users")
    _refused(run_dbprobe(["clean"], tmp_path), "notes.owner -> users")
    assert _sqlite_count(default) == NOTES

    with closing(sqlite3.connect(default)) as conn, conn:
        conn.execute("DROP TABLE notes")
        conn.execute("CREATE TABLE diary (id INTEGER PRIMARY KEY, line TEXT)")
        conn.execute("INSERT INTO diary VALUES (1, 'mine')")
    cleaned = run_dbprobe(["clean"], tmp_path)
    assert cleaned.returncode == 0, cleaned.stderr
    assert cleaned.stdout.startswith("dropped ")
    assert "dbprobe_seed_state" in cleaned.stdout
    with closing(sqlite3.connect(default)) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"diary"}
        assert conn.execute("SELECT line FROM diary").fetchall() == [("mine",)]
