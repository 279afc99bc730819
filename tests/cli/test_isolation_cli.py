"""`dbprobe isolation` from the command line."""

from __future__ import annotations

import json
import os
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
