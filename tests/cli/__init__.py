"""Tests of the command line, each in a process of its own as a user runs it.

:func:`run_dbprobe` forks each command from a process that has imported
dbprobe's command line once (``tests/cli/zygote.py``): on two cores, importing
SQLAlchemy, rich and the drivers afresh for each of several hundred commands
was most of the suite's time. ``DBPROBE_TEST_FRESH_INTERPRETER=1`` starts a new
``python -m dbprobe`` for every command instead, to check that both agree.
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[2]


def _environment(data_dir: Path, extra: Mapping[str, str] | None) -> dict[str, str]:
    # COLUMNS and LINES too: pytest-xdist's workers export COLUMNS=80, and a stdout that
    # is not a terminal takes $COLUMNS as its width; a CI step has none.
    dropped = ("DBPROBE_DB_URL", "DBPROBE_HISTORY", "COLUMNS", "LINES")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env["DBPROBE_DATA_DIR"] = str(data_dir)
    env.update(extra or {})
    return env


def run_dbprobe(
    args: list[str],
    tmp_path: Path,
    *,
    cwd: Path | None = None,
    timeout: float = 300,
    data_dir: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
    max_file_bytes: int | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m dbprobe ARGS`` with its data directory ``data_dir`` (else under ``tmp_path``).

    ``DBPROBE_DB_URL`` and ``DBPROBE_HISTORY`` are dropped, so that the
    embedded SQLite file is the default target and the history store lives in
    the data directory unless the arguments say otherwise; ``extra_env`` sets
    variables on top (e.g. a ``DBPROBE_DB_URL`` under test). ``max_file_bytes``
    makes every write past that size fail (EFBIG), as a full disk would.
    """
    return run_with_env(
        args,
        _environment(data_dir or tmp_path / "data", extra_env),
        cwd=cwd,
        timeout=timeout,
        max_file_bytes=max_file_bytes,
    )


def run_with_env(
    args: list[str],
    env: dict[str, str],
    *,
    cwd: Path | None = None,
    timeout: float = 300,
    max_file_bytes: int | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m dbprobe ARGS`` with exactly the environment ``env``.

    A file-size limit is set in a process started afresh: the zygote's children
    write their streams to files, which the limit would cut too (pipes it spares).
    """
    return run_module("dbprobe", args, env, cwd, timeout, max_file_bytes=max_file_bytes)


def start_dbprobe(args: list[str], tmp_path: Path) -> subprocess.Popen[str]:
    """``python -m dbprobe ARGS`` started in the background, as :func:`run_dbprobe` runs it,
    for a test that signals it or waits for it to end by itself."""
    return subprocess.Popen(
        [sys.executable, "-m", "dbprobe", *args],
        env=_environment(tmp_path / "data", None),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def interrupt(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> float:
    """Send ``sig`` and wait for ``proc`` to end; the seconds that took.

    The wait is bounded (30 s) as a guard against the very hang under test.
    """
    proc.send_signal(sig)
    signalled = time.monotonic()
    proc.wait(timeout=30)
    return time.monotonic() - signalled


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout_s: float) -> str:
    """Read ``proc``'s stderr until a line holds ``needle``; what was read so far."""
    assert proc.stderr is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stderr, selectors.EVENT_READ)
    seen = ""
    while sel.select(timeout_s):
        line = proc.stderr.readline()
        if not line:
            break
        seen += line
        if needle in line:
            return seen
    raise AssertionError(f"never saw {needle!r} on stderr; got:\n{seen}")


def _limit_file_size(max_bytes: int) -> None:
    # Ignored, SIGXFSZ turns a write past the limit into an EFBIG error
    # instead of killing the process.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))


class _Zygote:
    """The client end of ``tests/cli/zygote.py`` (see its protocol)."""

    def __init__(self, module: str) -> None:
        self.module = module
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.cli.zygote", module],
            cwd=_ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._pending = b""

    def alive(self) -> bool:
        return self._proc.poll() is None

    def run(
        self,
        args: list[str],
        env: dict[str, str],
        cwd: Path | None,
        timeout: float,
    ) -> subprocess.CompletedProcess[str]:
        streams = Path(tempfile.mkdtemp(prefix="dbprobe-cli-"))
        try:
            request = {
                "args": args,
                "env": env,
                "cwd": str(cwd) if cwd is not None else None,
                "stdout": str(streams / "stdout"),
                "stderr": str(streams / "stderr"),
            }
            assert self._proc.stdin is not None
            self._proc.stdin.write(json.dumps(request).encode() + b"\n")
            self._proc.stdin.flush()
            deadline = time.monotonic() + timeout
            pid = self._reply(deadline=None)["pid"]
            try:
                returncode = self._reply(deadline)["returncode"]
            except subprocess.TimeoutExpired:
                os.kill(pid, signal.SIGKILL)
                self._reply(deadline=None)
                raise subprocess.TimeoutExpired(
                    ["python", "-m", self.module, *args], timeout, *self._streams(streams)
                ) from None
            out, err = self._streams(streams)
            return subprocess.CompletedProcess(
                ["python", "-m", self.module, *args], returncode, out, err
            )
        finally:
            shutil.rmtree(streams, ignore_errors=True)

    @staticmethod
    def _streams(streams: Path) -> tuple[str, str]:
        def read(name: str) -> str:
            path = streams / name
            return path.read_text(errors="replace") if path.exists() else ""

        return read("stdout"), read("stderr")

    def _reply(self, deadline: float | None) -> Any:
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._pending:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            with selectors.DefaultSelector() as sel:
                sel.register(fd, selectors.EVENT_READ)
                if not sel.select(wait):
                    raise subprocess.TimeoutExpired("dbprobe", wait or 0)
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError("the command-line zygote died")
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return json.loads(line)


_ZYGOTE_LOCK = threading.Lock()
_ZYGOTES: dict[str, _Zygote] = {}


def _zygote(module: str) -> _Zygote:
    if module not in _ZYGOTES or not _ZYGOTES[module].alive():
        _ZYGOTES[module] = _Zygote(module)
    return _ZYGOTES[module]


def run_module(
    module: str,
    args: list[str],
    env: dict[str, str],
    cwd: Path | None,
    timeout: float,
    *,
    max_file_bytes: int | None = None,
) -> subprocess.CompletedProcess[str]:
    """``python -m MODULE ARGS`` (``dbprobe`` or ``pytest``) with exactly the environment
    ``env``, forked from its zygote; a new interpreter when ``DBPROBE_TEST_FRESH_INTERPRETER=1``,
    when another thread has the zygote, or under a file-size limit (the zygote's children
    write their streams to files, which the limit would cut too; pipes it spares)."""
    forked = max_file_bytes is None and not os.environ.get("DBPROBE_TEST_FRESH_INTERPRETER")
    if forked and _ZYGOTE_LOCK.acquire(blocking=False):
        try:
            return _zygote(module).run(args, env, cwd, timeout)
        finally:
            _ZYGOTE_LOCK.release()
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=None if max_file_bytes is None else lambda: _limit_file_size(max_file_bytes),
    )
