"""The history store on real SQLite files: baselines, recorded runs, bad files."""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
from pathlib import Path

import pytest

from dbprobe.errors import ConfigError, HistoryFileError, UnknownBaselineError, UsageError
from dbprobe.gate.store import FORMAT, HistoryStore, default_history_path
from dbprobe.result.jsonio import report_to_dict
from tests import synthetic


def _store(tmp_path: Path, name: str = "history.sqlite3") -> HistoryStore:
    return HistoryStore(
        tmp_path / name,
        clock=lambda: "2026-01-05T13:00:00+00:00",
        machine=lambda: {"node": "ci-1", "cpu_count": 2},
    )


def _report(seed: int = 1, **kwargs: object):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    return synthetic.report(
        {
            "read": synthetic.lognormal_ms(rng, 200),
            "write": synthetic.lognormal_ms(rng, 50, median_ms=6),
        },
        **kwargs,  # type: ignore[arg-type]
    )


def test_a_saved_baseline_comes_back_whole_and_is_listed_shown_and_deleted(tmp_path: Path) -> None:
    store = _store(tmp_path)
    report = _report()
    info = store.save_baseline("main", report)
    assert (info.name, info.probe, info.backend, info.scale, info.host) == (
        "main",
        "uow",
        "sqlite",
        "tiny",
        "ci-1",
    )
    assert info.saved_at == "2026-01-05T13:00:00+00:00"
    assert report_to_dict(store.baseline("main")) == report_to_dict(report)
    store.save_baseline("nightly/uow", _report(2))
    assert [b.name for b in store.baselines()] == ["main", "nightly/uow"]
    shown, machine = store.baseline_info("main")
    assert shown == info
    assert machine == {"node": "ci-1", "cpu_count": 2}
    # Saving under an existing name replaces it.
    store.save_baseline("main", _report(3))
    assert report_to_dict(store.baseline("main")) == report_to_dict(_report(3))
    store.delete_baseline("main")
    assert [b.name for b in store.baselines()] == ["nightly/uow"]


def test_an_unknown_baseline_is_a_usage_error_naming_the_saved_ones(tmp_path: Path) -> None:
    store = _store(tmp_path)
    with pytest.raises(UnknownBaselineError, match=r"no baseline named 'main' .*none is saved yet"):
        store.baseline("main")
    store.save_baseline("nightly", _report())
    with pytest.raises(
        UnknownBaselineError, match=r"no baseline named 'mian' .*\(saved: nightly\)"
    ):
        store.baseline("mian")
    with pytest.raises(UnknownBaselineError):
        store.delete_baseline("mian")
    assert issubclass(UnknownBaselineError, UsageError)


def test_reading_a_missing_file_finds_nothing_and_creates_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path, "sub/none.sqlite3")
    assert store.baselines() == ()
    assert store.runs() == ()
    assert not store.path.exists()
    store.record(_report())
    assert store.path.exists()


def test_bad_baseline_names_are_refused(tmp_path: Path) -> None:
    for bad in ("", "-x", "a b", "x" * 101, "a;drop"):
        with pytest.raises(ConfigError, match="invalid baseline name"):
            _store(tmp_path).save_baseline(bad, _report())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is not a database, just text\n" * 50, "is not a dbprobe history file"),
        (b"SQLite format 3\x00" + b"\xff" * 200, "is not a dbprobe history file"),
    ],
    ids=["text", "truncated-sqlite"],
)
def test_a_corrupt_file_is_a_one_line_usage_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "history.sqlite3"
    path.write_bytes(content)
    store = HistoryStore(path)
    for action in (
        store.baselines,
        lambda: store.baseline("main"),
        lambda: store.record(_report()),
    ):
        with pytest.raises(HistoryFileError, match=message) as info:
            action()
        assert str(path) in str(info.value)
        assert "\n" not in str(info.value)
    assert path.read_bytes() == content  # never "repaired" behind the user's back


def test_a_foreign_sqlite_database_or_a_newer_format_is_refused(tmp_path: Path) -> None:
    foreign = tmp_path / "app.sqlite3"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    conn.close()
    with pytest.raises(HistoryFileError, match="SQLite database of another program"):
        HistoryStore(foreign).save_baseline("main", _report())
    newer = tmp_path / "newer.sqlite3"
    _store(tmp_path, "newer.sqlite3").record(_report())
    with sqlite3.connect(newer) as conn:
        conn.execute("UPDATE dbprobe_meta SET value = 'dbprobe.history/9' WHERE key = 'format'")
    conn.close()
    with pytest.raises(
        HistoryFileError,
        match=f"has history format 'dbprobe.history/9'; this dbprobe reads '{FORMAT}'",
    ):
        HistoryStore(newer).runs()


def test_a_directory_or_a_tampered_report_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(HistoryFileError, match="cannot open history file"):
        HistoryStore(tmp_path).record(_report())
    store = _store(tmp_path)
    store.save_baseline("main", _report())
    with sqlite3.connect(store.path) as conn:
        conn.execute('UPDATE baselines SET report = \'{"schema": "other/1"}\'')
    conn.close()
    with pytest.raises(
        HistoryFileError, match=r"baseline 'main' in .* is not a readable dbprobe.report/1 report"
    ):
        store.baseline("main")


def test_recorded_runs_are_listed_in_run_order_with_their_figures(tmp_path: Path) -> None:
    store = _store(tmp_path)
    later = _report(1, started_at=synthetic.T0 + dt.timedelta(hours=1))
    first_id = store.record(later, label="abc123")
    second_id = store.record(_report(2))  # started earlier
    store.record(_report(3, probe="repo"))
    runs = store.runs(probe="uow")
    assert [r.id for r in runs] == [second_id, first_id]
    assert runs[1].label == "abc123"
    assert len(store.runs()) == 3
    points = store.operation_points("uow", "read", backend="sqlite", scale="tiny")
    assert [p.run_id for p in points] == [second_id, first_id]
    assert points[1].count == 200
    assert points[1].p50_ms == pytest.approx(later.operation("read").latency_ms.p50_ms, rel=0.002)
    assert report_to_dict(store.run_report(first_id)) == report_to_dict(later)
    with pytest.raises(UsageError, match="no recorded run 999"):
        store.run_report(999)


def test_the_default_path_is_the_environment_then_the_data_directory(tmp_path: Path) -> None:
    assert default_history_path({"DBPROBE_HISTORY": str(tmp_path / "h.db")}) == tmp_path / "h.db"
    assert default_history_path({"DBPROBE_DATA_DIR": str(tmp_path)}) == tmp_path / "history.sqlite3"
