"""The README's Locust commands, run as written (the database and the ports from the environment).

``$DBPROBE_DB_URL`` names these tests' own database instead of the README's
``export`` line, and Locust's own variables put the master on a free port of
127.0.0.1 (``LOCUST_MASTER_BIND_HOST``, ``LOCUST_MASTER_BIND_PORT``,
``LOCUST_MASTER_NODE_PORT``): the command lines themselves are the README's.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.locust.conftest import PROCESS_TIMEOUT_S, REPO, free_port, read_json

pytestmark = pytest.mark.postgres


def _blocks() -> list[list[str]]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## On Locust's engine", 1)[1].split("\n## ", 1)[0]
    return [
        [line for line in block.splitlines() if line and not line.startswith("export ")]
        for block in re.findall(r"```sh\n(.*?)```", section, re.S)
    ]


@pytest.fixture
def env(locust_db: str, tmp_path: Path) -> dict[str, str]:
    (tmp_path / "examples").symlink_to(REPO / "examples")
    port = str(free_port())
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "DBPROBE_DB_URL": locust_db,
        "LOCUST_MASTER_BIND_HOST": "127.0.0.1",
        "LOCUST_MASTER_BIND_PORT": port,
        "LOCUST_MASTER_NODE_PORT": port,
        "MASTER": "127.0.0.1",
    }


def _start(command: str, env: dict[str, str], cwd: Path, name: str) -> subprocess.Popen[bytes]:
    with (cwd / f"{name}.log").open("wb") as log:
        return subprocess.Popen(
            ["bash", "-c", command], cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT
        )


def test_the_readme_has_the_commands_tested_here() -> None:
    one_host, several_hosts = _blocks()
    assert len(one_host) == 2
    assert [c.split()[3] for c in several_hosts] == ["--headless", "--worker", "--worker"]


@pytest.mark.parametrize("index", [0, 1], ids=["uow", "scenarios"])
def test_a_one_host_command_of_the_readme_works_as_written(
    index: int, env: dict[str, str], tmp_path: Path
) -> None:
    command = _blocks()[0][index]
    process = _start(command, env, tmp_path, "locust")
    assert process.wait(PROCESS_TIMEOUT_S) == 0, (tmp_path / "locust.log").read_text()
    out = re.search(r"--dbprobe-json (\S+)", command)
    assert out is not None
    report = read_json(tmp_path / out[1])
    assert len(report["locust"]["workers"]) == 2
    assert sum(op["count"] for op in report["operations"]) > 0


def test_the_several_hosts_commands_of_the_readme_work_as_written(
    env: dict[str, str], tmp_path: Path
) -> None:
    master, *workers = _blocks()[1]
    started = [_start(master, env, tmp_path, "master")]
    started += [_start(w, env, tmp_path, f"worker{i}") for i, w in enumerate(workers)]
    try:
        assert started[0].wait(PROCESS_TIMEOUT_S) == 0, (tmp_path / "master.log").read_text()
        assert [p.wait(PROCESS_TIMEOUT_S) for p in started[1:]] == [0, 0]
    finally:
        for p in started:
            if p.poll() is None:
                p.kill()
                p.wait()
    report = read_json(tmp_path / "merged.json")
    assert [w["state"] for w in report["locust"]["workers"]] == ["stopped", "stopped"]
