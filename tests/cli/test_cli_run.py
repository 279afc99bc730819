"""The command line as a user runs it: real processes, real databases."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from dbprobe.database.url import Target
from tests.cli import run_with_env, wait_for_line

SECRET = "Zq-unique-pw-7781"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DBPROBE_DB_URL"}
    env["DBPROBE_DATA_DIR"] = str(tmp_path / "data")
    env.update(extra)
    return env


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_with_env(args, env, timeout=120)


def _pg_url_with_password(pg_target: Target) -> str:
    # The test server trusts local connections, so any password is accepted:
    # what matters is that it never shows.
    return pg_target.url.set(password=SECRET).render_as_string(hide_password=False)


def _check_report(data: dict[str, Any], threads: int, per_worker: int) -> None:
    assert data["schema"] == "dbprobe.report/1"
    assert sum(op["count"] for op in data["operations"]) == threads * per_worker
    for op in data["operations"]:
        assert op["attempts"] == op["commits"] + op["rollbacks"] + op["cancelled"]
        if op["commits"]:
            assert op["latency_ms"]["p99"] > 0


def test_uow_on_the_default_sqlite_file_prints_a_table_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "uow.json"
    args = ["uow", "--threads", "10", "--transactions", "3", "--scale", "tiny", "--json", str(out)]
    proc = _run(args, _env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "data" / "dbprobe.sqlite3").exists()
    for name in ("create_program", "reschedule_session", "read_program", "p99.9", "stmts/tx"):
        assert name in proc.stdout
    data = json.loads(out.read_text())
    _check_report(data, threads=10, per_worker=3)
    assert data["target"]["backend"] == "sqlite"
    assert data["run"]["argv"][:2] == ["dbprobe", "uow"]


def test_uow_on_postgresql_never_shows_the_password(tmp_path: Path, pg_target: Target) -> None:
    out = tmp_path / "uow.json"
    url = _pg_url_with_password(pg_target)
    proc = _run(["uow", "--db", url, "--threads", "10", "--transactions", "2", "--scale", "tiny",
                 "--json", str(out)], _env(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert SECRET not in proc.stdout + proc.stderr + text
    data = json.loads(text)
    _check_report(data, threads=10, per_worker=2)
    assert data["target"]["backend"] == "postgresql"
    assert ":***@" in data["target"]["url"]
    assert any(":***@" in arg for arg in data["run"]["argv"])


def test_database_url_is_taken_from_the_environment(tmp_path: Path, pg_target: Target) -> None:
    out = tmp_path / "uow.json"
    env = _env(tmp_path, DBPROBE_DB_URL=_pg_url_with_password(pg_target))
    proc = _run(["uow", "--threads", "2", "--transactions", "1", "--scale", "tiny", "--quiet",
                 "--json", str(out)], env)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""  # --quiet: no table
    assert json.loads(out.read_text())["target"]["backend"] == "postgresql"


def test_violated_slo_exits_1_and_is_a_finding_in_the_report(tmp_path: Path) -> None:
    out = tmp_path / "uow.json"
    args = ["uow", "--threads", "2", "--transactions", "2", "--scale", "tiny",
            "--slo", "p50<1us", "--slo", "error_rate<1%", "--json", str(out)]  # fmt: skip
    proc = _run(args, _env(tmp_path))
    assert proc.returncode == 1, proc.stderr
    findings = json.loads(out.read_text())["findings"]
    assert findings
    # A generator_saturated warning (about the client, on a loaded machine) may join them.
    assert {f["kind"] for f in findings} - {"generator_saturated"} == {"slo_violation"}
    slo = [f for f in findings if f["kind"] == "slo_violation"]
    assert all(f["evidence"]["slo"] == "p50<1us" for f in slo)
    assert "slo_violation" in proc.stdout


def test_met_slo_exits_0(tmp_path: Path) -> None:
    proc = _run(["uow", "--threads", "2", "--transactions", "2", "--scale", "tiny", "--slo",
                 "p99<1000s", "--quiet"], _env(tmp_path))  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_seed_prints_the_same_checksum_on_both_backends_and_verifies_it(
    tmp_path: Path, pg_target: Target
) -> None:
    sqlite = _run(["seed", "--scale", "tiny", "--seed", "11"], _env(tmp_path))
    pg = _run(["seed", "--scale", "tiny", "--seed", "11", "--db", _pg_url_with_password(pg_target),
               "--verify"], _env(tmp_path))  # fmt: skip
    assert sqlite.returncode == pg.returncode == 0, sqlite.stderr + pg.stderr
    checksums = [
        line
        for proc in (sqlite, pg)
        for line in proc.stdout.splitlines()
        if line.startswith("checksum ")
    ]
    assert len(checksums) == 2
    assert checksums[0] == checksums[1]
    # PostgreSQL's rows were read back and hashed again: the same as those generated.
    assert "verified: every table read back equals the rows generated" in pg.stdout
    assert "verified" not in sqlite.stdout
    assert SECRET not in pg.stdout + pg.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_run_still_prints_and_writes_the_partial_report(
    tmp_path: Path, sig: signal.Signals
) -> None:
    out = tmp_path / "uow.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dbprobe", "uow", "--threads", "10", "--duration", "120",
         "--warmup", "0", "--scale", "tiny", "--json", str(out)],
        env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for_line(proc, "running uow", timeout_s=60)
        # Let some transactions finish; progress is polled, not slept on.
        proc.send_signal(sig)
        stdout, _ = proc.communicate(timeout=30)  # a guard against a hang, not a timing
    finally:
        proc.kill()
    assert proc.returncode == 130
    data = json.loads(out.read_text())
    assert data["run"]["interrupted"] is True
    for op in data["operations"]:
        assert op["attempts"] == op["commits"] + op["rollbacks"] + op["cancelled"]
    assert "interrupted" in stdout
    assert "create_program" in stdout


def test_a_foreign_table_of_the_same_name_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "app.sqlite3"
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, login TEXT)")
        conn.execute("INSERT INTO users VALUES (1, 'mine')")
    args = ["uow", "--db", f"sqlite:///{path}", "--transactions", "1", "--quiet"]
    proc = _run(args, _env(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"dbprobe: error: SQLite file {path} already holds tables dbprobe did not create "
        "(users); dbprobe will not write to them: point --db at another database or file"
    ]
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT id, login FROM users").fetchall() == [(1, "mine")]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"users"}


def _programs(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return int(conn.execute("SELECT count(*) FROM programs").fetchone()[0])


def test_a_count_based_run_writes_exactly_the_transactions_it_counts(tmp_path: Path) -> None:
    # --transactions M is M per worker and no more, as pgbench -t: a default
    # one-second warmup before them once created hundreds of unreported programs.
    db = tmp_path / "data" / "dbprobe.sqlite3"
    env = _env(tmp_path)
    seeded = _run(["seed", "--scale", "tiny"], env)
    assert seeded.returncode == 0, seeded.stderr
    before = _programs(db)
    out = tmp_path / "uow.json"
    args = ["uow", "--scale", "tiny", "--threads", "2", "--transactions", "4",
            "--mix", "create_program=1", "--json", str(out)]  # fmt: skip
    proc = _run(args, env)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(out.read_text())
    assert data["config"]["warmup_s"] == 0
    created = next(op for op in data["operations"] if op["name"] == "create_program")
    assert created["commits"] == 8
    assert _programs(db) == before + 8
    # An explicit warmup still runs (and writes) before the counted transactions.
    proc = _run([*args, "--warmup", "0.3"], env)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["config"]["warmup_s"] == 0.3
    assert _programs(db) > before + 16
