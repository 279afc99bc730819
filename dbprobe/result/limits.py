"""The largest value each count, rate and time option accepts, and why (standard library only).

A value beyond these is refused before anything runs (one line naming the
option and its maximum, exit status 2), by the command line's option types
and again where the plan is built, for library and plugin callers. Each
maximum is far above any run dbprobe can drive, and low enough that what a
run derives from it (tasks, a pool, nanosecond deadlines, arrivals to
account for) stays small and finite: ``--threads 99999999999999999999`` once
built tasks until memory ran out, ``--duration inf`` overflowed after seeding,
and ``--rate 1e300`` looped per arrival forever after the deadline.
"""

from __future__ import annotations

__all__ = [
    "MAX_COUNT",
    "MAX_MILLISECONDS",
    "MAX_PROCESSES",
    "MAX_RATE_PER_S",
    "MAX_RETRIES",
    "MAX_SECONDS",
    "MAX_WORKERS",
    "MIN_DURATION_S",
]

#: Arrivals per second of a fixed-rate run, all processes together (and the
#: peak of its profile). One operation costs dbprobe's event loop some 50 µs of
#: CPU at the very least, so one process starts at most ~20,000 a second: a
#: million a second needs ~50 busy cores, already beyond any machine that runs
#: it; above it a rate only says "as fast as possible", which is a closed loop.
MAX_RATE_PER_S = 1_000_000.0

#: Concurrent workers (--threads, and --threads x --processes in all) and connections
#: (--pool-size, --max-overflow): each worker holds a connection, and no database
#: server takes ten thousand (PostgreSQL's max_connections is 100 by default).
MAX_WORKERS = 10_000

#: Load processes: each is a Python interpreter with its own connections.
MAX_PROCESSES = 256

#: Transactions and other plain counts (--transactions, --hot-set, --accounts,
#: --n-plus-one-threshold, ...): a billion operations is days of load, and it
#: stays a 64-bit integer in SQL and in every product a run computes.
MAX_COUNT = 1_000_000_000

#: Retries of one operation: with backoff capped at 0.2 s, a thousand retries
#: already keep one operation going for minutes.
MAX_RETRIES = 1_000

#: Durations, warm-ups and timeouts (seconds): 30 days, longer than any soak;
#: in nanoseconds it is still far inside a 64-bit integer.
MAX_SECONDS = 30 * 24 * 3600.0

#: The shortest --duration of a load: below a millisecond the deadline, in whole
#: nanoseconds, could fall on the start itself (--duration 1e-300 divided by zero
#: after seeding), and such a run measures nothing anyway.
MIN_DURATION_S = 0.001

#: Millisecond options (--hold-ms, --busy-timeout-ms, --latency-limit): an hour.
MAX_MILLISECONDS = 3_600_000
