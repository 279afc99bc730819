"""A process that imports a command once and forks one child per run of it.

``python -m dbprobe`` spends about a second of CPU importing SQLAlchemy, rich
and the drivers before it reads its arguments; the command-line tests start it
several hundred times on two cores. The plugin's tests start ``python -m
pytest`` on generated suites some thirty times, each importing pytest, its
plugins, SQLAlchemy and dbprobe. Each child forked from here is still a
process of its own, started as ``python -m MODULE`` is (``runpy``), with its
own environment, working directory, standard streams, exit status and signals,
and its own interpreter exit (atexit, flushing); only the imports are shared.

``python -m tests.cli.zygote dbprobe`` (the default) preloads dbprobe's
command line; ``python -m tests.cli.zygote pytest`` preloads pytest,
SQLAlchemy, the drivers and what dbprobe's fixtures import, but not the
plugins pytest loads by their entry points (see ``PRELOADS``).

Protocol, one JSON line each way on the pipes this process was started with:
a request ``{"args", "env", "cwd", "stdout", "stderr"}``
(the two paths are files the child writes its streams to) is answered
``{"pid": N}`` when the child starts and ``{"returncode": R}`` when it ends,
``R`` as :attr:`subprocess.Popen.returncode` gives it (``-N`` for a signal).
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import runpy
import sys
from typing import IO, Any

# Everything a run imports, loaded once here rather than in every child.
PRELOADS = {
    "dbprobe": (
        "aiosqlite",
        "asyncpg",
        "sqlalchemy.ext.asyncio",
        "dbprobe.cli",
        "dbprobe.cli.commands",
        # matplotlib, which every --html imports: half a second of each such command.
        "dbprobe.report.plots",
    ),
    # Not the plugins pytest loads by their entry points (pytest-asyncio, anyio's,
    # xdist, dbprobe's own): pytest rewrites their asserts when it imports them,
    # and warns (an error under -W error) of one imported before it.
    "pytest": (
        "pytest",
        "aiosqlite",
        "asyncpg",
        "sqlalchemy.ext.asyncio",
        "sqlalchemy.orm",
        "dbprobe.bench",
        "dbprobe.assertions",
        "dbprobe.data.seeding",
        "dbprobe.database.engine",
        "dbprobe.result.jsonio",
    ),
}


def _child(module: str, request: dict[str, Any], channel: tuple[IO[str], IO[str]]) -> None:
    for stream in channel:
        stream.close()
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    for fd, path in ((1, request["stdout"]), (2, request["stderr"])):
        opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(opened, fd)
        os.close(opened)
    os.close(devnull)
    os.environ.clear()
    os.environ.update(request["env"])
    if request["cwd"] is not None:
        os.chdir(request["cwd"])
    if module == "pytest":
        _as_started_in_its_directory(request["env"])
    sys.argv = [module, *request["args"]]
    # SystemExit from the module's __main__ ends this child as it ends `python -m MODULE`.
    runpy.run_module(module, run_name="__main__", alter_sys=True)
    sys.exit(0)


def _as_started_in_its_directory(env: dict[str, str]) -> None:
    """The import path of ``python -m pytest`` started in the working directory.

    A generated suite imports its own modules (a ``conftest.py``, a ``tests``
    package) from where it runs: the path starts with that directory and
    ``PYTHONPATH``, never with this repository, and none of this repository's
    test modules is already imported under a name the suite may use.
    """
    extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [os.getcwd(), *extra, *_INTERPRETER_PATH]
    for name in [m for m in sys.modules if m == "tests" or m.startswith("tests.")]:
        del sys.modules[name]


# The path every interpreter starts with: this process's, less its script's
# directory (this repository) and its own PYTHONPATH.
_INTERPRETER_PATH = [
    p for p in sys.path[1:] if p not in os.environ.get("PYTHONPATH", "").split(os.pathsep)
]


def serve(module: str) -> None:
    for name in PRELOADS[module]:
        importlib.import_module(name)
    requests = os.fdopen(os.dup(0), "r")
    replies = os.fdopen(os.dup(1), "w")
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    for line in requests:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        # Frozen, the objects made by the imports are left out of the child's
        # collections: its exit no longer walks (and so copies) every page of
        # them, which took 140 of the 190 ms a `--version` child lived.
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            _child(module, request, (requests, replies))
        replies.write(json.dumps({"pid": pid}) + "\n")
        replies.flush()
        _, status = os.waitpid(pid, 0)
        replies.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        replies.flush()


if __name__ == "__main__":
    serve(sys.argv[1] if len(sys.argv) > 1 else "dbprobe")
