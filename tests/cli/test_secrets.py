"""No password in any output: every probe and export run with a URL whose password is unique."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from dbprobe.database.url import Target

SECRET = "Pw-7c1e-never-print-me"


def _run(args: list[str], tmp_path: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("DBPROBE_DB_URL", "DBPROBE_HISTORY")}
    env["DBPROBE_DATA_DIR"] = str(tmp_path / "data")
    proc = subprocess.run(
        [sys.executable, "-m", "dbprobe", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
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
        _run(["isolation", *db, "--test", "P4", "--json", str(out / "isolation.json")], tmp_path),
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
