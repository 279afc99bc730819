"""`dbprobe repo` as a user runs it on the default SQLite file."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.cli import run_dbprobe


def _cli(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return run_dbprobe(args, tmp_path)


def test_repo_command_prints_every_entry_and_the_fixes_and_fails_on_request(
    tmp_path: Path,
) -> None:
    listing = _cli(["repo", "--list"], tmp_path)
    assert listing.returncode == 0
    names = [line.split()[0] for line in listing.stdout.splitlines()]
    assert len(names) == 27
    out = tmp_path / "repo.json"
    proc = _cli(["repo", "--scale", "tiny", "--transactions", "2", "--json", str(out)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    for name in names:
        assert name in proc.stdout
    assert "selectinload(TrainingSession.exercises)" in proc.stdout
    assert "joinedload(SessionExercise.movement)" in proc.stdout
    data = json.loads(out.read_text())
    assert [op["name"] for op in data["operations"]] == names
    kinds = {f["kind"] for f in data["findings"]}
    assert "n_plus_one" in kinds
    # The query findings carry their relationship and fix (a generator_saturated
    # warning may join them on a loaded machine; it is about the client).
    for finding in data["findings"]:
        if finding["kind"] in ("n_plus_one", "unused_eager_load"):
            assert set(finding["evidence"]) >= {"relationship", "suggestion"}
    failing = _cli(
        ["repo", "--scale", "tiny", "--transactions", "1", "--only", "program_full_lazy",
         "--fail-on", "n_plus_one", "--quiet"], tmp_path,
    )  # fmt: skip
    assert failing.returncode == 1, failing.stderr
    passing = _cli(
        ["repo", "--scale", "tiny", "--transactions", "1", "--only", "program_full_eager",
         "--fail-on", "n_plus_one", "--quiet"], tmp_path,
    )  # fmt: skip
    assert passing.returncode == 0, passing.stderr
