"""The event loop a run's load runs on: asyncio's own or uvloop (``--loop``).

The event loop is part of what is measured: the same operations on uvloop
spend less of the generator's CPU per call than on asyncio's loop, so a
report says which one ran (``run.loop``), and load processes run the loop
their parent runs. :func:`loop_factory` makes the loop a choice asks for
(for ``asyncio.Runner``); :func:`running_loop_kind` names the loop running.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable

from dbprobe.errors import ConfigError
from dbprobe.result.options import LOOP_CHOICES

__all__ = ["loop_factory", "running_loop_choice", "running_loop_kind"]

LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def _asyncio_loop() -> asyncio.AbstractEventLoop:
    # asyncio's own loop, made directly: asyncio.new_event_loop() would make
    # whatever loop an installed policy (uvloop.install()) says.
    if sys.platform == "win32":
        return asyncio.ProactorEventLoop()
    return asyncio.SelectorEventLoop()


def _uvloop_factory() -> LoopFactory | str:
    """uvloop's loop factory, or why it cannot be had (not installed, or broken)."""
    try:
        import uvloop
    except ImportError as exc:
        if isinstance(exc, ModuleNotFoundError) and exc.name == "uvloop":
            return "uvloop is not installed"
        return f"uvloop does not import ({exc})"
    factory: LoopFactory = uvloop.new_event_loop
    return factory


def loop_factory(choice: str) -> LoopFactory:
    """What makes the loop ``choice`` (one of ``LOOP_CHOICES``) asks for.

    ``auto`` is uvloop when it imports, else asyncio. ``uvloop`` without
    uvloop is a ConfigError that names the fix, raised before anything runs.
    """
    if choice not in LOOP_CHOICES:
        raise ConfigError(f"--loop {choice}: unknown; use {', '.join(LOOP_CHOICES)}")
    if choice == "asyncio":
        return _asyncio_loop
    uvloop_factory = _uvloop_factory()
    if not isinstance(uvloop_factory, str):
        return uvloop_factory
    if choice == "uvloop":
        raise ConfigError(f"--loop uvloop: {uvloop_factory}; pip install 'dbprobe[fast]'")
    return _asyncio_loop


def running_loop_kind() -> str:
    """``uvloop`` or ``asyncio``: the loop running this coroutine (the top package of
    another kind's class, should a program run dbprobe on one of its own)."""
    loop = asyncio.get_running_loop()
    package = type(loop).__module__.partition(".")[0]
    if package == "uvloop":
        return "uvloop"
    # Subclasses of asyncio's loops (Locust's, in dbprobe.locust) are asyncio's loop.
    if isinstance(loop, asyncio.BaseEventLoop):
        return "asyncio"
    return package


def running_loop_choice() -> str:
    """The choice of :func:`loop_factory` that makes the loop running here again (for
    load processes); ``auto`` for a kind of loop dbprobe does not make itself."""
    kind = running_loop_kind()
    return kind if kind in LOOP_CHOICES else "auto"
