"""Hostile input that once ended in a traceback: now one line naming what is wrong, exit 2.

Huge seeds, a scenario path longer than the system allows, report files whose
histograms, operations, nesting or timeline are corrupt, and a run merged
with itself.
"""

from __future__ import annotations

import base64
import copy
import json
import random
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run_dbprobe


def assert_one_line_exit_2(result: Any, *fragments: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.fixture(scope="module")
def good_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real report of a short uow run on SQLite."""
    tmp = tmp_path_factory.mktemp("good")
    path = tmp / "good.json"
    result = run_dbprobe(
        [
            *("uow", "--scale", "tiny", "--threads", "2", "--duration", "0.3", "--warmup", "0"),
            *("--quiet", "--json", str(path)),
        ],
        tmp,
    )
    assert result.returncode == 0, result.stderr
    return path


def _variant(
    good: Path, tmp_path: Path, name: str, change: Callable[[dict[str, Any]], Any]
) -> Path:
    data = copy.deepcopy(json.loads(good.read_text()))
    change(data)
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


# --- huge seeds --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["uow", "--seed", "99999999999999999999999"],
        ["seed", "--seed", "1180591620717411303424"],
        ["seed", "--seed", str(2**63)],
    ],
    ids=["uow", "seed", "2**63"],
)
def test_a_seed_beyond_64_bits_is_refused_naming_the_range(args: list[str], tmp_path: Path) -> None:
    result = run_dbprobe([*args, "--scale", "tiny"], tmp_path)
    assert_one_line_exit_2(result, "--seed", str(2**63 - 1))
    assert not (tmp_path / "data" / "dbprobe.sqlite3").exists()  # refused before connecting


def test_the_largest_seed_is_accepted_and_seeds(tmp_path: Path) -> None:
    result = run_dbprobe(["seed", "--scale", "tiny", "--seed", str(2**63 - 1)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"(seed {2**63 - 1})" in result.stdout


# --- --db ------------------------------------------------------------------------------


def test_an_empty_db_is_refused_and_clean_keeps_the_default_file(tmp_path: Path) -> None:
    # `clean --db "$UNSET"` used to mean the default SQLite file, and deleted it.
    seeded = run_dbprobe(["seed", "--scale", "tiny"], tmp_path)
    assert seeded.returncode == 0, seeded.stderr
    default = tmp_path / "data" / "dbprobe.sqlite3"
    before = default.stat().st_size
    for args in (["clean", "--db", ""], ["uow", "--db", " ", "--scale", "tiny"]):
        assert_one_line_exit_2(run_dbprobe(args, tmp_path), "--db", "an empty URL")
    assert default.stat().st_size == before


def test_an_sqlite_file_whose_directory_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    result = run_dbprobe(
        ["uow", "--db", "sqlite+aiosqlite:////proc/nonexistent/x.db", "--scale", "tiny"], tmp_path
    )
    assert_one_line_exit_2(result, "/proc/nonexistent/x.db", "directory cannot be made")


# --- a scenario path longer than NAME_MAX ------------------------------------------------


@pytest.mark.parametrize(
    "name", ["a" * 300 + ".py", "a" * 300, "a" * 300 + ":attr"], ids=["file.py", "bare", "attr"]
)
def test_a_scenario_path_over_name_max_is_one_line(name: str, tmp_path: Path) -> None:
    result = run_dbprobe(
        ["run", name, "--scale", "tiny", "--duration", "0.2"], tmp_path, cwd=tmp_path
    )
    assert_one_line_exit_2(result, "scenario file", "File name too long")


# --- corrupt report files ----------------------------------------------------------------


def _set_histogram(value: Any) -> Callable[[dict[str, Any]], None]:
    def change(data: dict[str, Any]) -> None:
        data["operations"][0]["histogram"] = value

    return change


def _random_base64() -> str:
    return base64.b64encode(random.Random(15).randbytes(64)).decode()


CORRUPT_REPORTS: list[tuple[str, Callable[[dict[str, Any]], Any], list[str]]] = [
    ("bad-base64", _set_histogram("!!!not base64"), ["histogram", "not a valid encoded"]),
    ("random-bytes", _set_histogram(_random_base64()), ["histogram", "not a valid encoded"]),
    ("empty", _set_histogram(""), ["histogram", "not a valid encoded"]),
    ("null", _set_histogram(None), ["histogram", "got null"]),
    (
        "commit-null",
        lambda d: d["operations"][0].__setitem__("commit_histogram", 7),
        ["commit_histogram", "got a number"],
    ),
    ("operations-str", lambda d: d.__setitem__("operations", "str"), ['"operations"', "a string"]),
    ("findings-list", lambda d: d.__setitem__("findings", [1]), ['"findings"', "a number"]),
    ("count-inf", lambda d: d["operations"][0].__setitem__("count", 1e999), ["malformed"]),
    # Found by mutating a report's fields at random:
    ("name-object", lambda d: d["operations"][0].__setitem__("name", {}), ['"name"', "an object"]),
    ("section-nan", lambda d: d.__setitem__("timeline", float("nan")), ['"timeline"', "a number"]),
]


READERS = [["compare", "{good}"], ["report"], ["merge", "{good}"], ["baseline", "save", "b"]]
# Every reader reads through read_report: the four broken histograms the issue names go
# through each of them, the other cases through one each, in turn (each run is a process).
_CORRUPT_CASES = [
    pytest.param(command, *case, id=f"{case[0]}-{command[0]}")
    for index, case in enumerate(CORRUPT_REPORTS)
    for command in (READERS if index < 4 else [READERS[index % len(READERS)]])
]


@pytest.mark.parametrize(("command", "name", "change", "fragments"), _CORRUPT_CASES)
def test_a_corrupt_report_is_one_line_naming_the_file(
    command: list[str],
    name: str,
    change: Callable[[dict[str, Any]], Any],
    fragments: list[str],
    good_report: Path,
    tmp_path: Path,
) -> None:
    bad = _variant(good_report, tmp_path, f"{name}.json", change)
    args = [a.format(good=good_report) for a in command] + [str(bad)]
    result = run_dbprobe(args, tmp_path)
    assert_one_line_exit_2(result, str(bad), *fragments)
    if command[0] == "baseline":  # refused, not stored
        listed = run_dbprobe(["baseline", "list"], tmp_path)
        assert "no baselines" in listed.stdout


@pytest.mark.parametrize("command", [["compare", "{good}"], ["report"], ["merge", "{good}"]])
def test_a_deeply_nested_json_array_is_one_line(
    command: list[str], good_report: Path, tmp_path: Path
) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text(
        '{"schema": "dbprobe.report/1", "operations": ' + "[" * 100_000 + "]" * 100_000 + "}"
    )
    args = [a.format(good=good_report) for a in command] + [str(deep)]
    result = run_dbprobe(args, tmp_path)
    assert_one_line_exit_2(result, str(deep), "nested too deeply")


def _first_point(d: dict[str, Any]) -> dict[str, Any]:
    point: dict[str, Any] = d["timeline"]["points"][0]
    return point


MALFORMED_TIMELINES: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
    ("points-str", lambda d: d["timeline"].__setitem__("points", "str"), "has no attribute"),
    ("points-ints", lambda d: d["timeline"].__setitem__("points", [1, 2]), "has no attribute"),
    ("missing-t_s", lambda d: _first_point(d).pop("t_s"), "missing 't_s'"),
    ("commits-null", lambda d: _first_point(d).__setitem__("commits", None), "NoneType"),
    ("t_s-text", lambda d: _first_point(d).__setitem__("t_s", "abc"), "'abc'"),
    ("histogram-pair", lambda d: _first_point(d).__setitem__("histogram", [[1]]), "unpack"),
]


@pytest.mark.parametrize(
    ("name", "change", "fragment"), MALFORMED_TIMELINES, ids=[c[0] for c in MALFORMED_TIMELINES]
)
def test_merge_refuses_malformed_timeline_points_naming_the_file(
    name: str,
    change: Callable[[dict[str, Any]], Any],
    fragment: str,
    good_report: Path,
    tmp_path: Path,
) -> None:
    bad = _variant(good_report, tmp_path, f"{name}.json", change)
    result = run_dbprobe(["merge", str(good_report), str(bad)], tmp_path)
    assert_one_line_exit_2(result, str(bad), "cannot be merged", "timeline", fragment)


# --- the same run merged twice -----------------------------------------------------------


def test_merge_refuses_the_same_run_twice(good_report: Path, tmp_path: Path) -> None:
    copied = tmp_path / "copy.json"
    shutil.copy(good_report, copied)
    for args in ([str(good_report), str(good_report)], [str(good_report), str(copied)]):
        result = run_dbprobe(["merge", *args, "--json", str(tmp_path / "m.json")], tmp_path)
        assert_one_line_exit_2(result, args[0], args[1], "give each run once")
        assert not (tmp_path / "m.json").exists()


def test_merge_refuses_a_merged_report_with_one_of_its_parts(
    good_report: Path, tmp_path: Path
) -> None:
    # Another run: its own start time (a second real run is not needed to tell them apart).
    other = _variant(
        good_report,
        tmp_path,
        "other.json",
        lambda d: d["run"].__setitem__("started_at", "2026-01-02T03:04:05.000006+00:00"),
    )
    merged = tmp_path / "merged.json"
    ok = run_dbprobe(["merge", str(good_report), str(other), "--json", str(merged)], tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert [p["operations"] for p in json.loads(merged.read_text())["merge"]["reports"]]
    result = run_dbprobe(["merge", str(merged), str(other)], tmp_path)
    assert_one_line_exit_2(result, str(merged), str(other), "2026-01-02T03:04:05.000006")


# --- found by the fuzz test (tests/cli/test_fuzz_cli.py) ---------------------------------


def test_an_export_of_a_command_without_metric_is_written(
    good_report: Path, tmp_path: Path
) -> None:
    # merge, pool, deadlock and isolation have no --metric: their --export raised
    # AttributeError after the run.
    exported = tmp_path / "bench.json"
    args = [
        "merge",
        str(good_report),
        "--quiet",
        "--export",
        "github-action-benchmark",
        str(exported),
    ]
    result = run_dbprobe(args, tmp_path)
    assert result.returncode == 0, result.stderr
    entries = json.loads(exported.read_text())
    operations = json.loads(good_report.read_text())["operations"]
    names = {op["name"] for op in operations if op["commits"]}  # what has a figure
    assert len(entries) == len(names)
    for name in names:  # one entry per operation, e.g. "uow::read_program[sqlite-tiny] p50"
        assert sum(f"::{name}[" in e["name"] for e in entries) == 1, entries


@pytest.mark.parametrize(
    ("name", "report_json"),
    [
        ("count-inf", lambda good: good.replace('"count": ', '"count": 1e999, "was": ', 1)),
        (
            "deep",
            lambda good: (
                '{"schema": "dbprobe.report/1", "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
            ),
        ),
    ],
    ids=["count-inf", "deep"],
)
def test_a_corrupt_stored_baseline_is_one_line_naming_the_history_file(
    name: str, report_json: Callable[[str], str], good_report: Path, tmp_path: Path
) -> None:
    history = tmp_path / "history.sqlite3"
    saved = run_dbprobe(
        ["baseline", "save", "main", str(good_report), "--history", str(history)], tmp_path
    )
    assert saved.returncode == 0, saved.stderr
    with sqlite3.connect(history) as conn:  # as a disk error or another program might leave it
        conn.execute("UPDATE baselines SET report = ?", (report_json(good_report.read_text()),))
    for args in (["baseline", "show", "main"], ["compare", "main", str(good_report)]):
        result = run_dbprobe([*args, "--history", str(history)], tmp_path)
        assert_one_line_exit_2(result, str(history), "baseline 'main'", "not a readable")


@pytest.mark.parametrize(
    "args",
    [["history", "uow", "read_program"], ["report", "{report}", "--compare", "main"]],
    ids=["history", "report --compare"],
)
def test_a_history_path_over_name_max_is_one_line(
    args: list[str], tmp_path: Path, good_report: Path
) -> None:
    # Found by the fuzz test: os.stat raised ENAMETOOLONG out of the store's checks.
    argv = [a.replace("{report}", str(good_report)) for a in args]
    result = run_dbprobe([*argv, "--history", "a" * 300], tmp_path, cwd=tmp_path)
    assert_one_line_exit_2(result, "history", "File name too long")
