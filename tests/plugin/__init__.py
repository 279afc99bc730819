"""Tests of the pytest plugin, each on a generated suite run as its own pytest process."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.cli import run_module


def runpytest(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """``pytester.runpytest_subprocess(*args)``, the process forked from one that has
    imported pytest, its plugins and SQLAlchemy once (:func:`tests.cli.run_module`).

    Started afresh, each run of a generated suite spent about a second of CPU on
    those imports; the plugin's tests run some thirty. The run is otherwise
    pytester's: its working directory, its environment with that directory on
    ``PYTHONPATH``, a ``--basetemp`` of its own, the output echoed for a failure.
    """
    basetemp = tempfile.mkdtemp(prefix="runpytest-", dir=pytester.path)
    env = os.environ.copy()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH", "")]))
    started = time.monotonic()
    ran = run_module("pytest", [f"--basetemp={basetemp}", *args], env, Path.cwd(), 300)
    # Echoed, as pytester echoes a run's output: a failing test shows it.
    sys.stdout.write(ran.stdout)
    sys.stderr.write(ran.stderr)
    return pytest.RunResult(
        ran.returncode, ran.stdout.splitlines(), ran.stderr.splitlines(), time.monotonic() - started
    )
