"""The names a run's options take, and their defaults, as a report's config states them.

Scales, isolation levels, arrival spacings, load profiles, the select
probe's layers, the deadlock probe's patterns and lock orders, the uow mix:
the vocabulary of the ``config`` section (:mod:`dbprobe.result.config`). The
modules that own each concept import them from here, so there is one
definition of each; standard library only, so ``python -m dbprobe --help``
builds its parser from them without importing SQLAlchemy, rich or the drivers.
"""

from __future__ import annotations

__all__ = [
    "ARRIVAL_KINDS",
    "DEADLOCK_PATTERNS",
    "DEFAULT_EXPLAIN_MIN_ROWS",
    "DEFAULT_GRACE_S",
    "DEFAULT_HOOK_TIMEOUT_S",
    "DEFAULT_MAX_ERROR_RATE",
    "DEFAULT_N_PLUS_ONE_THRESHOLD",
    "DEFAULT_ROUNDS",
    "DEFAULT_UOW_MIX",
    "ISOLATION_LEVELS",
    "LOCK_ORDERS",
    "LOOP_CHOICES",
    "MAX_ROUNDS",
    "PROFILE_NAMES",
    "SCALE_NAMES",
    "SELECT_VIAS",
]

#: Named scales of the reference domain (seeds/scales.toml defines them).
SCALE_NAMES: tuple[str, ...] = ("tiny", "small", "medium", "large")

#: Isolation levels a probe can ask for (values of dbprobe.database.engine.Isolation).
ISOLATION_LEVELS: tuple[str, ...] = ("read_committed", "repeatable_read", "serializable")

#: A SELECT repeated this many times with different parameters in one operation is an N+1.
DEFAULT_N_PLUS_ONE_THRESHOLD = 3

#: ``--explain``: tables of fewer rows are never an index finding (a few pages
#: read whole cost about what an index lookup does).
DEFAULT_EXPLAIN_MIN_ROWS = 1000

#: Rounds a run is measured in: each round's figure is one sample of the regression gate.
DEFAULT_ROUNDS = 10
MAX_ROUNDS = 1000
#: How long operations still running at the end of a timed run may take to finish
#: before they are cancelled (and counted as cancelled): long enough for a slow
#: commit, short enough that an operation that never returns cannot hold a CI job.
DEFAULT_GRACE_S = 5.0
#: How long a scenario file's setup() or teardown() may take (--hook-timeout): a
#: teardown that never returned once kept the report from being written.
DEFAULT_HOOK_TIMEOUT_S = 30.0
#: The share of finished operations that may give up before a run fails (--max-error-rate).
DEFAULT_MAX_ERROR_RATE = 0.01

#: Load profiles and arrival spacings of a fixed-rate run (dbprobe.load.profiles, .arrivals).
PROFILE_NAMES: tuple[str, ...] = ("steady", "ramp", "spike", "soak")
ARRIVAL_KINDS: tuple[str, ...] = ("poisson", "uniform")

#: The layers the select probe reads through.
SELECT_VIAS: tuple[str, ...] = ("orm", "core", "driver", "all")

#: Event loops the load can run on (--loop; dbprobe.load.loops): auto is uvloop when
#: it imports, else asyncio's own.
LOOP_CHOICES: tuple[str, ...] = ("auto", "asyncio", "uvloop")

#: How a deadlock-probe transfer writes, and in which order it locks its accounts.
DEADLOCK_PATTERNS: tuple[str, ...] = ("for_update", "atomic", "naive")
LOCK_ORDERS: tuple[str, ...] = ("random", "sorted")

#: Weights of the uow probe's transaction types.
DEFAULT_UOW_MIX: dict[str, int] = {"create_program": 1, "reschedule_session": 3, "read_program": 6}
