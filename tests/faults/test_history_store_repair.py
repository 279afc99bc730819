"""A history store whose creation was cut short (a full disk) is repaired, never a dead end.

Before the fix the schema was created statement by statement and the format
row inserted afterwards: a disk that filled up in between left tables without
a format row, and every later ``history`` or ``--record`` refused the file
("history format None") even after space was freed.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from dbprobe.errors import HistoryFileError
from dbprobe.gate import store as store_module
from dbprobe.gate.store import FORMAT, HistoryStore
from tests import synthetic
from tests.cli import run_dbprobe

# The schema of dbprobe.history/1 as an interrupted creation left it: every
# table, and no format row in dbprobe_meta.
_TABLES_WITHOUT_FORMAT_ROW = """
CREATE TABLE dbprobe_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE baselines (name TEXT PRIMARY KEY, saved_at TEXT NOT NULL, probe TEXT NOT NULL,
    backend TEXT NOT NULL, scale TEXT NOT NULL, host TEXT NOT NULL, started_at TEXT NOT NULL,
    machine TEXT NOT NULL, report TEXT NOT NULL);
CREATE TABLE runs (id INTEGER PRIMARY KEY AUTOINCREMENT, recorded_at TEXT NOT NULL,
    probe TEXT NOT NULL, backend TEXT NOT NULL, scale TEXT NOT NULL, host TEXT NOT NULL,
    started_at TEXT NOT NULL, label TEXT NOT NULL, machine TEXT NOT NULL, report TEXT NOT NULL);
"""


def _interrupted_store(path: Path, script: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript(script)
    conn.close()


def _format_of(path: Path) -> str | None:
    with sqlite3.connect(path) as conn:
        row = conn.execute("SELECT value FROM dbprobe_meta WHERE key = 'format'").fetchone()
    conn.close()
    return row[0] if row else None


def test_a_store_without_its_format_row_is_repaired_by_history_and_record(tmp_path: Path) -> None:
    store = tmp_path / "history.sqlite3"
    # Part of the schema only (run_operations is missing) and no format row.
    _interrupted_store(store, _TABLES_WITHOUT_FORMAT_ROW)

    shown = run_dbprobe(["history", "uow", "read_program", "--history", str(store)], tmp_path)
    assert shown.returncode == 2, shown.stderr
    assert "history format" not in shown.stderr
    assert "no recorded runs of uow read_program" in shown.stderr

    db = tmp_path / "t.db"
    recorded = run_dbprobe(
        [
            "uow",
            "--db",
            f"sqlite+aiosqlite:///{db}",
            "--scale",
            "tiny",
            "--threads",
            "1",
            "--transactions",
            "5",
            "--warmup",
            "0",
            "--mix",
            "read_program=1",
            "--quiet",
            "--record",
            "--history",
            str(store),
        ],
        tmp_path,
    )
    assert recorded.returncode == 0, recorded.stderr
    assert _format_of(store) == FORMAT

    shown = run_dbprobe(["history", "uow", "read_program", "--history", str(store)], tmp_path)
    assert shown.returncode == 0, shown.stderr
    header, row = shown.stdout.strip().splitlines()
    assert "1 recorded run" in header
    assert "n=5" in row


def test_an_empty_meta_table_alone_is_recreated_as_a_whole_store(tmp_path: Path) -> None:
    store = tmp_path / "history.sqlite3"
    _interrupted_store(store, "CREATE TABLE dbprobe_meta (key TEXT PRIMARY KEY, value TEXT);")
    report = tmp_path / "r.json"
    made = run_dbprobe(
        [
            "select",
            "--db",
            f"sqlite+aiosqlite:///{tmp_path / 't.db'}",
            "--scale",
            "tiny",
            "--threads",
            "1",
            "--transactions",
            "3",
            "--warmup",
            "0",
            "--via",
            "core",
            "--quiet",
            "--json",
            str(report),
        ],
        tmp_path,
    )
    assert made.returncode == 0, made.stderr
    saved = run_dbprobe(
        ["baseline", "save", "main", str(report), "--history", str(store)], tmp_path
    )
    assert saved.returncode == 0, saved.stderr
    assert "saved baseline 'main'" in saved.stdout
    assert _format_of(store) == FORMAT
    listed = run_dbprobe(["baseline", "list", "--history", str(store)], tmp_path)
    assert listed.stdout.startswith("main"), listed.stdout


def test_a_disk_filling_up_during_creation_leaves_nothing_half_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "history.sqlite3"
    real_connect = sqlite3.connect

    def full_disk(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        # SQLite's own "database or disk is full" (SQLITE_FULL) once the file
        # reaches 3 pages: the schema needs more than that.
        conn = real_connect(*args, **kwargs)
        conn.execute("PRAGMA max_page_count = 3")
        return conn

    monkeypatch.setattr(store_module.sqlite3, "connect", full_disk)
    store = HistoryStore(path)
    with pytest.raises(HistoryFileError):
        store.save_baseline("main", synthetic.report({"read": [1.0, 2.0, 3.0]}))
    monkeypatch.setattr(store_module.sqlite3, "connect", real_connect)

    with real_connect(path) as conn:
        tables = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    conn.close()
    assert tables == []  # all or nothing: the transaction rolled back
    # Space freed: the same file works.
    store.save_baseline("main", synthetic.report({"read": [1.0, 2.0, 3.0]}))
    assert [b.name for b in store.baselines()] == ["main"]
    assert _format_of(path) == FORMAT
