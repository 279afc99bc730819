"""`dbprobe isolation` from the command line."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from pathlib import Path

from dbprobe.database.url import Target
from tests.cli import run_with_env


def _run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DBPROBE_DB_URL"}
    env["DBPROBE_DATA_DIR"] = str(tmp_path / "data")
    return run_with_env(["isolation", *args], env, timeout=120)


def test_lost_update_at_read_committed_is_an_anomaly_and_fails_on_request(
    tmp_path: Path, pg_target: Target
) -> None:
    url = pg_target.url.render_as_string(hide_password=False)
    out = tmp_path / "iso.json"
    args = ["--db", url, "--level", "read_committed", "--level", "serializable", "--test", "P4"]
    proc = _run([*args, "--json", str(out), "--fail-on", "anomaly"], tmp_path)
    assert proc.returncode == 1, proc.stderr
    matrix = json.loads(out.read_text())["isolation"]["matrix"]
    assert matrix == {"read_committed": {"P4": "allowed"}, "serializable": {"P4": "prevented"}}
    assert "Lost Update" in proc.stdout
    passing = _run(["--db", url, "--level", "serializable", "--test", "P4", "--fail-on", "anomaly",
                    "--quiet"], tmp_path)  # fmt: skip
    assert passing.returncode == 0, passing.stderr


def test_list_prints_every_script_and_a_foreign_level_is_refused(tmp_path: Path) -> None:
    listing = _run(["--list"], tmp_path)
    assert listing.returncode == 0
    for name in ("G0", "G1a", "G1b", "G1c", "OTV", "PMP", "P4", "G-single", "G2-item", "G2"):
        assert name in listing.stdout
    refused = _run(["--level", "repeatable_read"], tmp_path)  # SQLite offers deferred/immediate
    assert refused.returncode == 2
    assert len(refused.stderr.strip().splitlines()) == 1
    assert "repeatable_read" in refused.stderr


def test_the_probe_seeds_nothing_and_adds_only_its_own_table(tmp_path: Path) -> None:
    # Its scripts read and write one table of their own: seeding the
    # workload's tables cost a run of the default scale for nothing.
    db = tmp_path / "iso.sqlite3"
    out = tmp_path / "iso.json"
    proc = _run(["--db", f"sqlite+aiosqlite:///{db}", "--test", "P4", "--json", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(db) as conn:
        tables = [
            row[0] for row in conn.execute("select name from sqlite_master where type='table'")
        ]
    assert tables == ["isolation_test"]
    report = json.loads(out.read_text())
    assert report["target"]["scale"] == "none"
    assert "scale small" not in proc.stdout
    assert "seed 1" not in proc.stdout
