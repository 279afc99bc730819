"""Bad input to dbprobe's Locust options: one line on stderr, exit 2, no traceback, no password.

And the other exit status dbprobe sets: an objective that failed makes Locust exit 1.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.locust.conftest import read_json

SECRET = "s3cret-pw"
LOCAL = ("--headless", "-u", "1", "-r", "1", "-t", "2s", "--only-summary")


def _one_error_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("dbprobe: error:")]
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("--dbprobe-db", f"postgresql+asyncpg://postgres:{SECRET}@127.0.0.1:1/x"),
            "connection refused by 127.0.0.1:1 (postgresql+asyncpg://postgres:***@127.0.0.1:1/x)",
        ),
        (
            ("--dbprobe-db", f"mysql://root:{SECRET}@127.0.0.1/x"),
            "mysql",
        ),
        (
            ("--dbprobe-db", "sqlite+aiosqlite:///probe.sqlite3"),
            "dbprobe.locust needs PostgreSQL",
        ),
        (
            ("--dbprobe-db", f"postgresql://u:{SECRET}@h/x", "--dbprobe-probe", "pool"),
            "unknown --dbprobe-probe 'pool': choose one of uow, repo",
        ),
        (
            ("--dbprobe-db", f"postgresql://u:{SECRET}@h/x", "--dbprobe-scale", "huge"),
            "unknown scale 'huge'",
        ),
        (
            ("--dbprobe-db", f"postgresql://u:{SECRET}@h/x", "--dbprobe-slo", "p95<fast"),
            "cannot read SLO 'p95<fast'",
        ),
        (
            ("--dbprobe-db", f"postgresql://u:{SECRET}@h/x", "--dbprobe-fail-on", "slow"),
            "unknown --dbprobe-fail-on kind 'slow'",
        ),
        (
            ("--dbprobe-db", f"postgresql://u:{SECRET}@h/x", "--dbprobe-mix", "read_program=x"),
            "cannot read --mix entry 'read_program=x'",
        ),
    ],
    ids=["refused", "driver", "sqlite", "probe", "scale", "slo", "fail-on", "mix"],
)
def test_bad_input_is_one_line_and_exit_2_without_the_password(
    locust: Any, args: tuple[str, ...], expected: str
) -> None:
    ran = locust("local", *LOCAL, *args).wait()
    assert ran.returncode == 2, ran.stderr
    assert expected in _one_error_line(ran.stderr)
    assert SECRET not in ran.stdout + ran.stderr


@pytest.mark.postgres
def test_an_slo_naming_no_operation_of_the_probe_is_refused_before_users_start(
    locust: Any, locust_db: str
) -> None:
    ran = locust(
        "local", *LOCAL, "--dbprobe-db", locust_db, "--dbprobe-scale", "tiny",
        "--dbprobe-slo", "create_programme:p99<1s",
    ).wait()  # fmt: skip
    assert ran.returncode == 2, ran.stderr
    line = _one_error_line(ran.stderr)
    assert "'create_programme:p99<1s' names no operation of this run" in line


@pytest.mark.postgres
def test_a_violated_slo_makes_locust_exit_1_and_is_in_the_report(
    locust: Any, locust_db: str, tmp_path: Path
) -> None:
    out = tmp_path / "r.json"
    ran = locust(
        "local", *LOCAL, "--dbprobe-db", locust_db, "--dbprobe-scale", "tiny",
        "--dbprobe-mix", "read_program=1", "--dbprobe-slo", "read_program:max<1us",
        "--dbprobe-json", str(out),
    ).wait()  # fmt: skip
    assert ran.returncode == 1, ran.stderr
    report = read_json(out)
    (finding,) = [f for f in report["findings"] if f["kind"] == "slo_violation"]
    assert finding["operation"] == "read_program"
    assert [op["name"] for op in report["operations"]] == ["read_program"]
    # The only process was its own worker: one part, stopped, counted.
    (worker,) = report["locust"]["workers"]
    assert worker["state"] == "stopped"
    assert worker["operations"]["read_program"] == report["operations"][0]["count"] > 0


@pytest.mark.postgres
def test_no_output_of_a_run_holds_the_password(locust: Any, locust_db: str, tmp_path: Path) -> None:
    # The test server trusts its clients: a password in the URL is sent and ignored.
    with_password = locust_db.replace("postgres@", f"postgres:{SECRET}@", 1)
    assert SECRET in with_password
    ran = locust(
        "local", *LOCAL, "--dbprobe-db", with_password, "--dbprobe-scale", "tiny",
        "--html", str(tmp_path / "locust.html"), "--csv", str(tmp_path / "locust"),
        "--dbprobe-json", str(tmp_path / "r.json"),
    ).wait()  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    written = [p for p in tmp_path.iterdir() if p.is_file()]
    assert {p.suffix for p in written} >= {".html", ".csv", ".json"}
    for path in written:
        assert SECRET not in path.read_text(errors="replace"), path.name
    assert read_json(tmp_path / "r.json")["target"]["url"].count("***") == 1
