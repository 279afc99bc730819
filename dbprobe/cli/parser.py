"""The command line's parser: every subcommand and option, and the types that check them.

Built from light modules only (the standard library and the option
vocabularies of :mod:`dbprobe.result.options`, :mod:`dbprobe.result.findings`
and the Hermitage catalogue): ``dbprobe --help`` and a mistyped option answer
without importing SQLAlchemy, rich or the drivers. An option type that needs
a heavier parser (an SLO, a load profile) imports it when the option is given.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NoReturn

from dbprobe.cli.gate_parser import (
    REGRESSION_LEVELS,
    add_comparison_options,
    add_gate_commands,
    add_gate_options,
    add_report_files,
)
from dbprobe.cli.option_types import (
    int_at_least,
    int_between,
    mix,
    non_negative_int,
    percent,
    positive_int,
    profile,
    rate,
    seconds,
    slo,
)
from dbprobe.result.findings import FindingKind
from dbprobe.result.options import (
    ARRIVAL_KINDS,
    DEADLOCK_PATTERNS,
    DEFAULT_MAX_ERROR_RATE,
    DEFAULT_N_PLUS_ONE_THRESHOLD,
    DEFAULT_ROUNDS,
    DEFAULT_UOW_MIX,
    ISOLATION_LEVELS,
    LOCK_ORDERS,
    MAX_ROUNDS,
    PROFILE_NAMES,
    SCALE_NAMES,
    SELECT_VIAS,
)

__all__ = ["DEFAULT_DURATION_S", "ArgumentError", "build_parser"]

DEFAULT_DURATION_S = 5.0

#: Every kind of finding: any of them can fail a run with --fail-on.
FINDING_KINDS = tuple(kind.value for kind in FindingKind)


class ArgumentError(Exception):
    """A command line argparse refused; reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage: the CLI prints one line."""

    def error(self, message: str) -> NoReturn:
        raise ArgumentError(f"{self.prog}: {message}")


def _add_target_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--db",
        metavar="URL",
        help="database URL (default: $DBPROBE_DB_URL, else an SQLite file in dbprobe's data "
        "directory); e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test",
    )
    p.add_argument(
        "--scale", choices=SCALE_NAMES, default="small", help="seeded data size (default small)"
    )
    p.add_argument(
        "--seed", type=non_negative_int, default=1, help="random seed of the data and the load"
    )
    p.add_argument(
        "--connect-timeout",
        type=seconds(False),
        default=10.0,
        metavar="S",
        help="give up on a server that does not answer within S seconds (default 10)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="add dbprobe's tables to a database or file that holds other tables",
    )


def _add_load_options(
    p: argparse.ArgumentParser, *, threads: int, duration_s: float | None, warmup_s: float
) -> None:
    """Options every load-driving probe shares: amount of load, retries, reports, checks."""
    p.add_argument(
        "--threads",
        type=positive_int,
        default=threads,
        help="concurrent workers: asyncio tasks, each with its own session and connection "
        f"(default {threads})",
    )
    amount = p.add_mutually_exclusive_group()
    amount.add_argument(
        "--transactions", type=positive_int, metavar="M", help="transactions per worker"
    )
    default = f"default {duration_s:g} unless --transactions" if duration_s else "seconds"
    amount.add_argument(
        "--duration", type=seconds(False), metavar="S", help=f"measure for S seconds ({default})"
    )
    p.add_argument(
        "--warmup",
        type=seconds(True),
        default=warmup_s,
        metavar="S",
        help=f"run S seconds unrecorded first (default {warmup_s:g})",
    )
    p.add_argument(
        "--isolation",
        choices=ISOLATION_LEVELS,
        help="transaction isolation (default: read_committed on PostgreSQL, "
        "serializable on SQLite)",
    )
    p.add_argument(
        "--retries",
        type=non_negative_int,
        default=3,
        help="retries of deadlocks, serialization failures and lock timeouts (default 3)",
    )
    p.add_argument(
        "--pool-size",
        type=positive_int,
        metavar="N",
        help="connection pool size (default: --threads, one connection per worker)",
    )
    p.add_argument(
        "--json", type=Path, metavar="PATH", help="write the report (schema dbprobe.report/1)"
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
    _add_max_error_rate(p)
    p.add_argument(
        "--n-plus-one-threshold",
        type=int_at_least(2),
        default=DEFAULT_N_PLUS_ONE_THRESHOLD,
        metavar="N",
        help="a SELECT repeated N times with different parameters in one operation is an N+1 "
        f"(default {DEFAULT_N_PLUS_ONE_THRESHOLD})",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    p.add_argument(
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
        "--latency-limit",
        type=seconds(False),
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
        type=int_at_least(1),
        default=1,
        metavar="P",
        help="run the load in P processes, each with --threads workers and its own "
        "connections; histograms and counts merge exactly (default 1)",
    )
    add_gate_options(p)


def _add_max_error_rate(p: argparse.ArgumentParser, what: str = "operations") -> None:
    p.add_argument(
        "--max-error-rate",
        type=percent,
        default=DEFAULT_MAX_ERROR_RATE,
        metavar="PCT",
        help=f"more than PCT %% of the {what} giving up is an error_rate finding, and "
        f"exit 1 (default {DEFAULT_MAX_ERROR_RATE * 100:g}; 0: any error fails the run)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dbprobe",
        description="asyncio database performance probes for SQLAlchemy 2 on SQLite and PostgreSQL",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p_seed = sub.add_parser(
        "seed", help="(re)load the reference domain at a scale; print its checksum"
    )
    _add_target_options(p_seed)

    p_uow = sub.add_parser("uow", help="Unit-of-Work transactions under concurrent workers")
    _add_target_options(p_uow)
    _add_load_options(p_uow, threads=10, duration_s=DEFAULT_DURATION_S, warmup_s=1.0)
    p_uow.add_argument(
        "--mix",
        type=mix,
        metavar="NAME=W,...",
        help="weights of the transaction types (default "
        + ",".join(f"{k}={v}" for k, v in DEFAULT_UOW_MIX.items())
        + ")",
    )
    p_uow.add_argument(
        "--hot-set",
        type=positive_int,
        default=20,
        metavar="K",
        help="reschedules pick among the first K sessions, so workers conflict (default 20)",
    )

    p_repo = sub.add_parser(
        "repo", help="the repository query catalogue, each query measured, N+1 patterns named"
    )
    _add_target_options(p_repo)
    _add_load_options(p_repo, threads=1, duration_s=None, warmup_s=0.0)
    p_repo.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this catalogue entry (repeatable; see --list)",
    )
    p_repo.add_argument("--list", action="store_true", help="list the catalogue and exit")

    p_select = sub.add_parser(
        "select", help="point selects by primary key through the ORM, Core and the bare driver"
    )
    _add_target_options(p_select)
    _add_load_options(p_select, threads=10, duration_s=DEFAULT_DURATION_S, warmup_s=1.0)
    p_select.add_argument(
        "--via",
        choices=SELECT_VIAS,
        default="all",
        help="orm (AsyncSession.get), core (engine.connect + a Core select), driver "
        "(asyncpg/aiosqlite directly, prepared statement, one connection per worker), or all "
        "three one after another (default all)",
    )
    p_run = sub.add_parser("run", help="your own async scenarios (@dbprobe.scenario) under load")
    p_run.add_argument("scenarios", help="path/to/scenarios.py, package.module, or module:attr")
    _add_target_options(p_run)
    _add_load_options(p_run, threads=10, duration_s=DEFAULT_DURATION_S, warmup_s=1.0)
    p_run.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="run only this scenario"
    )
    p_run.add_argument("--list", action="store_true", help="list the scenarios and exit")

    p_merge = sub.add_parser(
        "merge", help="combine reports of runs on several machines against one database"
    )
    p_merge.add_argument("reports", nargs="+", type=Path, metavar="REPORT.json")
    p_merge.add_argument(
        "--slo",
        type=slo,
        action="append",
        default=[],
        metavar="EXPR",
        help="objectives checked on the merged figures",
    )
    _add_output_options(p_merge, FINDING_KINDS)
    _add_pool_parser(sub)
    _add_deadlock_parser(sub)
    _add_isolation_parser(sub)
    add_gate_commands(sub)
    _add_suite_parser(sub)

    p_clean = sub.add_parser(
        "clean", help="drop exactly the tables dbprobe created (the default SQLite file: delete it)"
    )
    _add_target_options(p_clean)
    return parser


def _add_pool_parser(sub: Any) -> None:
    p = sub.add_parser(
        "pool", help="connection-pool exhaustion: checkout waits apart from query time, holders"
    )
    _add_target_options(p)
    p.add_argument(
        "--pool-size",
        type=int_at_least(1),
        default=5,
        metavar="N",
        help="connections the pool keeps (SQLAlchemy pool_size; default 5)",
    )
    p.add_argument(
        "--max-overflow",
        type=int_at_least(0),
        default=10,
        metavar="N",
        help="connections it may open beyond --pool-size (max_overflow; default 10)",
    )
    p.add_argument(
        "--pool-timeout",
        type=seconds(False),
        default=30.0,
        metavar="S",
        help="how long a checkout waits before sqlalchemy.exc.TimeoutError (default 30)",
    )
    p.add_argument(
        "--threads",
        type=int_at_least(1),
        default=20,
        metavar="N",
        help="concurrent demand: workers, each holding one connection at a time (default 20)",
    )
    p.add_argument(
        "--hold-ms",
        type=int_at_least(0),
        default=100,
        metavar="MS",
        help="how long a worker keeps its connection: pg_sleep on PostgreSQL, a short read "
        "then a sleep on SQLite (default 100)",
    )
    p.add_argument(
        "--duration",
        type=seconds(False),
        default=10.0,
        metavar="S",
        help="seconds during which workers take connections (default 10)",
    )
    p.add_argument(
        "--ramp",
        action="store_true",
        help="demand steps from 1 up to --threads and back down, once a second",
    )
    p.add_argument(
        "--trace-holders",
        action="store_true",
        help="remember the code location of each checkout; list who held connections longest",
    )
    p.add_argument(
        "--slo",
        type=slo,
        action="append",
        default=[],
        metavar="EXPR",
        help='objective on the hold operation (checkout wait + hold), e.g. "p99<500ms"',
    )
    _add_max_error_rate(p, "checkouts failing other than by a pool timeout")
    _add_output_options(
        p, ("pool_exhaustion", "leaked_connection", "error_rate", "service_interruption")
    )


def _add_deadlock_parser(sub: Any) -> None:
    p = sub.add_parser(
        "deadlock",
        help="concurrent transfers: deadlocks, serialization failures, and a ledger check "
        "that finds lost updates",
    )
    _add_target_options(p)
    _add_load_options(p, threads=8, duration_s=DEFAULT_DURATION_S, warmup_s=0.0)
    p.add_argument(
        "--accounts",
        type=int_at_least(2),
        default=4,
        metavar="K",
        help="move money among accounts 1..K of the seeded ledger (tiny has 16, small 100); "
        "fewer accounts, more contention (default 4)",
    )
    p.add_argument(
        "--pattern",
        choices=DEADLOCK_PATTERNS,
        default="for_update",
        help="for_update: SELECT ... FOR UPDATE then write; atomic: SET balance = balance - x; "
        "naive: read, compute, write back (the lost-update pattern) (default for_update)",
    )
    p.add_argument(
        "--lock-order",
        choices=LOCK_ORDERS,
        default="random",
        help="random: lock the accounts in the order the transfer names them (A->B and B->A "
        "cross: deadlocks); sorted: by id (default random)",
    )


def _add_output_options(p: argparse.ArgumentParser, fail_on: tuple[str, ...]) -> None:
    p.add_argument(
        "--json", type=Path, metavar="PATH", help="write the report (schema dbprobe.report/1)"
    )
    p.add_argument(
        "--fail-on",
        choices=fail_on,
        action="append",
        default=[],
        metavar="KIND",
        help=f"exit 1 when a finding of this kind is reported ({', '.join(fail_on)})",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar and no table")
    add_report_files(p)


def _add_isolation_parser(sub: Any) -> None:
    from dbprobe.probes.isolation.hermitage import TEST_NAMES

    p = sub.add_parser(
        "isolation",
        help="Hermitage anomaly tests (G0 ... G2) at each isolation level: prevented or allowed",
    )
    _add_target_options(p)
    p.add_argument(
        "--level",
        action="append",
        default=[],
        metavar="NAME",
        help="isolation level to test (repeatable; PostgreSQL: read_committed, repeatable_read, "
        "serializable; SQLite: deferred, immediate; default: all the target offers)",
    )
    p.add_argument(
        "--test",
        action="append",
        default=[],
        choices=TEST_NAMES,
        metavar="NAME",
        help=f"anomaly test to run (repeatable; default all: {', '.join(TEST_NAMES)})",
    )
    p.add_argument("--list", action="store_true", help="print the test scripts and exit")
    p.add_argument(
        "--busy-timeout-ms",
        type=int_at_least(1),
        default=200,
        metavar="MS",
        help="SQLite: how long a write waits for the lock before it counts as refused "
        "(default 200)",
    )
    p.add_argument(
        "--lock-wait-limit",
        type=seconds(False),
        default=10.0,
        metavar="S",
        help="end a step that waits longer than S seconds for a lock, as an error (default 10)",
    )
    _add_output_options(p, ("anomaly",))


def _add_suite_parser(sub: Any) -> None:
    p = sub.add_parser("suite", help="run uow and repo at one scale; one combined result")
    _add_target_options(p)
    p.add_argument("--threads", type=int_at_least(1), default=4)
    p.add_argument("--duration", type=seconds(False), default=5.0, metavar="S")
    p.add_argument("--warmup", type=seconds(True), default=1.0, metavar="S")
    p.add_argument("--repo-transactions", type=int_at_least(1), default=50, metavar="N")
    p.add_argument("--retries", type=int_at_least(0), default=3)
    p.add_argument("--only", action="append", default=[], choices=("uow", "repo"))
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="where to write")
    p.add_argument("--no-html", action="store_true", help="skip the HTML page")
    p.add_argument(
        "--fail-on", choices=REGRESSION_LEVELS, action="append", default=[], metavar="LEVEL"
    )
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--compare", metavar="BASELINE")
    p.add_argument("--save-baseline", metavar="NAME")
    p.add_argument("--record", action="store_true")
    p.add_argument("--label", metavar="TEXT")
    add_comparison_options(p)
