"""Options several commands share: the target, the load, progress, outputs (argparse).

Standard library and light modules only, as :mod:`dbprobe.cli.parser` is: ``--help``
imports no SQLAlchemy. The short forms are pgbench's: ``-c`` clients (``--threads``),
``-T`` seconds, ``-t`` transactions, ``-R`` rate, ``-L`` latency limit, ``-P`` progress.
"""

from __future__ import annotations

import argparse

from dbprobe.cli.gate_parser import REGRESSION_LEVELS, add_gate_options, add_report_files
from dbprobe.cli.option_types import (
    database_url,
    int_between,
    milliseconds,
    output_path,
    percent,
    profile,
    rate,
    seconds,
    slo,
)
from dbprobe.result.findings import FindingKind
from dbprobe.result.limits import MAX_COUNT, MAX_PROCESSES, MAX_RETRIES, MAX_WORKERS
from dbprobe.result.options import (
    ARRIVAL_KINDS,
    DEFAULT_GRACE_S,
    DEFAULT_MAX_ERROR_RATE,
    DEFAULT_N_PLUS_ONE_THRESHOLD,
    DEFAULT_ROUNDS,
    ISOLATION_LEVELS,
    LOOP_CHOICES,
    MAX_ROUNDS,
    PROFILE_NAMES,
    SCALE_NAMES,
)

__all__ = [
    "COUNT",
    "DEFAULT_DURATION_S",
    "DEFAULT_PROGRESS_S",
    "FINDING_KINDS",
    "MAX_SEED",
    "REPO_DEFAULT_TRANSACTIONS",
    "RETRIES",
    "WORKERS",
    "add_load_options",
    "add_max_error_rate",
    "add_output_options",
    "add_progress",
    "add_target_options",
    "add_threads",
]

DEFAULT_DURATION_S = 5.0

#: Transactions per worker of a repo run given neither --transactions nor --duration.
REPO_DEFAULT_TRANSACTIONS = 20

#: Seconds between progress lines on a stderr that is not a terminal (a CI log), unless
#: -P says otherwise: a record of a long run without flooding the log.
DEFAULT_PROGRESS_S = 5.0

#: The largest --seed: the seed-state row keeps it in a BIGINT column (signed 64-bit on
#: PostgreSQL and SQLite alike), and a larger one overflowed there after the load began.
MAX_SEED = 2**63 - 1

# Every count has a maximum (dbprobe.result.limits says why each): an unbounded
# --threads once built tasks until memory ran out.
WORKERS = int_between(1, MAX_WORKERS)
COUNT = int_between(1, MAX_COUNT)
RETRIES = int_between(0, MAX_RETRIES)

#: Every kind of finding: any of them can fail a run with --fail-on.
FINDING_KINDS = tuple(kind.value for kind in FindingKind)


def add_target_options(p: argparse.ArgumentParser, *, seeded: bool = True) -> None:
    """--db, --connect-timeout and --loop; with ``seeded``, the data the command seeds
    (clean seeds nothing: it only drops dbprobe's tables)."""
    p.add_argument(
        "--db",
        metavar="URL",
        type=database_url,
        help="database URL (default: $DBPROBE_DB_URL, else an SQLite file in dbprobe's data "
        "directory); e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test",
    )
    p.add_argument(
        "--connect-timeout",
        type=seconds(False),
        default=10.0,
        metavar="S",
        help="give up on a server that does not answer within S seconds (default 10)",
    )
    # Every command that connects runs on the loop asked for, so that seeding and
    # cleaning exercise the same loop as the load.
    p.add_argument(
        "--loop",
        choices=LOOP_CHOICES,
        default="auto",
        help="event loop to run on: asyncio's own, or uvloop (pip install 'dbprobe[fast]'); "
        "the report records which ran (default auto: uvloop when installed, else asyncio)",
    )
    if not seeded:
        return
    p.add_argument(
        "--scale", choices=SCALE_NAMES, default="small", help="seeded data size (default small)"
    )
    p.add_argument(
        "--seed",
        type=int_between(0, MAX_SEED),
        default=1,
        help=f"random seed of the data and the load (0 to {MAX_SEED})",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="add dbprobe's tables to a database or file that holds other tables",
    )


def add_threads(p: argparse.ArgumentParser, threads: int, why: str, what: str) -> None:
    # -c as pgbench's --client: the number of concurrent sessions.
    p.add_argument(
        "-c",
        "--threads",
        type=WORKERS,
        default=threads,
        metavar="N",
        help=f"{what} (default {threads}: {why})",
    )


def add_progress(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-P",
        "--progress",
        type=seconds(False),
        metavar="S",
        help="print a progress line on stderr every S seconds, as pgbench -P (default: a live "
        f"line in a terminal; elsewhere, e.g. a CI log, a line every {DEFAULT_PROGRESS_S:g} s)",
    )


def add_load_options(
    p: argparse.ArgumentParser,
    *,
    threads: int,
    why: str,
    duration_s: float | None,
    warmup_s: float,
    n_plus_one: bool = True,
) -> None:
    """Options every load-driving probe shares: amount of load, retries, reports, checks.

    The short forms are pgbench's: -c clients, -T seconds, -t transactions,
    -R rate, -L latency limit, -P progress.
    """
    add_threads(
        p,
        threads,
        why,
        "concurrent workers: asyncio tasks, each with its own session and connection",
    )
    amount = p.add_mutually_exclusive_group()
    amount.add_argument(
        "-t", "--transactions", type=COUNT, metavar="M", help="transactions per worker"
    )
    default = (
        f"default {duration_s:g} unless --transactions"
        if duration_s
        else f"default: {REPO_DEFAULT_TRANSACTIONS} transactions per worker instead"
    )
    amount.add_argument(
        "-T",
        "--duration",
        type=seconds(False),
        metavar="S",
        help=f"measure for S seconds, or 500ms, 2m, 1h ({default})",
    )
    add_progress(p)
    # A count-based run does what it says, as pgbench -t does: M transactions
    # per worker and no unrecorded ones before them (a 1-s warmup ran hundreds).
    p.add_argument(
        "--warmup",
        type=seconds(True),
        default=None,
        metavar="S",
        help=f"run S seconds unrecorded first (default {warmup_s:g}"
        + (", 0 with --transactions)" if warmup_s else ")"),
    )
    p.set_defaults(timed_warmup_s=warmup_s)
    p.add_argument(
        "--grace",
        type=seconds(True),
        default=DEFAULT_GRACE_S,
        metavar="S",
        help="operations still running at the end of --duration get S seconds to finish, "
        f"then are cancelled and counted as cancelled (default {DEFAULT_GRACE_S:g})",
    )
    p.add_argument(
        "--isolation",
        choices=ISOLATION_LEVELS,
        help="transaction isolation (default: read_committed on PostgreSQL, "
        "serializable on SQLite)",
    )
    p.add_argument(
        "--retries",
        type=RETRIES,
        default=3,
        help="retries of deadlocks, serialization failures and lock timeouts (default 3)",
    )
    p.add_argument(
        "--pool-size",
        type=WORKERS,
        metavar="N",
        help="connection pool size (default: --threads, one connection per worker)",
    )
    p.add_argument(
        "--json",
        type=output_path,
        metavar="PATH",
        help="write the report (schema dbprobe.report/1)",
    )
    p.add_argument(
        "--slo",
        type=slo,
        action="append",
        default=[],
        metavar="EXPR",
        help='objective, e.g. "p95<100ms", "error_rate<1%%", "read_program:p99<20ms"; '
        "a violation exits 1 (repeatable)",
    )
    p.add_argument(
        "--fail-on",
        choices=(*FINDING_KINDS, *REGRESSION_LEVELS),
        action="append",
        default=[],
        metavar="KIND",
        help=f"exit 1 when a finding of this kind is reported ({', '.join(FINDING_KINDS)}), "
        "or a regression against --compare of at least this severity (minor, warning, "
        "critical); repeatable",
    )
    add_max_error_rate(p)
    if n_plus_one:
        p.add_argument(
            "--n-plus-one-threshold",
            type=int_between(2, MAX_COUNT),
            default=DEFAULT_N_PLUS_ONE_THRESHOLD,
            metavar="N",
            help="a SELECT repeated N times with different parameters in one operation is an "
            f"N+1 (default {DEFAULT_N_PLUS_ONE_THRESHOLD})",
        )
    p.add_argument("--quiet", action="store_true", help="no progress line and no table")
    p.add_argument(
        "-R",
        "--rate",
        type=rate,
        metavar="R",
        help="arrivals per second (all processes together): open loop, latency from each "
        "operation's intended start (default: closed loop)",
    )
    p.add_argument(
        "--arrivals",
        choices=ARRIVAL_KINDS,
        default="poisson",
        help="spacing of the fixed-rate arrivals, seeded (default poisson)",
    )
    p.add_argument(
        "--profile",
        type=profile,
        metavar="SPEC",
        help=f"shape of the rate over --duration: {', '.join(PROFILE_NAMES)}, e.g. "
        "ramp:from=10 or spike:factor=5,seconds=10 (needs --rate)",
    )
    p.add_argument(
        "-L",
        "--latency-limit",
        type=milliseconds(False),
        metavar="MS",
        help="skip operations already MS milliseconds late when a worker takes them "
        "(as pgbench -L; needs --rate)",
    )
    p.add_argument(
        "--rounds",
        type=int_between(1, MAX_ROUNDS),
        default=DEFAULT_ROUNDS,
        metavar="N",
        help="measure in N rounds (the operations interleaved, each round one sample of the "
        f"regression gate; default {DEFAULT_ROUNDS})",
    )
    p.add_argument(
        "--processes",
        type=int_between(1, MAX_PROCESSES),
        default=1,
        metavar="P",
        help="run the load in P processes, each with --threads workers and its own "
        "connections; histograms and counts merge exactly (default 1)",
    )
    add_gate_options(p)


def add_max_error_rate(p: argparse.ArgumentParser, what: str = "operations") -> None:
    p.add_argument(
        "--max-error-rate",
        type=percent,
        default=DEFAULT_MAX_ERROR_RATE,
        metavar="PCT",
        help=f"more than PCT %% of the {what} giving up is an error_rate finding, and "
        f"exit 1 (default {DEFAULT_MAX_ERROR_RATE * 100:g}; 0: any error fails the run)",
    )


def add_output_options(p: argparse.ArgumentParser, fail_on: tuple[str, ...]) -> None:
    p.add_argument(
        "--json",
        type=output_path,
        metavar="PATH",
        help="write the report (schema dbprobe.report/1)",
    )
    p.add_argument(
        "--fail-on",
        choices=fail_on,
        action="append",
        default=[],
        metavar="KIND",
        help=f"exit 1 when a finding of this kind is reported ({', '.join(fail_on)})",
    )
    p.add_argument("--quiet", action="store_true", help="no progress line and no table")
    add_report_files(p)
