"""Who holds a pool's connections, and which never came back, from SQLAlchemy's pool events.

::

    with PoolTracer(engine) as tracer:
        ...                         # any code using the engine, in any task
    tracer.result.holders           # locations that held connections longest
    tracer.result.findings()        # leaked_connection: never returned, or reclaimed by GC

A :class:`PoolTracer` listens to the ``checkout``, ``checkin`` and ``detach``
events of one engine's pool. Each checkout remembers the code location that
took the connection (the first frame outside SQLAlchemy, the drivers, dbprobe
and the standard library, found across SQLAlchemy's greenlet bridge) and when.
A connection still checked out when the trace stops is a leak; so is one that
the garbage collector reclaimed: SQLAlchemy then detaches it and warns "The
garbage collector is trying to clean up non-checked-in connection ...". While
tracing, that warning is captured (not raised or printed by the warnings
machinery) and matched to the checkout it came from; SQLAlchemy also logs it
on the pool's logger, which is left alone.
"""

from __future__ import annotations

import re
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TextIO

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import Pool

from dbprobe.instrument.location import user_location
from dbprobe.result.findings import Finding, FindingKind, LeakedConnectionEvidence, Severity

__all__ = ["GC_WARNING_PREFIX", "Holder", "LeakedConnection", "PoolTrace", "PoolTracer"]

#: How SQLAlchemy's warning about a connection reclaimed by the garbage collector begins
#: (sqlalchemy/pool/base.py, ``_finalize_fairy``).
GC_WARNING_PREFIX = "The garbage collector is trying to clean up non-checked-in connection"


@dataclass(frozen=True)
class Holder:
    """A code location that checked connections out, and for how long it held them.

    Attributes:
        location: ``path:line``, or None when locations were not traced or not found.
        checkouts: connections it checked out and gave up (returned, detached or reclaimed).
        held_ms_total, held_ms_max: time from checkout to return, summed and longest.
    """

    location: str | None
    checkouts: int
    held_ms_total: float
    held_ms_max: float


@dataclass(frozen=True)
class LeakedConnection:
    """A connection that was not returned to the pool.

    Attributes:
        location: where it was checked out (``path:line``), if known.
        held_ms: from its checkout to the end of the trace, or to its collection.
        reclaimed_by_gc: True if the garbage collector reclaimed it (SQLAlchemy
            then drops or terminates it); False if it was still checked out
            when the trace stopped.
        operation: the operation (a user scenario) that checked it out, if known.
    """

    location: str | None
    held_ms: float | None
    reclaimed_by_gc: bool
    operation: str | None = None

    def finding(self) -> Finding:
        if self.operation is not None:
            where = f"by scenario {self.operation}" + (
                f" at {self.location}" if self.location else ""
            )
        else:
            where = self.location or "an unknown location (enable location tracing)"
        held = f" after {self.held_ms:.0f} ms" if self.held_ms is not None else ""
        if self.reclaimed_by_gc:
            what = f"was never returned: the garbage collector reclaimed it{held}"
        else:
            what = f"was still checked out when the trace ended{held}"
        return Finding(
            kind=FindingKind.LEAKED_CONNECTION,
            severity=Severity.WARNING,
            operation=self.operation,
            message=(
                f"connection checked out at {where} {what}; close the session or connection "
                "(async with ...) so that it goes back to the pool"
            ),
            evidence=LeakedConnectionEvidence(
                location=self.location,
                held_ms=None if self.held_ms is None else round(self.held_ms, 3),
                reclaimed_by_gc=self.reclaimed_by_gc,
                still_checked_out=not self.reclaimed_by_gc,
            ),
        )


@dataclass(frozen=True)
class PoolTrace:
    """What a :class:`PoolTracer` saw.

    Attributes:
        checkouts: connections checked out while tracing.
        peak_checked_out: most connections checked out at once (counted from the events).
        holders: per location, longest total hold first.
        leaks: connections not returned, in the order they were found.
    """

    checkouts: int
    peak_checked_out: int
    holders: tuple[Holder, ...]
    leaks: tuple[LeakedConnection, ...]

    def findings(self) -> list[Finding]:
        """A ``leaked_connection`` finding per leak."""
        return [leak.finding() for leak in self.leaks]


@dataclass
class _Holding:
    location: str | None
    since_ns: int
    operation: str | None = None


@dataclass
class _HolderTally:
    checkouts: int = 0
    held_ns_total: int = 0
    held_ns_max: int = 0


class PoolTracer:
    """Follows one engine's pool through its events while started (also a context manager).

    ``locations`` turns on the location of each checkout (a frame walk per
    checkout); ``locate`` finds it (default: the first frame outside the
    libraries). ``operation`` names the operation making a checkout (read in
    the checking-out task's context), for its leak's finding.
    ``on_change(checked_out)`` is called after every checkout and
    return, from the thread that made it. Start and stop it in the reverse
    order of other ``warnings.catch_warnings`` blocks, as with any of them:
    stopping restores the warning filters of when it started.
    """

    def __init__(
        self,
        engine: AsyncEngine | Engine,
        *,
        locations: bool = True,
        locate: Callable[[], str | None] = user_location,
        clock_ns: Callable[[], int] = time.perf_counter_ns,
        on_change: Callable[[int], None] | None = None,
        operation: Callable[[], str | None] | None = None,
    ) -> None:
        sync_engine = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
        self._pool: Pool = sync_engine.pool
        self._locations = locations
        self._locate = locate
        self._clock_ns = clock_ns
        self._on_change = on_change
        self._operation = operation
        # Events come from the event loop's thread, but the garbage collector
        # may reclaim a connection on whichever thread allocates (an aiosqlite
        # worker thread, say).
        self._lock = threading.Lock()
        self._holding: dict[Any, _Holding] = {}  # by connection record (identity)
        self._detached: dict[str, tuple[_Holding, int]] = {}  # by repr of the DBAPI connection
        self._holders: dict[str | None, _HolderTally] = {}
        self._leaks: list[LeakedConnection] = []
        self._checkouts = 0
        self._peak = 0
        self._warnings: warnings.catch_warnings[None] | None = None
        self._previous_showwarning: Callable[..., None] | None = None
        self.result: PoolTrace | None = None

    @property
    def checked_out(self) -> int:
        """Connections checked out now (of those checked out since the trace began)."""
        return len(self._holding)

    @property
    def peak_checked_out(self) -> int:
        return self._peak

    def start(self) -> PoolTracer:
        if self._warnings is not None:
            raise RuntimeError("this PoolTracer is already started")
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        # "always": the default filter shows a warning once per location, and a
        # test run's "error" filter would turn it into an exception raised
        # inside a weakref callback, where nobody can catch it.
        warnings.filterwarnings(
            "always", message=re.escape(GC_WARNING_PREFIX), category=sa_exc.SAWarning
        )
        self._previous_showwarning = warnings.showwarning
        warnings.showwarning = self._showwarning
        event.listen(self._pool, "checkout", self._on_checkout)
        event.listen(self._pool, "checkin", self._on_checkin)
        event.listen(self._pool, "detach", self._on_detach)
        return self

    def stop(self) -> PoolTrace:
        """Stop listening; connections still checked out now are leaks. Returns :attr:`result`."""
        if self._warnings is None:
            if self.result is None:
                raise RuntimeError("this PoolTracer was never started")
            return self.result
        event.remove(self._pool, "checkout", self._on_checkout)
        event.remove(self._pool, "checkin", self._on_checkin)
        event.remove(self._pool, "detach", self._on_detach)
        self._warnings.__exit__(None, None, None)
        self._warnings = None
        self.result = self.trace()
        return self.result

    def trace(self) -> PoolTrace:
        """What was seen so far; connections checked out now are listed as leaks."""
        now = self._clock_ns()
        with self._lock:
            open_now = [
                LeakedConnection(
                    h.location,
                    (now - h.since_ns) / 1e6,
                    reclaimed_by_gc=False,
                    operation=h.operation,
                )
                for h in self._holding.values()
            ]
            holders = sorted(
                (
                    Holder(location, t.checkouts, t.held_ns_total / 1e6, t.held_ns_max / 1e6)
                    for location, t in self._holders.items()
                ),
                key=lambda h: (-h.held_ms_total, h.location or ""),
            )
            return PoolTrace(self._checkouts, self._peak, tuple(holders), (*self._leaks, *open_now))

    def __enter__(self) -> PoolTracer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- SQLAlchemy pool events (run inside the pool's code: keep them short) --

    def _on_checkout(self, dbapi_connection: Any, record: Any, proxy: Any) -> None:
        location = self._locate() if self._locations else None
        operation = self._operation() if self._operation is not None else None
        with self._lock:
            self._holding[record] = _Holding(location, self._clock_ns(), operation)
            self._checkouts += 1
            level = len(self._holding)
            self._peak = max(self._peak, level)
        if self._on_change is not None:
            self._on_change(level)

    def _release(self, record: Any) -> tuple[_Holding, int, int] | None:
        now = self._clock_ns()
        with self._lock:
            holding = self._holding.pop(record, None)
            if holding is None:
                return None  # checked out before the trace began
            tally = self._holders.setdefault(holding.location, _HolderTally())
            held = now - holding.since_ns
            tally.checkouts += 1
            tally.held_ns_total += held
            tally.held_ns_max = max(tally.held_ns_max, held)
            return holding, now, len(self._holding)

    def _on_checkin(self, dbapi_connection: Any, record: Any) -> None:
        released = self._release(record)
        if released is not None and self._on_change is not None:
            self._on_change(released[2])

    def _on_detach(self, dbapi_connection: Any, record: Any) -> None:
        # A detach is how SQLAlchemy lets go of a connection the garbage
        # collector reclaimed (async dialects cannot return it to the pool from
        # a finalizer); its warning follows, naming the connection by repr.
        released = self._release(record)
        if released is None:
            return
        holding, now, level = released
        with self._lock:
            self._detached[repr(dbapi_connection)] = (holding, now)
        if self._on_change is not None:
            self._on_change(level)

    def _showwarning(
        self,
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        text = str(message)
        if not (issubclass(category, sa_exc.SAWarning) and text.startswith(GC_WARNING_PREFIX)):
            assert self._previous_showwarning is not None
            self._previous_showwarning(message, category, filename, lineno, file, line)
            return
        with self._lock:
            key = next((k for k in self._detached if f" connection {k}," in text), None)
            matched = self._detached.pop(key) if key is not None else None
        if matched is None:
            # Not a connection this trace saw checked out (another engine's, or
            # one taken before the trace began): not ours to report.
            assert self._previous_showwarning is not None
            self._previous_showwarning(message, category, filename, lineno, file, line)
            return
        holding, reclaimed_ns = matched
        with self._lock:
            self._leaks.append(
                LeakedConnection(
                    holding.location,
                    (reclaimed_ns - holding.since_ns) / 1e6,
                    reclaimed_by_gc=True,
                    operation=holding.operation,
                )
            )
