"""The history store: named baselines and every recorded run, in one SQLite file.

This is dbprobe's own bookkeeping, not a probe target, so it uses the
standard library's ``sqlite3`` directly (no engine, no pool, no events). The
file is ``$DBPROBE_HISTORY``, else ``history.sqlite3`` in dbprobe's data
directory; every method opens and closes its own connection, so a store
object holds no resources and several processes (parallel CI jobs) can share
the file, SQLite serialising their writes.

A baseline keeps the whole report as written by ``--json`` (schema
``dbprobe.report/1``: target, config, host and the encoded histograms), so a
comparison months later has the full distributions, not just their medians.

File format history:

- ``dbprobe.history/1``: tables ``dbprobe_meta`` (key ``format``),
  ``baselines``, ``runs`` and ``run_operations`` (the per-operation figures
  of each run, so a trend needs no report decoding).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dbprobe.database.url import data_dir
from dbprobe.errors import ConfigError, HistoryFileError, UnknownBaselineError, UsageError
from dbprobe.metrics.distribution import Distribution
from dbprobe.result.jsonio import MALFORMED, report_from_dict, report_to_dict
from dbprobe.result.jsonio import SCHEMA as REPORT_SCHEMA
from dbprobe.result.model import Report

__all__ = [
    "FORMAT",
    "BaselineInfo",
    "HistoryStore",
    "OperationPoint",
    "RecordedRun",
    "check_baseline_name",
    "default_history_path",
    "machine_info",
]

FORMAT = "dbprobe.history/1"

# Every statement is idempotent, so the same script creates a store and
# completes one whose creation was cut short (see HistoryStore._create).
_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS dbprobe_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS baselines (
    name TEXT PRIMARY KEY,
    saved_at TEXT NOT NULL,
    probe TEXT NOT NULL,
    backend TEXT NOT NULL,
    scale TEXT NOT NULL,
    host TEXT NOT NULL,
    started_at TEXT NOT NULL,
    machine TEXT NOT NULL,
    report TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    recorded_at TEXT NOT NULL,
    probe TEXT NOT NULL,
    backend TEXT NOT NULL,
    scale TEXT NOT NULL,
    host TEXT NOT NULL,
    started_at TEXT NOT NULL,
    label TEXT NOT NULL,
    machine TEXT NOT NULL,
    report TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_probe ON runs (probe, backend, scale, started_at);
CREATE TABLE IF NOT EXISTS run_operations (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    operation TEXT NOT NULL,
    count INTEGER NOT NULL,
    p50_ms REAL NOT NULL,
    p95_ms REAL NOT NULL,
    p99_ms REAL NOT NULL,
    throughput_per_s REAL NOT NULL,
    histogram TEXT NOT NULL,
    PRIMARY KEY (run_id, operation)
);
"""

#: The tables of a store; a file holding only some of them, and no format
#: row, is a store whose creation was interrupted.
_TABLES = frozenset({"dbprobe_meta", "baselines", "runs", "run_operations", "sqlite_sequence"})

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/@+-]{0,99}")


def check_baseline_name(name: str) -> None:
    """A ConfigError unless ``name`` can name a baseline (checked before a run saves one)."""
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"invalid baseline name {name!r}: use letters, digits and _ . : / @ + - "
            "(at most 100 characters, starting with a letter or digit)"
        )


def default_history_path(env: Mapping[str, str] | None = None) -> Path:
    """``$DBPROBE_HISTORY``, else ``history.sqlite3`` in dbprobe's data directory."""
    env = os.environ if env is None else env
    if env.get("DBPROBE_HISTORY"):
        return Path(env["DBPROBE_HISTORY"]).expanduser()
    return data_dir(env) / "history.sqlite3"


def machine_info() -> dict[str, Any]:
    """The machine that saves a run: the host a report names is not all that matters."""
    return {
        "node": platform.node(),
        "system": platform.system(),
        "release": platform.release(),
        "machine": platform.machine(),
        "processor": platform.processor(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }


@dataclass(frozen=True)
class BaselineInfo:
    """A saved baseline, without its report."""

    name: str
    saved_at: str
    probe: str
    backend: str
    scale: str
    host: str
    started_at: str


@dataclass(frozen=True)
class RecordedRun:
    """A run recorded for history, without its report."""

    id: int
    recorded_at: str
    probe: str
    backend: str
    scale: str
    host: str
    started_at: str
    label: str


@dataclass(frozen=True)
class OperationPoint:
    """One operation's figures in one recorded run: a point of a trend."""

    run_id: int
    started_at: str
    label: str
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    throughput_per_s: float
    histogram: str


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class HistoryStore:
    """Baselines and recorded runs in the SQLite file at ``path``.

    Reading from a file that does not exist yet finds nothing (and creates
    nothing); the first write creates it. ``clock`` and ``machine`` are
    injected so tests can fix them.
    """

    def __init__(
        self,
        path: Path | str | None = None,
        *,
        clock: Callable[[], str] = _now,
        machine: Callable[[], dict[str, Any]] = machine_info,
    ) -> None:
        self.path = Path(path) if path is not None else default_history_path()
        self._clock = clock
        self._machine = machine

    # --- connection and format check -------------------------------------------------

    @contextlib.contextmanager
    def _connect(self, *, write: bool) -> Iterator[sqlite3.Connection | None]:
        """A checked connection (None when reading a file that does not exist)."""
        try:
            exists = self.path.exists()
        except OSError as exc:  # a name over NAME_MAX, a path through a file
            raise HistoryFileError(
                f"cannot open history file {self.path}: {exc.strerror}"
            ) from None
        if not write and not exists:
            yield None
            return
        if write:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise HistoryFileError(
                    f"cannot create the history directory {self.path.parent}: {exc.strerror}"
                ) from None
        try:
            conn = sqlite3.connect(self.path, timeout=10)
        except sqlite3.Error as exc:
            raise HistoryFileError(f"cannot open history file {self.path}: {exc}") from None
        try:
            conn.execute("PRAGMA foreign_keys = ON")
            if not self._check_format(conn, write=write):
                yield None  # an empty file (e.g. made by touch): nothing recorded yet
                return
            with conn:  # one transaction: committed on success, rolled back on error
                yield conn
        except sqlite3.DatabaseError as exc:
            raise HistoryFileError(self._unreadable(exc)) from None
        finally:
            conn.close()

    def _unreadable(self, exc: sqlite3.Error) -> str:
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            return f"history file {self.path} is locked by another process; try again"
        if isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc):
            return f"history file {self.path} is read-only"
        if isinstance(exc, sqlite3.OperationalError) and "disk is full" in str(exc):
            return f"history file {self.path}: the disk is full; nothing was recorded"
        return (
            f"{self.path} is not a dbprobe history file (corrupt, truncated, or another "
            f"kind of file: {exc}); give another path with --history or $DBPROBE_HISTORY"
        )

    def _check_format(self, conn: sqlite3.Connection, *, write: bool) -> bool:
        """Whether the file holds dbprobe's tables (created or completed now if ``write``)."""
        tables = {
            row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        }
        if tables and "dbprobe_meta" not in tables:
            raise HistoryFileError(
                f"{self.path} is an SQLite database of another program, not a dbprobe "
                "history file; give another path with --history or $DBPROBE_HISTORY"
            )
        row = (
            conn.execute("SELECT value FROM dbprobe_meta WHERE key = 'format'").fetchone()
            if tables
            else None
        )
        if row is None and tables <= _TABLES:
            # Empty, or a creation cut short (a full disk) before its format row:
            # nothing was ever recorded in it, so completing it loses nothing.
            if not write:
                return False
            self._create(conn)
            return True
        found = row[0] if row else None
        if found != FORMAT:
            raise HistoryFileError(
                f"{self.path} has history format {found!r}; this dbprobe reads {FORMAT!r}"
            )
        return True

    @staticmethod
    def _create(conn: sqlite3.Connection) -> None:
        """The schema and the format row in one transaction: all of it lands, or none.

        ``executescript`` runs outside the connection's own transaction
        handling (each statement would commit alone), hence the explicit
        BEGIN ... COMMIT, and the rollback when a statement fails midway.
        """
        try:
            conn.executescript(
                f"BEGIN IMMEDIATE;\n{_SCHEMA_SQL}\n"
                f"INSERT OR IGNORE INTO dbprobe_meta (key, value) VALUES ('format', '{FORMAT}');\n"
                "COMMIT;"
            )
        except BaseException:
            if conn.in_transaction:
                conn.rollback()
            raise

    def _report(self, text: str, what: str) -> Report:
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("schema") != REPORT_SCHEMA:
                raise ValueError(f"schema {data.get('schema') if isinstance(data, dict) else None}")
            return report_from_dict(data)
        # RecursionError: JSON nested deeper than the decoder recurses (no report is).
        except (*MALFORMED, RecursionError) as exc:
            raise HistoryFileError(
                f"{what} in {self.path} is not a readable {REPORT_SCHEMA} report ({exc})"
            ) from None

    # --- baselines ---------------------------------------------------------------------

    def save_baseline(self, name: str, report: Report) -> BaselineInfo:
        """Save ``report`` as baseline ``name``, replacing any baseline of that name."""
        check_baseline_name(name)
        info = BaselineInfo(
            name=name,
            saved_at=self._clock(),
            probe=report.run.probe,
            backend=report.target.backend,
            scale=report.target.scale,
            host=report.run.host,
            started_at=report.run.started_at.isoformat(timespec="seconds"),
        )
        with self._connect(write=True) as conn:
            assert conn is not None
            conn.execute(
                "INSERT OR REPLACE INTO baselines (name, saved_at, probe, backend, scale, "
                "host, started_at, machine, report) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    info.name,
                    info.saved_at,
                    info.probe,
                    info.backend,
                    info.scale,
                    info.host,
                    info.started_at,
                    json.dumps(self._machine()),
                    json.dumps(report_to_dict(report)),
                ),
            )
        return info

    def baselines(self) -> tuple[BaselineInfo, ...]:
        """Every saved baseline, by name."""
        with self._connect(write=False) as conn:
            if conn is None:
                return ()
            rows = conn.execute(
                "SELECT name, saved_at, probe, backend, scale, host, started_at "
                "FROM baselines ORDER BY name"
            ).fetchall()
        return tuple(BaselineInfo(*row) for row in rows)

    def baseline(self, name: str) -> Report:
        """The report saved as ``name``; UnknownBaselineError if there is none."""
        with self._connect(write=False) as conn:
            row = (
                conn.execute("SELECT report FROM baselines WHERE name = ?", (name,)).fetchone()
                if conn is not None
                else None
            )
        if row is None:
            raise self._unknown(name)
        return self._report(row[0], f"baseline {name!r}")

    def baseline_info(self, name: str) -> tuple[BaselineInfo, dict[str, Any]]:
        """A baseline's description and the machine it was saved on."""
        with self._connect(write=False) as conn:
            row = (
                conn.execute(
                    "SELECT name, saved_at, probe, backend, scale, host, started_at, machine "
                    "FROM baselines WHERE name = ?",
                    (name,),
                ).fetchone()
                if conn is not None
                else None
            )
        if row is None:
            raise self._unknown(name)
        try:
            machine = json.loads(row[7])
        except ValueError:
            machine = {}
        return BaselineInfo(*row[:7]), machine if isinstance(machine, dict) else {}

    def delete_baseline(self, name: str) -> None:
        with self._connect(write=True) as conn:
            assert conn is not None
            deleted = conn.execute("DELETE FROM baselines WHERE name = ?", (name,)).rowcount
        if not deleted:
            raise self._unknown(name)

    def _unknown(self, name: str) -> UnknownBaselineError:
        names = [b.name for b in self.baselines()]
        known = f"saved: {', '.join(names)}" if names else "none is saved yet"
        return UnknownBaselineError(f"no baseline named {name!r} in {self.path} ({known})")

    # --- recorded runs -----------------------------------------------------------------

    def record(self, report: Report, *, label: str = "") -> int:
        """Record a run for history; returns its id. ``label`` names it (e.g. a commit)."""
        with self._connect(write=True) as conn:
            assert conn is not None
            cursor = conn.execute(
                "INSERT INTO runs (recorded_at, probe, backend, scale, host, started_at, "
                "label, machine, report) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    self._clock(),
                    report.run.probe,
                    report.target.backend,
                    report.target.scale,
                    report.run.host,
                    report.run.started_at.astimezone(dt.UTC).isoformat(timespec="microseconds"),
                    label,
                    json.dumps(self._machine()),
                    json.dumps(report_to_dict(report)),
                ),
            )
            run_id = cursor.lastrowid
            assert run_id is not None
            for op in report.operations:
                dist = Distribution.from_encoded_histogram(op.histogram)
                conn.execute(
                    "INSERT INTO run_operations (run_id, operation, count, p50_ms, p95_ms, "
                    "p99_ms, throughput_per_s, histogram) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        run_id,
                        op.name,
                        dist.count,
                        *(
                            dist.quantile(q) / 1000 if dist.count else 0.0
                            for q in (0.5, 0.95, 0.99)
                        ),
                        op.throughput_per_s,
                        op.histogram,
                    ),
                )
        return run_id

    def runs(
        self, *, probe: str | None = None, backend: str | None = None, scale: str | None = None
    ) -> tuple[RecordedRun, ...]:
        """Recorded runs, oldest first, optionally only of one probe, backend, scale."""
        where, args = _filters(probe=probe, backend=backend, scale=scale)
        with self._connect(write=False) as conn:
            if conn is None:
                return ()
            rows = conn.execute(
                "SELECT id, recorded_at, probe, backend, scale, host, started_at, label "
                f"FROM runs {where} ORDER BY started_at, id",
                args,
            ).fetchall()
        return tuple(RecordedRun(*row) for row in rows)

    def run_report(self, run_id: int) -> Report:
        with self._connect(write=False) as conn:
            row = (
                conn.execute("SELECT report FROM runs WHERE id = ?", (run_id,)).fetchone()
                if conn is not None
                else None
            )
        if row is None:
            raise UsageError(f"no recorded run {run_id} in {self.path}")
        return self._report(row[0], f"run {run_id}")

    def operation_points(
        self, probe: str, operation: str, *, backend: str, scale: str
    ) -> tuple[OperationPoint, ...]:
        """One operation's figures in every recorded run of a probe, oldest first."""
        with self._connect(write=False) as conn:
            if conn is None:
                return ()
            rows = conn.execute(
                "SELECT r.id, r.started_at, r.label, o.count, o.p50_ms, o.p95_ms, o.p99_ms, "
                "o.throughput_per_s, o.histogram FROM runs r JOIN run_operations o "
                "ON o.run_id = r.id WHERE r.probe = ? AND o.operation = ? AND r.backend = ? "
                "AND r.scale = ? ORDER BY r.started_at, r.id",
                (probe, operation, backend, scale),
            ).fetchall()
        return tuple(OperationPoint(*row) for row in rows)


def _filters(**columns: str | None) -> tuple[str, tuple[str, ...]]:
    given = {k: v for k, v in columns.items() if v is not None}
    if not given:
        return "", ()
    return "WHERE " + " AND ".join(f"{k} = ?" for k in given), tuple(given.values())
