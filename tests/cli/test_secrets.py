"""No password in any output: every probe and export run with a URL whose password is unique."""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from dbprobe.database.url import Target
from tests.cli import run_dbprobe, run_with_env

SECRET = "Pw-7c1e-never-print-me"


def _run(args: list[str], tmp_path: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("DBPROBE_DB_URL", "DBPROBE_HISTORY")}
    env["DBPROBE_DATA_DIR"] = str(tmp_path / "data")
    proc = run_with_env(args, env, timeout=180)
    assert proc.returncode in (0, 1), f"{args}: {proc.stderr}"
    return proc.stdout + proc.stderr


def test_no_output_file_or_store_ever_holds_the_password(tmp_path: Path, pg_target: Target) -> None:
    # The test server trusts local connections, so any password connects.
    url = pg_target.url.set(password=SECRET).render_as_string(hide_password=False)
    db = ["--db", url, "--scale", "tiny"]
    out = tmp_path / "out"
    out.mkdir()
    texts = [
        _run(["seed", *db], tmp_path),
        _run(["uow", *db, "--threads", "2", "--transactions", "3", "--json", str(out / "uow.json"),
              "--save-baseline", "b", "--record", "--markdown", str(out / "uow.md"),
              "--export", "pytest-benchmark", str(out / "pb.json"),
              "--export", "github-action-benchmark", str(out / "gab.json")], tmp_path),
        _run(["repo", *db, "--transactions", "1", "--only", "program_full_lazy",
              "--json", str(out / "repo.json")], tmp_path),
        _run(["pool", *db, "--pool-size", "1", "--max-overflow", "0", "--pool-timeout", "0.2",
              "--threads", "3", "--hold-ms", "300", "--duration", "1", "--json", str(out / "pool.json")],
             tmp_path),
        _run(["deadlock", *db, "--threads", "4", "--transactions", "5", "--pattern", "naive",
              "--json", str(out / "deadlock.json")], tmp_path),
        _run(["isolation", "--db", url, "--test", "P4", "--json", str(out / "isolation.json")], tmp_path),
        _run(["compare", "b", str(out / "uow.json"), "--html", str(out / "cmp.html")], tmp_path),
        _run(["report", str(out / "uow.json"), "--markdown", str(out / "report.md")], tmp_path),
        _run(["baseline", "show", "b"], tmp_path),
        _run(["history", "uow", "read_program"], tmp_path),
        _run(["clean", "--db", url], tmp_path),
    ]  # fmt: skip
    for text in texts:
        assert SECRET not in text
    written = sorted(out.iterdir()) + sorted((tmp_path / "data").iterdir())
    assert {p.name for p in written} >= {"uow.json", "uow.md", "pb.json", "gab.json", "repo.json",
                                         "pool.json", "deadlock.json", "isolation.json",
                                         "cmp.html", "report.md", "history.sqlite3"}  # fmt: skip
    for path in written:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert ":***@" in (out / "uow.json").read_text()


# --- Every form a password can take, across the commands (issue 15) -------------------------

PASSWORD = "Zq9-SECRET-pw"
ENCODED = "Zq9%2DSECRET%2Dpw"
# Any part of the password: a cut or a mis-parsed host must not show even a piece of it.
PIECES = ("Zq9", "SECRET")


def _form(name: str, host: str, port: int, database: str) -> tuple[list[str], dict[str, str]]:
    """``--db`` arguments and environment giving ``PASSWORD`` in the form ``name``."""
    where = f"{host}:{port}/{database}"
    if name == "userinfo":
        return ["--db", f"postgresql+asyncpg://postgres:{PASSWORD}@{where}"], {}
    if name == "query":
        return ["--db", f"postgresql+asyncpg://postgres@{where}?password={PASSWORD}"], {}
    if name == "encoded":
        return ["--db", f"postgresql+asyncpg://postgres:{ENCODED}@{where}"], {}
    assert name == "env"
    return [], {"DBPROBE_DB_URL": f"postgresql+asyncpg://postgres:{PASSWORD}@{where}"}


def _leaks(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [p for p in PIECES if p.encode() in data]


def _files(*folders: Path) -> list[Path]:
    return [p for folder in folders if folder.exists() for p in folder.rglob("*") if p.is_file()]


@pytest.mark.parametrize("form", ["userinfo", "query", "encoded", "env"])
def test_a_password_in_any_url_form_reaches_no_output_file_or_history_row(
    form: str, private_pg: Target, tmp_path: Path
) -> None:
    # The test server trusts local connections, so any password connects.
    db, env = _form(form, "127.0.0.1", private_pg.url.port or 5432, str(private_pg.url.database))
    out = tmp_path / "out"
    out.mkdir()
    tiny = [*db, "--scale", "tiny"]
    load = [*tiny, "--threads", "1", "--transactions", "2", "--warmup", "0", "--quiet"]
    runs = [
        ["seed", *tiny],
        ["uow", *load, "--json", str(out / "a.json"), "--markdown", str(out / "a.md"),
         "--export", "pytest-benchmark", str(out / "pb.json"), "--save-baseline", "b", "--record"],
        ["uow", *load, "--json", str(out / "b.json"), "--compare", "b", "--record"],
        ["repo", *load, "--only", "program_full_lazy", "--json", str(out / "repo.json")],
        ["clean", *db],
    ]  # fmt: skip
    for args in runs:
        proc = run_dbprobe(args, tmp_path, extra_env=env)
        assert proc.returncode in (0, 1), f"{args}: {proc.stderr}"
        assert not _leaks(proc.stdout + proc.stderr), args
    report = json.loads((out / "b.json").read_text())
    assert "***" in report["target"]["url"]
    history = tmp_path / "data" / "history.sqlite3"
    assert history.exists()
    with closing(sqlite3.connect(history)) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 2
    files = _files(out, tmp_path / "data")
    assert {p.name for p in files} >= {
        "a.json", "a.md", "pb.json", "b.json", "repo.json", "history.sqlite3"
    }  # fmt: skip
    for path in files:
        assert not _leaks(path.read_bytes()), path


@pytest.mark.parametrize(
    ("form", "command", "host", "said"),
    [
        # The form that leaked (the query is not the userinfo) on every command ...
        ("query", "seed", "127.0.0.1", "connection refused by 127.0.0.1:5439"),
        ("query", "uow", "127.0.0.1", "connection refused by 127.0.0.1:5439"),
        ("query", "clean", "127.0.0.1", "connection refused by 127.0.0.1:5439"),
        ("query", "seed", "no-such-host.invalid", "unknown host 'no-such-host.invalid'"),
        # ... and each other form on one.
        ("userinfo", "seed", "127.0.0.1", "connection refused by 127.0.0.1:5439"),
        ("encoded", "clean", "127.0.0.1", "connection refused by 127.0.0.1:5439"),
        ("env", "uow", "127.0.0.1", "connection refused by 127.0.0.1:5439"),
    ],
)
def test_the_connection_failure_line_never_shows_the_password(
    form: str, command: str, host: str, said: str, tmp_path: Path
) -> None:
    db, env = _form(form, host, 5439, "db")  # nothing listens on 5439
    proc = run_dbprobe([command, *db, "--connect-timeout", "5"], tmp_path, extra_env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert said in line
    assert not _leaks(proc.stdout + proc.stderr)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        # An unencoded '@' in the password: the host would read 'x@127.0.0.1' and show part of it.
        (f"postgresql+asyncpg://u:{PASSWORD}@x@127.0.0.1/db", "%40"),
        # MySQL's spelling: neither libpq nor asyncpg knows it.
        (f"postgresql+asyncpg://prober@127.0.0.1:5439/db?passwd={PASSWORD}", "password="),
        # A libpq key=value DSN is not a URL: refused without being echoed.
        (f"host=127.0.0.1 password={PASSWORD} dbname=db", "malformed database URL"),
    ],
    ids=["unencoded-at", "passwd", "libpq-dsn"],
)
def test_a_url_form_dbprobe_refuses_is_refused_without_showing_the_password(
    url: str, said: str, tmp_path: Path
) -> None:
    for command, db, env in (
        ("seed", ["--db", url], {}),
        ("clean", ["--db", url], {}),
        ("uow", [], {"DBPROBE_DB_URL": url}),
    ):
        proc = run_dbprobe([command, *db], tmp_path, extra_env=env)
        assert proc.returncode == 2, proc.stdout + proc.stderr
        (line,) = proc.stderr.strip().splitlines()
        assert said in line
        assert not _leaks(proc.stdout + proc.stderr)
        assert not (tmp_path / "data" / "dbprobe.sqlite3").exists()  # nothing was opened


MAKE_ENGINE_FAILS = """
import dbprobe


def make_engine(url):
    raise ValueError(f"no engine for {url}")


@dbprobe.scenario(weight=1)
async def nothing(ctx):
    pass
"""


@pytest.mark.parametrize("form", ["userinfo", "query"])
def test_a_scenario_make_engine_quoting_the_url_does_not_show_the_password(
    form: str, pg_target: Target, tmp_path: Path
) -> None:
    scenario = tmp_path / "engine.py"
    scenario.write_text(MAKE_ENGINE_FAILS)
    db, env = _form(form, "127.0.0.1", pg_target.url.port or 5432, str(pg_target.url.database))
    proc = run_dbprobe(["run", str(scenario), *db, "--transactions", "1"], tmp_path, extra_env=env)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert "make_engine()" in line
    assert "no engine for postgresql+asyncpg://postgres" in line
    assert not _leaks(proc.stdout + proc.stderr)
