"""One asyncio event loop in a real OS thread, awaited from gevent greenlets.

Locust's users are gevent greenlets, and Locust monkey-patches the standard
library at import (``gevent.monkey.patch_all()``): afterwards
``threading.Thread`` starts a *greenlet*, ``socket`` and ``select`` block on
gevent's hub, and ``selectors.DefaultSelector`` is gevent's. SQLAlchemy's
asyncio engine and asyncpg need a real event loop, so each Locust process
runs one in a thread of its own, started with the *original*
``_thread.start_new_thread`` (gevent keeps it: ``monkey.get_original``), and
nothing of gevent runs inside it:

- uvloop, when installed, does its own I/O and name resolution in libuv;
- otherwise a ``SelectorEventLoop`` polls with the original ``select.epoll``
  (or ``select.select``), and resolves host names with the original, blocking
  ``socket.getaddrinfo`` (the patched one would wait on a gevent hub that
  nothing runs in this thread; a pool resolves once per connection it opens).
  Its sockets (the self-pipe, the connections) are gevent's class, but used
  only without blocking, where a gevent socket raises as the standard one
  does and never waits on a hub.

A greenlet calls :meth:`LoopThread.call`: the coroutine is queued for the
loop (woken with ``call_soon_threadsafe``), and the greenlet waits on a
gevent ``AsyncResult`` that the hub sets when a libev *async* watcher tells
it tasks are done (``watcher.send()`` is the one gevent call that is safe
from another thread). The hub goes on running every other greenlet meanwhile. A greenlet
killed while it waits (Locust stopping its users) cancels its task.
"""

from __future__ import annotations

import _thread
import asyncio
import collections
import contextlib
import functools
import selectors
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import gevent
from gevent import monkey
from gevent.hub import Waiter

__all__ = ["LoopThread", "loop_thread_ident"]

T = TypeVar("T")

# How long stopping waits for the loop's thread to end.
_STOP_TIMEOUT_S = 5.0


def _original(module: str, name: str) -> Any:
    """The standard library's own ``module.name``, whether gevent patched it or not."""
    return monkey.get_original(module, name)


class _Selector(selectors.SelectSelector):
    """``select.select`` as the standard library has it, not gevent's (which waits on a hub)."""

    _select = staticmethod(_original("select", "select"))


def _selector() -> selectors.BaseSelector:
    # epoll scales with the number of connections; the module gevent patched
    # no longer has it, so the class is built on the original function.
    try:
        epoll = _original("select", "epoll")
    except AttributeError:  # not Linux
        return _Selector()

    class _Epoll(selectors._PollLikeSelector):
        # The standard library's EpollSelector, on the original select.epoll.
        _selector_cls = epoll
        _EVENT_READ = 0x001  # EPOLLIN
        _EVENT_WRITE = 0x004  # EPOLLOUT

        def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
            # As EpollSelector.select: seconds, room for an event per registered fd.
            me: Any = self  # the base class's attributes are not in typeshed
            wait = -1.0 if timeout is None else max(0.0, timeout)
            ready = []
            try:
                events = me._selector.poll(wait, max(len(me._fd_to_key), 1))
            except InterruptedError:
                return []
            for fd, event in events:
                mask = 0
                if event & ~self._EVENT_READ:
                    mask |= selectors.EVENT_WRITE
                if event & ~self._EVENT_WRITE:
                    mask |= selectors.EVENT_READ
                key = me._fd_to_key.get(fd)
                if key is not None:
                    ready.append((key, mask & key.events))
            return ready

        def close(self) -> None:
            me: Any = self
            me._selector.close()
            super().close()

    return _Epoll()


class _UnpatchedLoop(asyncio.SelectorEventLoop):
    """A selector loop that resolves names without gevent (see the module docstring)."""

    async def getaddrinfo(
        self,
        host: Any,
        port: Any,
        *,
        family: int = 0,
        type: int = 0,
        proto: int = 0,
        flags: int = 0,
    ) -> list[Any]:
        resolve: Callable[..., list[Any]] = _original("socket", "getaddrinfo")
        return resolve(host, port, family, type, proto, flags)


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:
        return _UnpatchedLoop(_selector())
    loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
    return loop


def loop_thread_ident() -> int:
    """The OS thread id of the caller, as the unpatched ``_thread`` sees it."""
    get_ident: Callable[[], int] = _original("_thread", "get_ident")
    return get_ident()


class _Call:
    """One coroutine handed from a greenlet to the loop, and its outcome on the way back."""

    __slots__ = ("coro", "outcome", "task")

    def __init__(self, coro: Coroutine[Any, Any, Any]) -> None:
        self.coro = coro
        # A Waiter, not an AsyncResult: one greenlet waits, once (a third of the cost).
        self.outcome: Waiter[Any] = Waiter()
        self.task: asyncio.Task[Any] | None = None


class LoopThread:
    """An asyncio event loop running for ever in an OS thread of its own (:meth:`start`).

    Calls cross between the threads in batches: greenlets queue coroutines
    and the loop is woken once for all queued since it last looked; finished
    tasks queue their calls and the hub is woken (one libev *async* watcher,
    made once) to hand out every outcome ready. A watcher and a wake-up per
    call cost 10 µs of CPU a call, a quarter of a point select's.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, ident: int, ended: Any) -> None:
        self.loop = loop
        self.ident = ident  # the loop thread's OS thread id
        self._ended = ended  # an original lock, released when the thread ends
        # deque's append and popleft are atomic: each queue has one thread
        # putting in and the other taking out.
        self._submitted: collections.deque[_Call] = collections.deque()
        self._finished: collections.deque[_Call] = collections.deque()
        self._wake_pending = False  # a _begin_submitted is scheduled on the loop
        self._watcher: Any = None  # the hub's async watcher, made by the first call

    @classmethod
    def start(cls) -> LoopThread:
        start_new_thread: Callable[..., int] = _original("_thread", "start_new_thread")
        allocate_lock: Callable[[], _thread.LockType] = _original("_thread", "allocate_lock")
        ready, ended = allocate_lock(), allocate_lock()
        ready.acquire()
        ended.acquire()
        made: list[tuple[asyncio.AbstractEventLoop, int]] = []

        def run() -> None:
            try:
                loop = _new_loop()
                asyncio.set_event_loop(loop)
                made.append((loop, loop_thread_ident()))
                ready.release()
                loop.run_forever()
                loop.close()
            finally:
                ended.release()

        start_new_thread(run, ())
        # A real lock, acquired for the moment the thread takes to build its loop:
        # nothing else may run on the hub before the loop exists anyway.
        ready.acquire()
        loop, ident = made[0]
        return cls(loop, ident, ended)

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for it without blocking gevent's hub.

        Its result is returned and its exception raised here. If the waiting
        greenlet is killed (GreenletExit, gevent.Timeout), the task is cancelled.
        """
        if self._watcher is None:
            # Made and started in the hub's thread, before any task can end.
            self._watcher = gevent.get_hub().loop.async_()
            self._watcher.start(self._hand_out)
        call = _Call(coro)
        self._submitted.append(call)
        if not self._wake_pending:
            self._wake_pending = True
            self.loop.call_soon_threadsafe(self._begin_submitted)
        try:
            result: T = call.outcome.get()
        except BaseException:
            # Killed while waiting: the operation must not run on unseen. (An
            # error of the operation itself comes from a task that is done.)
            task = call.task
            if (task is None or not task.done()) and not self.loop.is_closed():
                self.loop.call_soon_threadsafe(self._cancel, call)
            raise
        return result

    # --- in the loop's thread -----------------------------------------------------

    def _begin_submitted(self) -> None:
        # Cleared before the queue is read: a call queued after the read
        # finds the flag down and schedules another round.
        self._wake_pending = False
        submitted = self._submitted
        while submitted:
            call = submitted.popleft()
            call.task = self.loop.create_task(call.coro)
            call.task.add_done_callback(functools.partial(self._finish, call))

    def _finish(self, call: _Call, _task: asyncio.Task[Any]) -> None:
        self._finished.append(call)
        self._watcher.send()  # libev sends nothing more while one is pending

    def _cancel(self, call: _Call) -> None:
        if call.task is not None:
            call.task.cancel()
        else:  # never begun: the loop stopped first, or it is still queued
            with contextlib.suppress(ValueError):
                self._submitted.remove(call)
            call.coro.close()

    # --- in the hub's thread ------------------------------------------------------

    def _hand_out(self) -> None:
        finished = self._finished
        while finished:
            call = finished.popleft()
            task = call.task
            assert task is not None
            if task.cancelled():
                call.outcome.throw(asyncio.CancelledError())
            elif (error := task.exception()) is not None:
                call.outcome.throw(error)
            else:
                call.outcome.switch(task.result())

    def stop(self) -> None:
        """Stop the loop and wait (a moment at most) for its thread to end."""
        if self._watcher is not None:
            self._watcher.close()
            self._watcher = None
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._ended.acquire(timeout=_STOP_TIMEOUT_S)
