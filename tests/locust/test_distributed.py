"""Locust's master and workers running dbprobe users against PostgreSQL, as real processes.

Accounting only, never durations or rates: what Locust counted, dbprobe
counted too (but for the operations in flight when the users stopped), each
operation issued the statements a single-process dbprobe run issues, and a
lost worker is named with what it had sent kept.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.locust.conftest import (
    FINAL_STATS,
    SCENARIOS,
    UOW_OPERATIONS,
    assert_counts_match_locust,
    csv_counts,
    free_port,
    locust_counts,
    master_args,
    read_json,
    worker_args,
)

pytestmark = pytest.mark.postgres

USERS = 6


@pytest.fixture(scope="module")
def single_process_uow(locust_db: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``dbprobe uow`` in one process on the same database: the statements of reference."""
    out = tmp_path_factory.mktemp("uow") / "uow.json"
    subprocess.run(
        [
            *(sys.executable, "-m", "dbprobe", "uow", "--db", locust_db, "--scale", "tiny"),
            *("--threads", "2", "--transactions", "15", "--warmup", "0", "--quiet"),
            *("--mix", "create_program=1,reschedule_session=1,read_program=1"),
            *("--json", str(out)),
        ],
        check=True,
        timeout=120,
    )
    return read_json(out)


def _queries(report: dict[str, Any]) -> dict[str, tuple[float, int]]:
    return {
        op["name"]: (op["queries"]["per_op_mean"], op["queries"]["per_op_max"])
        for op in report["operations"]
        if op["commits"]
    }


def test_master_and_two_workers_report_what_locust_counted_with_the_statements_of_one_process(
    locust: Any, locust_db: str, tmp_path: Path, single_process_uow: dict[str, Any]
) -> None:
    port = free_port()
    report_path, csv_prefix = tmp_path / "merged.json", tmp_path / "locust"
    master = locust(
        "master",
        *master_args(port, workers=2),
        "--headless",
        "-u",
        str(USERS),
        "-r",
        str(USERS),
        "-t",
        "5s",
        "--csv",
        str(csv_prefix),
        *FINAL_STATS,
        "--dbprobe-db",
        locust_db,
        "--dbprobe-scale",
        "tiny",
        # Every type often enough to be in Locust's CSV, which is written each
        # second from the workers' stats, sent every 3 s: not the last ones.
        "--dbprobe-mix",
        "create_program=1,reschedule_session=1,read_program=1",
        "--dbprobe-json",
        str(report_path),
    )
    workers = [locust(f"worker{i}", *worker_args(port)) for i in (1, 2)]
    ran = master.wait()
    assert ran.returncode == 0, ran.stderr
    assert [w.wait().returncode for w in workers] == [0, 0]

    # Locust's own outputs: a row per uow transaction type, each with requests.
    in_csv = csv_counts(csv_prefix)
    assert set(in_csv) == set(UOW_OPERATIONS)
    assert all(n > 0 for n in in_csv.values()), in_csv

    report = read_json(report_path)
    assert report["schema"] == "dbprobe.report/1"
    assert report["run"]["probe"] == "uow"
    assert_counts_match_locust(report, locust_counts(ran.stdout), in_flight=USERS)
    # Two workers reported, and stopped; the merged counts are theirs added up.
    section = report["locust"]
    assert [w["state"] for w in section["workers"]] == ["stopped", "stopped"]
    assert section["lost"] == []
    for op in report["operations"]:
        assert op["count"] == sum(w["operations"][op["name"]] for w in section["workers"])
        assert op["count"] == op["commits"] + op["errors"]
    # The exact histograms merged: as many latencies as committed operations.
    assert all(op["latency_ms"]["count"] == op["commits"] for op in report["operations"])
    # What each operation issued is what it issues in one process.
    assert _queries(report) == _queries(single_process_uow)


def test_processes_2_runs_a_scenario_file_unchanged_and_names_its_n_plus_one(
    locust: Any, locust_db: str, tmp_path: Path
) -> None:
    port = free_port()
    report_path = tmp_path / "run.json"
    # --processes forks the workers; they connect to --master-port.
    master = locust(
        "master",
        "--processes",
        "2",
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        str(port),
        "--master-port",
        str(port),
        "--headless",
        "-u",
        "4",
        "-r",
        "4",
        # Long enough for the lazy scenario (weight 1 of 6) to run on a busy machine.
        "-t",
        "5s",
        *FINAL_STATS,
        "--dbprobe-db",
        locust_db,
        "--dbprobe-scale",
        "tiny",
        "--dbprobe-scenarios",
        str(SCENARIOS),
        "--dbprobe-json",
        str(report_path),
    )
    ran = master.wait()
    assert ran.returncode == 0, ran.stderr
    report = read_json(report_path)
    assert report["run"]["probe"] == "run"
    assert_counts_match_locust(report, locust_counts(ran.stdout), in_flight=4)
    assert len(report["locust"]["workers"]) == 2
    assert report["locust"]["lost"] == []
    (finding,) = [f for f in report["findings"] if f["kind"] == "n_plus_one"]
    assert finding["operation"] == "week_overview_lazy"
    assert "Microcycle.sessions" in finding["message"]
    assert finding["evidence"]["location"].startswith(f"{SCENARIOS}:")
    # Both processes saw it: its tallies add up over them.
    lazy = next(op for op in report["operations"] if op["name"] == "week_overview_lazy")
    assert finding["evidence"]["operations_checked"] == lazy["commits"]


def _wait_for(process: Any, text: str, *, timeout_s: float = 60) -> str:
    """Poll a process's stderr until a line contains ``text`` (no fixed sleep)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for line in process.stderr_so_far().splitlines():
            if text in line:
                return line
        assert process.popen.poll() is None, process.stderr_so_far()
        time.sleep(0.1)
    raise AssertionError(f"no line with {text!r}: {process.stderr_so_far()}")


def test_a_worker_killed_mid_run_is_named_and_what_it_sent_is_kept(
    locust: Any, locust_db: str, tmp_path: Path
) -> None:
    port = free_port()
    report_path = tmp_path / "merged.json"
    # 12 s, not 6: in one CI run the victim's first report had not come when a 6 s
    # run ended (it had missed its heartbeats for a while on the busy machine).
    master = locust(
        "master",
        *master_args(port, workers=2),
        "--headless",
        "-u",
        "4",
        "-r",
        "4",
        "-t",
        "12s",
        *FINAL_STATS,
        "--dbprobe-db",
        locust_db,
        "--dbprobe-scale",
        "tiny",
        "--dbprobe-json",
        str(report_path),
    )
    workers = [locust(f"worker{i}", *worker_args(port)) for i in (1, 2)]
    victim = workers[0]
    # The master says so when a worker's first dbprobe report arrives.
    _wait_for(master, f"(pid {victim.popen.pid} ")
    os.kill(victim.popen.pid, signal.SIGKILL)
    ran = master.wait()
    assert ran.returncode == 0, ran.stderr
    assert workers[1].wait().returncode == 0

    report = read_json(report_path)
    section = report["locust"]
    states = {w["pid"]: w["state"] for w in section["workers"]}
    assert states == {victim.popen.pid: "lost", workers[1].popen.pid: "stopped"}
    lost = next(w for w in section["workers"] if w["state"] == "lost")
    assert section["lost"] == [lost["worker"]]
    (finding,) = [f for f in report["findings"] if f["kind"] == "worker_lost"]
    assert finding["evidence"]["pid"] == victim.popen.pid
    assert finding["evidence"]["worker"] == lost["worker"]
    kept = sum(lost["operations"].values())
    assert kept > 0
    assert finding["evidence"]["operations"] == kept
    assert f"pid {victim.popen.pid}" in finding["message"]
    # What the lost worker had sent is in the merged counts.
    for op in report["operations"]:
        assert op["count"] == sum(w["operations"][op["name"]] for w in section["workers"])
    # What Locust counted, dbprobe counted, but for operations that ended while the
    # lost worker's last report was being made (at most one per user). Not the other
    # way round: a worker sends its dbprobe report just before Locust's stats, and
    # one killed between the two leaves the master the first only.
    counted = locust_counts(ran.stdout)
    behind = {op["name"]: counted.get(op["name"], 0) - op["count"] for op in report["operations"]}
    assert sum(n for n in behind.values() if n > 0) <= 4, (behind, counted)


def test_the_repo_catalogue_in_one_process_names_its_lazy_variants_n_plus_ones(
    locust: Any, locust_db: str, tmp_path: Path
) -> None:
    report_path = tmp_path / "repo.json"
    ran = locust(
        "local",
        *("--headless", "-u", "3", "-r", "3", "-t", "3s", *FINAL_STATS),
        *("--dbprobe-db", locust_db, "--dbprobe-scale", "tiny", "--dbprobe-probe", "repo"),
        *("--dbprobe-json", str(report_path)),
    ).wait()
    # The lazy variants' N+1s are warnings: they fail the run only when asked to.
    assert ran.returncode == 0, ran.stderr
    report = read_json(report_path)
    assert report["run"]["probe"] == "repo"
    assert len(report["operations"]) == 27  # the whole catalogue, each a Locust name
    ran_ops = {op["name"]: op["count"] for op in report["operations"] if op["count"]}
    assert_counts_match_locust(
        {"operations": [{"name": n, "count": c} for n, c in ran_ops.items()]},
        locust_counts(ran.stdout),
        in_flight=3,
    )
    lazy = {f["operation"] for f in report["findings"] if f["kind"] == "n_plus_one"}
    assert lazy <= {n for n in ran_ops if "lazy" in n}
    assert lazy  # at least one lazy variant ran in 3 s, and was named


def test_sigterm_to_the_master_gathers_the_workers_last_reports_and_says_interrupted(
    locust: Any, locust_db: str, tmp_path: Path
) -> None:
    port = free_port()
    report_path = tmp_path / "merged.json"
    master = locust(
        "master",
        *master_args(port, workers=2),
        *("--headless", "-u", "4", "-r", "4", "-t", "60s", *FINAL_STATS),
        *("--dbprobe-db", locust_db, "--dbprobe-scale", "tiny"),
        *("--dbprobe-json", str(report_path)),
    )
    workers = [locust(f"worker{i}", *worker_args(port)) for i in (1, 2)]
    for worker in workers:
        _wait_for(master, f"(pid {worker.popen.pid} ")
    master.popen.send_signal(signal.SIGTERM)
    ran = master.wait()
    assert ran.returncode == 0, ran.stderr
    assert [w.wait().returncode for w in workers] == [0, 0]
    report = read_json(report_path)
    assert report["run"]["interrupted"] is True
    assert [w["state"] for w in report["locust"]["workers"]] == ["stopped", "stopped"]
    assert_counts_match_locust(report, locust_counts(ran.stdout), in_flight=4)


def test_a_worker_sent_the_spawn_before_locust_fires_init_runs_its_users(
    locust: Any, locust_db: str, tmp_path: Path
) -> None:
    port = free_port()
    report_path = tmp_path / "merged.json"
    master = locust(
        "master",
        *master_args(port, workers=1),
        *("--headless", "-u", "2", "-r", "2", "-t", "3s", *FINAL_STATS),
        *("--dbprobe-db", locust_db, "--dbprobe-scale", "tiny"),
        *("--dbprobe-json", str(report_path)),
    )
    worker = locust(
        "worker", *worker_args(port), locustfile=Path(__file__).with_name("late_init_locustfile.py")
    )
    ran = master.wait()
    assert ran.returncode == 0, ran.stderr
    done = worker.wait()
    assert done.returncode == 0, done.stderr
    assert "not initialised" not in done.stderr
    report = read_json(report_path)
    assert [w["state"] for w in report["locust"]["workers"]] == ["stopped"]
    assert sum(op["count"] for op in report["operations"]) > 0
    assert_counts_match_locust(report, locust_counts(ran.stdout), in_flight=2)
