"""Outputs: checked before the run, written one by one after it, each whole or not at all.

A path that cannot be written, a bad baseline name, a missing baseline or
an SLO naming an unknown operation is one line and exit 2 *before* any
connection (the SQLite target file is never created); a write that still
fails after the run (a full disk) loses only that output; a failed write
leaves the old file as it was.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from dbprobe.database.url import Target
from tests.cli import run_dbprobe

FIXTURES = Path(__file__).parents[2] / "fixtures" / "reports"
SCENARIOS = Path(__file__).parents[2] / "examples" / "scenarios.py"


@pytest.fixture
def places(tmp_path: Path) -> Path:
    """A directory, a regular file, a corrupt history store and a report beside the target."""
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("not a directory\n")
    (tmp_path / "busy" / "suite.md").mkdir(parents=True)
    (tmp_path / "corrupt.sqlite3").write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    with sqlite3.connect(tmp_path / "foreign.sqlite3") as conn:
        conn.execute("CREATE TABLE t (x)")
    conn.close()
    return tmp_path


# (arguments, words the one line on stderr must hold); {d} is the test's directory.
CASES = [
    (["uow", "--json", "{d}/adir"], ["--json", "is a directory"]),
    (["uow", "--json", ""], ["--json", "an empty path"]),
    (
        ["uow", "--markdown", "/proc/dbprobe-report.md"],
        ["--markdown", "cannot create a file in /proc"],
    ),
    (["uow", "--html", "{d}/afile/r.html"], ["--html", "afile is a file, not a directory"]),
    (
        ["uow", "--export", "pytest-benchmark", "{d}/adir"],
        ["--export pytest-benchmark", "is a directory"],
    ),
    (["uow", "--export", "bogus", "{d}/b.json"], ["--export", "unknown KIND 'bogus'"]),
    (["uow", "--export", "pytest-benchmark", ""], ["--export pytest-benchmark", "empty path"]),
    (
        ["uow", "--json", "{d}/a.json", "--markdown", "{d}/a.json"],
        ["--markdown", "also the file of --json"],
    ),
    (["uow", "--json", "{d}/t.db"], ["--json", "also the database file measured"]),
    (["uow", "--save-baseline", ""], ["invalid baseline name ''"]),
    (["uow", "--save-baseline", "no spaces"], ["invalid baseline name 'no spaces'"]),
    (["uow", "--compare", "nosuch", "--history", "{d}/h.sqlite3"], ["no baseline named 'nosuch'"]),
    (["uow", "--compare", "{d}/missing.json"], ["cannot read report", "missing.json"]),
    (["uow", "--record", "--history", "{d}/adir"], ["history store", "is a directory"]),
    (["uow", "--record", "--history", "{d}/corrupt.sqlite3"], ["not a dbprobe history file"]),
    (["uow", "--record", "--history", "{d}/foreign.sqlite3"], ["another program"]),
    (["uow", "--record", "--history", ""], ["--history", "an empty path"]),
    (["uow", "--slo", "nosuch:p99<20ms"], ["SLO 'nosuch:p99<20ms'", "read_program"]),
    (["uow", "--mix", "read_program=1", "--slo", "create_program:p99<20ms"], ["create_program"]),
    (["repo", "--slo", "nosuch:p50<1ms"], ["SLO 'nosuch:p50<1ms'", "movement_get"]),
    (["select", "--via", "core", "--slo", "orm:p50<1ms"], ["SLO 'orm:p50<1ms'", "(core)"]),
    (["run", str(SCENARIOS), "--slo", "nosuch:p50<1ms"], ["SLO 'nosuch:p50<1ms'", "view_program"]),
    (["pool", "--slo", "nosuch:p50<1ms"], ["SLO 'nosuch:p50<1ms'", "(hold)"]),
    (["pool", "--json", "{d}/adir"], ["--json", "is a directory"]),
    (["deadlock", "--markdown", "{d}/adir"], ["--markdown", "is a directory"]),
    (["isolation", "--html", "{d}/adir"], ["--html", "is a directory"]),
    (["suite", "--out", "{d}/afile"], ["--out", "is a file, not a directory"]),
    (["suite", "--out", "{d}/busy"], ["--out", "suite.md is a directory"]),
    (["suite", "--out", "{d}/o", "--save-baseline", ""], ["invalid baseline name"]),
    (["suite", "--out", "{d}/o", "--compare", "nosuch"], ["no baseline named 'nosuch/uow'"]),
]


@pytest.mark.parametrize(("args", "words"), CASES, ids=[" ".join(a) for a, _ in CASES])
def test_an_output_that_cannot_be_made_is_refused_before_any_connection(
    places: Path, args: list[str], words: list[str]
) -> None:
    target = places / "t.db"
    argv = [a.replace("{d}", str(places)) for a in args]
    seeded = [] if argv[0] == "isolation" else ["--scale", "tiny"]  # it seeds nothing
    result = run_dbprobe(
        [*argv, "--db", f"sqlite+aiosqlite:///{target}", *seeded],
        places,
        timeout=60,
    )
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert "running" not in result.stderr
    # Nothing ran: the SQLite target was never opened, so never created.
    assert not target.exists()
    assert not (places / "o").exists()


OFFLINE_CASES = [
    (["report", "{r}/select.json", "--markdown", "{d}/adir"], ["--markdown", "is a directory"]),
    (["report", "{r}/select.json", "--markdown", "/tmp"], ["--markdown /tmp", "is a directory"]),
    (["report", "{r}/select.json", "--export", "bogus", "{d}/x.json"], ["unknown KIND 'bogus'"]),
    (
        ["merge", "{r}/uow.json", "{r}/select.json", "--json", "/tmp"],
        ["--json /tmp", "is a directory"],
    ),
    (
        ["compare", "{r}/uow.json", "{r}/uow_gate.json", "--html", "{d}/adir"],
        ["--html", "is a directory"],
    ),
]


@pytest.mark.parametrize(
    ("args", "words"), OFFLINE_CASES, ids=[" ".join(a) for a, _ in OFFLINE_CASES]
)
def test_report_merge_and_compare_refuse_an_unwritable_output_in_one_line(
    places: Path, args: list[str], words: list[str]
) -> None:
    argv = [a.replace("{d}", str(places)).replace("{r}", str(FIXTURES)) for a in args]
    result = run_dbprobe(argv, places, timeout=60)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_every_format_creates_its_missing_parent_directories(tmp_path: Path) -> None:
    # One rule for every format (README "Output files"): missing parents are made.
    result = run_dbprobe(
        [
            "report",
            str(FIXTURES / "select.json"),
            "--markdown",
            str(tmp_path / "no/such/dir/r.md"),
            "--export",
            "pytest-benchmark",
            str(tmp_path / "other/dir/p.json"),
            "--export",
            "github-action-benchmark",
            str(tmp_path / "third/c.json"),
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "no/such/dir/r.md").read_text().startswith("#")
    assert '"benchmarks"' in (tmp_path / "other/dir/p.json").read_text()
    assert '"unit": "ms"' in (tmp_path / "third/c.json").read_text()


def test_a_full_disk_after_the_run_loses_only_that_output(tmp_path: Path) -> None:
    # /dev/full refuses every write with ENOSPC, as a disk that filled up
    # during the run would: it passes the check before the run (it is
    # writable), and fails when written.
    db = tmp_path / "t.db"
    result = run_dbprobe(
        [
            "select",
            "--db",
            f"sqlite+aiosqlite:///{db}",
            "--scale",
            "tiny",
            "--via",
            "core",
            "--threads",
            "1",
            "--transactions",
            "10",
            "--warmup",
            "0",
            "--markdown",
            "/dev/full",
            "--json",
            str(tmp_path / "out/r.json"),
            "--export",
            "github-action-benchmark",
            str(tmp_path / "out/c.json"),
            "--save-baseline",
            "main",
            "--history",
            str(tmp_path / "h.sqlite3"),
        ],
        tmp_path,
    )
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error" in line]
    assert errors == ["dbprobe: error: --markdown /dev/full not written: No space left on device"]
    assert "Traceback" not in result.stderr
    # The console report was still printed, every other output written.
    assert "core" in result.stdout
    assert '"schema": "dbprobe.report/1"' in (tmp_path / "out/r.json").read_text()
    assert '"name": "select::core[sqlite-tiny] p50"' in (tmp_path / "out/c.json").read_text()
    listed = run_dbprobe(["baseline", "list", "--history", str(tmp_path / "h.sqlite3")], tmp_path)
    assert listed.stdout.startswith("main"), listed.stdout


def test_a_failed_write_leaves_the_old_file_intact(tmp_path: Path) -> None:
    # Every write past 2 KiB fails (EFBIG), as on a nearly full disk: the HTML
    # page (~120 KB) and the pytest-benchmark export (~4 KB) cannot be
    # written, the Markdown (~1.3 KB) and the custom export (<1 KB) can.
    old_html = tmp_path / "r.html"
    old_html.write_text("<html>the previous report</html>\n")
    old_export = tmp_path / "p.json"
    old_export.write_text('{"previous": true}\n')
    result = run_dbprobe(
        [
            "report",
            str(FIXTURES / "select.json"),
            "--html",
            str(old_html),
            "--export",
            "pytest-benchmark",
            str(old_export),
            "--markdown",
            str(tmp_path / "r.md"),
            "--export",
            "github-action-benchmark",
            str(tmp_path / "c.json"),
        ],
        tmp_path,
        max_file_bytes=2048,
    )
    assert old_html.read_text() == "<html>the previous report</html>\n"
    assert old_export.read_text() == '{"previous": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.json", "p.json", "r.html", "r.md"]
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"dbprobe: error: --html {old_html} not written: File too large",
        f"dbprobe: error: --export pytest-benchmark {old_export} not written: File too large",
    ]
    assert (tmp_path / "r.md").read_text().startswith("#")
    assert '"unit": "ms"' in (tmp_path / "c.json").read_text()


def test_a_suite_whose_disk_fills_up_keeps_the_files_that_fit(
    tmp_path: Path, pg_target: Target
) -> None:
    # On PostgreSQL, so that the only files written are the suite's: every
    # write past 3 KiB fails (EFBIG), as on a nearly full disk.
    out = tmp_path / "out"
    result = run_dbprobe(
        [
            "suite",
            "--db",
            pg_target.url.render_as_string(hide_password=False),
            "--scale",
            "tiny",
            "--only",
            "repo",
            "--repo-transactions",
            "2",
            "--no-html",
            "--quiet",
            "--out",
            str(out),
        ],
        tmp_path,
        max_file_bytes=16384,
    )
    assert result.returncode == 2, result.stderr
    # The repo report (~80 KB) and its pytest-benchmark export (~33 KB) do not
    # fit; the Markdown and the custom export do.
    errors = [line for line in result.stderr.splitlines() if line.startswith("dbprobe:")]
    assert errors == [
        f"dbprobe: error: --out {out / 'repo.json'} not written: File too large",
        f"dbprobe: error: --out {out / 'pytest-benchmark.json'} not written: File too large",
    ]
    assert sorted(p.name for p in out.iterdir()) == ["benchmark-custom.json", "suite.md"]
    assert f"wrote {out / 'suite.md'}, {out / 'benchmark-custom.json'}" in result.stdout
    assert (
        '"name": "repo::movement_get[postgresql-tiny] p50"'
        in (out / "benchmark-custom.json").read_text()
    )
