"""A process that imports dbprobe's command line once and forks one child per command.

``python -m dbprobe`` spends about a second of CPU importing SQLAlchemy, rich
and the drivers before it reads its arguments; the command-line tests start it
several hundred times on two cores. Each child forked from here is still a
process of its own, started as ``python -m dbprobe`` is (``runpy``), with its
own environment, working directory, standard streams, exit status and signals,
and its own interpreter exit (atexit, flushing); only the imports are shared.

Protocol, one JSON line each way on the pipes this process was started with:
a request ``{"args", "env", "cwd", "stdout", "stderr"}``
(the two paths are files the child writes its streams to) is answered
``{"pid": N}`` when the child starts and ``{"returncode": R}`` when it ends,
``R`` as :attr:`subprocess.Popen.returncode` gives it (``-N`` for a signal).
"""

from __future__ import annotations

import gc
import json
import os
import runpy
import sys
from typing import IO, Any

# Everything a command imports, loaded once here rather than in every child.
import aiosqlite  # noqa: F401
import asyncpg  # noqa: F401
import sqlalchemy.ext.asyncio  # noqa: F401

import dbprobe.cli
import dbprobe.cli.commands

# matplotlib, which every --html imports: half a second of each such command.
import dbprobe.report.plots  # noqa: F401


def _child(request: dict[str, Any], channel: tuple[IO[str], IO[str]]) -> None:
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
    sys.argv = ["dbprobe", *request["args"]]
    # SystemExit from dbprobe's __main__ ends this child as it ends `python -m dbprobe`.
    runpy.run_module("dbprobe", run_name="__main__", alter_sys=True)
    sys.exit(0)


def serve() -> None:
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
            _child(request, (requests, replies))
        replies.write(json.dumps({"pid": pid}) + "\n")
        replies.flush()
        _, status = os.waitpid(pid, 0)
        replies.write(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}) + "\n")
        replies.flush()


if __name__ == "__main__":
    serve()
