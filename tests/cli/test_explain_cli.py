"""`dbprobe repo --explain` as a user runs it: the finding, its CREATE INDEX, the plans."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

from tests.cli import run_dbprobe

ONLY = ["--only", "session_exercises_lazy", "--only", "movement_get"]


def _cli(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return run_dbprobe(args, tmp_path)


def test_repo_explain_names_the_missing_index_and_its_create_index_clears_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "explain.sqlite3"
    db = ["--db", f"sqlite+aiosqlite:///{path}", "--scale", "tiny"]
    assert _cli(["seed", *db], tmp_path).returncode == 0
    with sqlite3.connect(path) as conn:
        conn.execute("DROP INDEX ix_session_exercises_session_id")
    out = tmp_path / "explain.json"
    run = ["repo", *db, "--transactions", "1", *ONLY, "--explain"]
    proc = _cli([*run, "--json", str(out), "--fail-on", "unindexed_foreign_key"], tmp_path)
    # The finding fails the run on request, and the console shows it with its fix.
    assert proc.returncode == 1, proc.stderr
    console = " ".join(proc.stdout.split())
    create = 'CREATE INDEX "ix_session_exercises_session_id" ON "session_exercises" ("session_id")'
    assert "unindexed_foreign_key: unindexed foreign key: session_exercises.session_id" in console
    assert f"plan: SCAN session_exercises); create one: {create}" in console
    data = json.loads(out.read_text())
    (finding,) = [f for f in data["findings"] if f["kind"] == "unindexed_foreign_key"]
    assert finding["evidence"]["create_index"] == create
    assert finding["evidence"]["columns"] == ["session_id"]
    fingerprints = [p["fingerprint"] for p in data["plans"]]
    # Each fingerprint once. A movement by id is the statement of the lazy load
    # of SessionExercise.movement too: one shape on SQLAlchemy 2.1, explained
    # once for both operations; 2.0 labels the get's columns (AS movements_id),
    # two shapes, each explained once.
    assert len(fingerprints) == len(set(fingerprints))
    by_id = [p for p in data["plans"] if p["fingerprint"].endswith("WHERE movements.id = ?")]
    assert len(fingerprints) == 2 + len(by_id)
    assert sorted(op for p in by_id for op in p["operations"]) == [
        "movement_get",
        "session_exercises_lazy",
    ]

    with sqlite3.connect(path) as conn:
        conn.execute(create)
    fixed = _cli([*run, "--json", str(out), "--fail-on", "unindexed_foreign_key"], tmp_path)
    assert fixed.returncode == 0, fixed.stderr
    data = json.loads(out.read_text())
    assert [f for f in data["findings"] if f["kind"] == "unindexed_foreign_key"] == []
    details = [n.get("detail", "") for p in data["plans"] for n in p["nodes"]]
    assert any("USING INDEX ix_session_exercises_session_id" in d for d in details)


def test_repo_without_explain_writes_no_plans_and_explain_refuses_processes(
    tmp_path: Path,
) -> None:
    out = tmp_path / "plain.json"
    proc = _cli(
        ["repo", "--scale", "tiny", "--transactions", "1", *ONLY, "--quiet", "--json", str(out)],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "plans" not in json.loads(out.read_text())
    refused = _cli(["repo", "--scale", "tiny", "--explain", "--processes", "2"], tmp_path)
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "dbprobe: error: --explain needs one process (--processes 1): it explains the "
        "statements this process captured"
    ]
    bad = _cli(["repo", "--explain-min-rows", "0"], tmp_path)
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1
    assert "--explain-min-rows" in bad.stderr


def test_explain_takes_analyze_and_refuses_any_other_word(tmp_path: Path) -> None:
    out = tmp_path / "analyzed.json"
    proc = _cli(["repo", "--scale", "tiny", "--transactions", "1", "--only", "movement_get",
                 "--explain", "analyze", "--json", str(out)], tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    (plan,) = json.loads(out.read_text())["plans"]
    assert plan["operations"] == ["movement_get"]
    assert plan["nodes"]  # SQLite: EXPLAIN QUERY PLAN, as without analyze
    bad = _cli(["repo", "--explain", "everything"], tmp_path)
    assert bad.returncode == 2
    (line,) = bad.stderr.strip().splitlines()
    assert "argument --explain: invalid choice: 'everything' (choose from " in line
    assert "plan" in line.rsplit("choose from", 1)[1]
    assert "analyze" in line.rsplit("choose from", 1)[1]
