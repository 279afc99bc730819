"""Locust as real processes on 127.0.0.1, against a PostgreSQL database of these tests' own.

Locust monkey-patches the standard library with gevent when it is imported,
so the tests never import it: every Locust run is a subprocess
(``python -m locust``), its output in files (no pipe to fill up), and its
master on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dbprobe.database.url import Target

REPO = Path(__file__).resolve().parents[2]
LOCUSTFILE = Path(__file__).with_name("paced_locustfile.py")
SCENARIOS = REPO / "examples" / "scenarios.py"
UOW_OPERATIONS = ("create_program", "reschedule_session", "read_program")
# Generous: starting Locust (imports, gevent) and seeding take seconds on a busy machine.
PROCESS_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _admin(target: Target, sql: str) -> None:
    import asyncpg

    admin = target.url.set(drivername="postgresql", database="postgres")
    conn = await asyncio.wait_for(asyncpg.connect(admin.render_as_string(hide_password=False)), 5)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def locust_db(pg_target: Target) -> Iterator[str]:
    """A database for the Locust tests alone (their users write programs), dropped after."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    name = f"dbprobe_locust_{worker}_{os.getpid()}"
    asyncio.run(_admin(pg_target, f'CREATE DATABASE "{name}"'))
    try:
        yield pg_target.url.set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_admin(pg_target, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@dataclass
class Ran:
    """A finished process: its exit status and what it wrote."""

    returncode: int
    stdout: str
    stderr: str


class LocustProcess:
    """One ``python -m locust`` process, its output in files under ``directory``."""

    def __init__(
        self, name: str, args: Sequence[str], directory: Path, locustfile: Path = LOCUSTFILE
    ) -> None:
        self.name = name
        self._out = (directory / f"{name}.out").open("w+")
        self._err = (directory / f"{name}.err").open("w+")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "locust", "-f", str(locustfile), *args],
            cwd=directory,
            stdout=self._out,
            stderr=self._err,
            stdin=subprocess.DEVNULL,
        )

    def stderr_so_far(self) -> str:
        self._err.flush()
        return Path(self._err.name).read_text()

    def wait(self, timeout_s: float = PROCESS_TIMEOUT_S) -> Ran:
        try:
            code = self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
            raise
        finally:
            self._out.flush()
            self._err.flush()
        ran = Ran(code, Path(self._out.name).read_text(), Path(self._err.name).read_text())
        self.close()
        return ran

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.popen.kill()

    def close(self) -> None:
        """Kill the process if it still runs, reap it, close its files."""
        if self.popen.poll() is None:
            self.kill()
        self.popen.wait()
        self._out.close()
        self._err.close()


@pytest.fixture
def locust(tmp_path: Path) -> Iterator[Any]:
    """Start Locust processes; any still running when the test ends is killed."""
    started: list[LocustProcess] = []

    def start(name: str, *args: str, locustfile: Path = LOCUSTFILE) -> LocustProcess:
        process = LocustProcess(name, args, tmp_path, locustfile)
        started.append(process)
        return process

    yield start
    for process in started:
        process.close()


def master_args(port: int, *, workers: int) -> list[str]:
    return [
        "--master",
        "--master-bind-host",
        "127.0.0.1",
        "--master-bind-port",
        str(port),
        "--expect-workers",
        str(workers),
        "--expect-workers-max-wait",
        "60",
    ]


def worker_args(port: int) -> list[str]:
    return ["--worker", "--master-host", "127.0.0.1", "--master-port", str(port)]


#: Locust's final stats as JSON on stdout, and nothing else there (no periodic tables).
FINAL_STATS = ["--json", "--only-summary"]


def locust_counts(stdout: str) -> dict[str, int]:
    """Locust's request count per name, from the stdout of ``--json`` (printed after the stop).

    With ``--processes`` the forked workers print theirs (empty) to the same
    stdout: the master's is the last document.
    """
    decoder, documents, at = json.JSONDecoder(), [], 0
    while (at := stdout.find("[", at)) >= 0:
        document, at = decoder.raw_decode(stdout, at)
        documents.append(document)
    return {row["name"]: int(row["num_requests"]) for row in documents[-1]}


def csv_counts(prefix: Path) -> dict[str, int]:
    """Request counts per name from Locust's ``--csv`` stats (the Aggregated row left out)."""
    with Path(f"{prefix}_stats.csv").open(newline="") as f:
        return {row["Name"]: int(row["Request Count"]) for row in csv.DictReader(f) if row["Type"]}


def read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def assert_counts_match_locust(
    report: dict[str, Any], locust: dict[str, int], *, in_flight: int
) -> None:
    """Each operation's count is Locust's, plus at most the operations in flight at the stop.

    dbprobe records an operation before the user's greenlet reports it to Locust,
    and a worker sends its dbprobe report after Locust's stats: an operation that
    ended as the users were stopped may be in the first and not the second.
    """
    counts = {op["name"]: op["count"] for op in report["operations"]}
    # Locust has a row only for what ran; dbprobe's report has every operation.
    assert set(locust) <= set(counts)
    extra = {name: counts[name] - locust.get(name, 0) for name in counts}
    assert all(n >= 0 for n in extra.values()), extra
    assert sum(extra.values()) <= in_flight, extra
