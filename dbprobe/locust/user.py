"""The Locust user that runs dbprobe operations: one at a time, in its process's event loop.

Like a dbprobe worker in a closed loop, each user picks an operation by
weight (the probe's transaction mix, or a scenario file's weights) with a
seeded ``random.Random`` of its own, runs it, and starts the next when it is
done (``wait_time`` 0; give the class another ``wait_time`` to pace it). The
operation runs in the process's asyncio thread; the user's greenlet waits
for it without blocking gevent's hub (:mod:`dbprobe.locust.loop`) and then
reports it through Locust's ``request`` event: ``request_type`` the probe
(``uow``, ``repo``, or ``run`` for a scenario file), ``name`` the operation,
``response_time`` in ms as dbprobe measured it on the asyncio side (first
attempt to commit, retries included), and for an operation that gave up an
:class:`OperationFailed` naming dbprobe's error class.
"""

from __future__ import annotations

import itertools
import random
from bisect import bisect
from itertools import accumulate
from typing import Any

from locust import User, constant, task
from locust.exception import StopUser

from dbprobe.errors import ErrorClass
from dbprobe.load.processes import process_seed
from dbprobe.locust.plugin import current, initialised

__all__ = ["DbprobeUser", "OperationFailed"]

# Users of one process are numbered as dbprobe numbers its workers: each gets
# its own seeded sequence of operations and rows.
_numbers = itertools.count()


class OperationFailed(Exception):
    """What Locust records for an operation that gave up: dbprobe's error class and code.

    Locust groups failures by this message, so it is the class and the
    SQLSTATE only; the first messages of each class are in dbprobe's report
    (``error_samples``).
    """

    def __init__(self, error_class: ErrorClass, code: str | None) -> None:
        super().__init__(f"{error_class.value} [{code}]" if code else error_class.value)
        self.error_class = error_class
        self.code = code


class DbprobeUser(User):
    """Runs ``--dbprobe-probe``'s operations (or ``--dbprobe-scenarios FILE``'s) as a Locust user.

    Abstract, as Locust's own base users are: a locustfile subclasses it
    (``class Db(DbprobeUser): pass``), which is also where a ``wait_time``
    or a ``weight`` among other user classes goes.
    """

    abstract = True
    wait_time = constant(0)

    def __init__(self, environment: Any) -> None:
        super().__init__(environment)
        self._number = next(_numbers)
        self._rng: random.Random | None = None
        self._names: list[str] = []
        self._cumulative: list[int] = []

    def on_start(self) -> None:
        process = initialised()
        workbench = process.wait_for_workbench()
        if workbench is None or process.settings is None:
            raise StopUser  # this process could not connect: it said why, once
        seed = process_seed(process.settings.seed, process.index)
        self._rng = random.Random(seed * 1_000_003 + self._number)
        self._names = list(workbench.weights)
        self._cumulative = list(accumulate(workbench.weights.values()))

    @task
    def operation(self) -> None:
        process = current()
        workbench = process.workbench
        rng = self._rng
        if workbench is None or rng is None or process.loop is None:
            raise StopUser
        # Weighted choice as random.choices makes it (dbprobe's workers do the same).
        k = bisect(self._cumulative, rng.random() * self._cumulative[-1], 0, len(self._names) - 1)
        name = self._names[k]
        outcome = process.loop.call(workbench.run(name, rng, self._number))
        self.environment.events.request.fire(
            request_type=workbench.settings.probe,
            name=name,
            response_time=outcome.elapsed_ns / 1e6,
            response_length=0,
            exception=(
                OperationFailed(outcome.error, outcome.code) if outcome.error is not None else None
            ),
            context={},
        )
