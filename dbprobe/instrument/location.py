"""The code location that issued a statement: the first frame outside the libraries.

A statement is executed deep inside SQLAlchemy, on a greenlet that SQLAlchemy's
asyncio bridge spawned: the caller's frames are not above it on the same
stack. When the greenlet's stack ends, the walk continues in the parent
greenlet's suspended frame, which leads back through the awaiting coroutines
to the user's code.

The user's code is the first frame outside every installed package, not only
outside SQLAlchemy and the drivers: a repository library, SQLModel or pydantic
between the user and SQLAlchemy (anything under ``site-packages`` or
``dist-packages``) is skipped too, and shown after the user's line as a short
trail, ``tests/test_app.py:42 via advanced_alchemy/repository/_async.py:3303``,
so that the finding points where the user can change something and still says
which library call issued the statement.
"""

from __future__ import annotations

import asyncio.events
import sys
import sysconfig
from pathlib import Path
from types import FrameType

import greenlet
import sqlalchemy

__all__ = ["user_location"]


def _prefixes() -> tuple[str, ...]:
    dirs = {
        Path(sqlalchemy.__file__).parent,
        Path(greenlet.__file__).parent,
        Path(__file__).resolve().parents[1],  # the dbprobe package
        Path(sysconfig.get_paths()["stdlib"]),
    }
    for name in ("aiosqlite", "asyncpg", "anyio", "pytest_asyncio", "_pytest", "pluggy"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__file__", None):
            dirs.add(Path(module.__file__).parent)  # type: ignore[arg-type]
    return tuple(str(d) + "/" for d in dirs)


_SKIP: tuple[str, ...] | None = None
# A task's frames end where the event loop runs its step: past it lies only the
# code that started the loop (asyncio.run's caller), which issued nothing.
_LOOP_STEP = asyncio.events.Handle._run.__code__


_INSTALLED = ("/site-packages/", "/dist-packages/")


def _installed_name(filename: str) -> str | None:
    """``package/module.py`` for a file of an installed package, else None."""
    for marker in _INSTALLED:
        at = filename.rfind(marker)
        if at >= 0:
            return filename[at + len(marker) :]
    return None


def user_location(frame: FrameType | None = None) -> str | None:
    """``path:line`` of the innermost frame of the user's own code, with the library
    call that led to SQLAlchemy (`` via package/module.py:line``) when there was one.

    Falls back to that library frame when no user frame is on the stack.
    """
    global _SKIP
    if _SKIP is None:
        _SKIP = _prefixes()
    skip = _SKIP
    frame = frame or sys._getframe(1)
    current: greenlet.greenlet | None = greenlet.getcurrent()
    via: str | None = None
    while True:
        while frame is not None:
            if frame.f_code is _LOOP_STEP:
                return via
            filename = frame.f_code.co_filename
            if not filename.startswith(skip) and not filename.startswith("<"):
                installed = _installed_name(filename)
                if installed is None:
                    here = f"{filename}:{frame.f_lineno}"
                    return f"{here} via {via}" if via else here
                if via is None:
                    # The innermost library frame: the call that reached SQLAlchemy.
                    via = f"{installed}:{frame.f_lineno}"
            frame = frame.f_back
        current = current.parent if current is not None else None
        if current is None:
            return via
        frame = current.gr_frame
