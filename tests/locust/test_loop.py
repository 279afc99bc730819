"""The bridge from gevent greenlets to one asyncio loop in a real thread, under Locust's patching.

``gevent.monkey.patch_all()`` changes the interpreter for good, so each case
runs as a script in a process of its own and prints what it saw as JSON.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from typing import Any

PATCHED = """
from gevent import monkey

monkey.patch_all()  # as importing locust does

import asyncio
import json
import threading

import gevent

from dbprobe.locust.loop import LoopThread, loop_thread_ident

loop = LoopThread.start()
seen = {}
"""


def _run(body: str) -> dict[str, Any]:
    script = PATCHED + textwrap.dedent(body) + "\nprint(json.dumps(seen))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_the_loop_runs_in_a_real_thread_that_gevent_patching_does_not_reach() -> None:
    seen = _run(
        """
        async def where():
            import selectors
            return loop_thread_ident(), type(asyncio.get_running_loop()).__name__

        ident, kind = loop.call(where())
        seen["own_thread"] = ident == loop.ident != loop_thread_ident()
        # threading.get_ident is gevent's after patching: a greenlet's id, not a thread's.
        seen["threading_patched"] = monkey.is_module_patched("threading")
        seen["loop"] = kind
        """
    )
    # uvloop's Loop when it is installed, else the selector loop on unpatched calls.
    expected = "Loop" if importlib.util.find_spec("uvloop") else "_UnpatchedLoop"
    assert seen == {"own_thread": True, "threading_patched": True, "loop": expected}


def test_greenlets_run_on_while_one_waits_for_the_loop() -> None:
    seen = _run(
        """
        gate = asyncio.Event()
        ticks = []

        def ticker():
            # Runs only if the waiting greenlet left the hub free.
            for i in range(5):
                ticks.append(i)
                gevent.sleep(0)
            loop.loop.call_soon_threadsafe(gate.set)

        async def wait_for_gate():
            await gate.wait()
            return "opened"

        waiter = gevent.spawn(loop.call, wait_for_gate())
        gevent.spawn(ticker).join()
        seen["result"] = waiter.get(timeout=10)
        seen["ticks"] = len(ticks)
        """
    )
    assert seen == {"result": "opened", "ticks": 5}


def test_an_error_comes_back_to_the_greenlet_and_a_killed_greenlet_cancels_its_task() -> None:
    seen = _run(
        """
        async def fail():
            raise LookupError("no such row")

        try:
            loop.call(fail())
        except LookupError as exc:
            seen["error"] = str(exc)

        started, cancelled = asyncio.Event(), []

        async def long():
            started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancelled.append(True)
                raise

        async def wait_started():
            await started.wait()

        waiter = gevent.spawn(loop.call, long())
        loop.call(wait_started())
        waiter.kill()  # as Locust stops a user

        async def settle():
            for _ in range(100):
                if cancelled:
                    return
                await asyncio.sleep(0.01)

        loop.call(settle())
        seen["cancelled"] = cancelled
        loop.stop()
        seen["closed"] = loop.loop.is_closed()
        """
    )
    assert seen == {"error": "no such row", "cancelled": [True], "closed": True}


def test_many_greenlets_calling_at_once_each_get_their_own_outcome() -> None:
    # Calls cross between the threads in batches: every one must come back
    # to the greenlet that made it, with its own result or error, none lost.
    seen = _run(
        """
        import random

        async def echo(g, i):
            await asyncio.sleep(random.random() / 1000)
            if (g + i) % 7 == 0:
                raise ValueError(f"{g}/{i}")
            return (g, i)

        def user(g):
            got = []
            for i in range(50):
                try:
                    got.append(list(loop.call(echo(g, i))))
                except ValueError as exc:
                    got.append(str(exc))
            return got

        users = [gevent.spawn(user, g) for g in range(40)]
        gevent.joinall(users, raise_error=True)
        seen["outcomes"] = [u.value for u in users]
        loop.stop()
        """
    )
    expected = [[f"{g}/{i}" if (g + i) % 7 == 0 else [g, i] for i in range(50)] for g in range(40)]
    assert seen["outcomes"] == expected


def test_aiosqlite_never_answers_in_the_loop_thread_under_gevent_so_sqlite_is_refused(
    tmp_path: Any,
) -> None:
    # aiosqlite runs each connection in a threading.Thread: patched, a greenlet
    # of a hub that nothing runs in the loop's thread (dbprobe.locust.settings).
    seen = _run(
        f"""
        import aiosqlite

        async def query():
            async with aiosqlite.connect({str(tmp_path / "x.sqlite3")!r}) as db:
                return await (await db.execute("select 1")).fetchall()

        try:
            loop.call(asyncio.wait_for(query(), 1.0))
            seen["outcome"] = "answered"
        except TimeoutError:
            seen["outcome"] = "timed out"
        """
    )
    assert seen == {"outcome": "timed out"}
