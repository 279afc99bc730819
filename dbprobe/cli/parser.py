"""The command line's parser: every subcommand and option, and the types that check them.

Built from light modules only (the standard library and the option
vocabularies of :mod:`dbprobe.result.options`, :mod:`dbprobe.result.findings`
and the Hermitage catalogue): ``dbprobe --help`` and a mistyped option answer
without importing SQLAlchemy, rich or the drivers. An option type that needs
a heavier parser (an SLO, a load profile) imports it when the option is given.
"""

from __future__ import annotations

import argparse
from importlib.metadata import version
from pathlib import Path
from typing import Any, NoReturn

from dbprobe.cli.gate_parser import (
    REGRESSION_LEVELS,
    add_comparison_options,
    add_gate_commands,
)
from dbprobe.cli.option_types import (
    int_between,
    mix,
    output_path,
    scales,
    seconds,
    slo,
    whole_milliseconds,
)
from dbprobe.cli.shared_options import (
    COUNT,
    DEFAULT_DURATION_S,
    FINDING_KINDS,
    RETRIES,
    WORKERS,
    add_load_options,
    add_max_error_rate,
    add_output_options,
    add_progress,
    add_target_options,
    add_threads,
)
from dbprobe.result.limits import (
    MAX_COUNT,
    MAX_WORKERS,
)
from dbprobe.result.options import (
    DEADLOCK_PATTERNS,
    DEFAULT_EXPLAIN_MIN_ROWS,
    DEFAULT_HOOK_TIMEOUT_S,
    DEFAULT_UOW_MIX,
    LOCK_ORDERS,
    SELECT_VIAS,
)

__all__ = ["ArgumentError", "build_parser"]


class ArgumentError(Exception):
    """A command line argparse refused; reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage: the CLI prints one line.

    Abbreviated long options are refused (``--thread 4`` is not ``--threads 4``):
    with a dozen options sharing prefixes, an abbreviation that works today
    becomes ambiguous, or means another option, when one is added.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        # The CLI prefixes "dbprobe: error: "; a subcommand's own name ("uow",
        # "baseline show") follows it, so that dbprobe is named once.
        command = self.prog.removeprefix("dbprobe").strip()
        raise ArgumentError(f"{command}: {message}" if command else message)


def _add_explain_options(p: argparse.ArgumentParser) -> None:
    """``--explain``: the workload probes' statements explained after the run."""
    p.add_argument(
        "--explain",
        nargs="?",
        const="plan",
        choices=("plan", "analyze"),
        help="after the run, explain each distinct statement once (PostgreSQL EXPLAIN (FORMAT "
        "JSON), SQLite EXPLAIN QUERY PLAN) with the parameters it ran with; keep the plans in "
        "the report and report unindexed foreign keys, sequential scans and sorted pages, "
        "each with its CREATE INDEX. --explain analyze: on PostgreSQL EXPLAIN (ANALYZE, "
        "BUFFERS), each statement run once more in a transaction rolled back, for actual rows",
    )
    p.add_argument(
        "--explain-min-rows",
        type=int_between(1, MAX_COUNT),
        default=DEFAULT_EXPLAIN_MIN_ROWS,
        metavar="N",
        help="tables of fewer rows are never an index finding: reading them whole costs what "
        f"an index lookup does (default {DEFAULT_EXPLAIN_MIN_ROWS})",
    )


def _add_scales_option(p: argparse.ArgumentParser) -> None:
    """``--scales``: the run repeated at several data sizes, each operation's growth fitted."""
    p.add_argument(
        "--scales",
        type=scales,
        metavar="A,B[,C]",
        help="run at each of these scales (smallest first; they replace --scale), each "
        "operation measured alone in its rounds and every statement explained, and fit each "
        "operation's p50 against the rows of the largest table it reads: constant, "
        "logarithmic, linear or worse (a scales_with_data finding)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dbprobe",
        description="asyncio database performance probes for SQLAlchemy 2 on SQLite and PostgreSQL",
    )
    parser.add_argument("--version", action="version", version=f"dbprobe {version('dbprobe')}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p_seed = sub.add_parser(
        "seed", help="(re)load the reference domain at a scale; print its checksum"
    )
    add_target_options(p_seed)
    p_seed.add_argument(
        "--verify",
        action="store_true",
        help="read every table back and commit only if the rows equal those generated "
        "(the checksum is otherwise of the rows as generated)",
    )

    p_uow = sub.add_parser("uow", help="Unit-of-Work transactions under concurrent workers")
    add_target_options(p_uow)
    add_load_options(
        p_uow,
        threads=10,
        why="enough concurrent transactions to conflict on the hot sessions",
        duration_s=DEFAULT_DURATION_S,
        warmup_s=1.0,
    )
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
        type=COUNT,
        default=20,
        metavar="K",
        help="reschedules pick among the first K sessions, so workers conflict (default 20)",
    )
    _add_explain_options(p_uow)

    p_repo = sub.add_parser(
        "repo", help="the repository query catalogue, each query measured, N+1 patterns named"
    )
    add_target_options(p_repo)
    add_load_options(
        p_repo,
        threads=1,
        why="one query at a time, so that each query's latency and statements are its own",
        duration_s=None,
        warmup_s=0.0,
    )
    p_repo.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this catalogue entry (repeatable; see --list)",
    )
    p_repo.add_argument("--list", action="store_true", help="list the catalogue and exit")
    _add_explain_options(p_repo)
    _add_scales_option(p_repo)

    p_select = sub.add_parser(
        "select", help="point selects by primary key through the ORM, Core and the bare driver"
    )
    add_target_options(p_select)
    add_load_options(
        p_select,
        threads=10,
        why="concurrent point selects, as a service issues them",
        duration_s=DEFAULT_DURATION_S,
        warmup_s=1.0,
        n_plus_one=False,
    )
    p_select.add_argument(
        "--via",
        choices=SELECT_VIAS,
        default="all",
        help="orm (AsyncSession.get), core (engine.connect + a Core select), driver "
        "(asyncpg/aiosqlite directly, prepared statement, one connection per worker), or all "
        "three one after another (default all)",
    )
    _add_explain_options(p_select)
    p_run = sub.add_parser("run", help="your own async scenarios (@dbprobe.scenario) under load")
    p_run.add_argument("scenarios", help="path/to/scenarios.py, package.module, or module:attr")
    add_target_options(p_run)
    add_load_options(
        p_run,
        threads=10,
        why="concurrent scenarios, as a service runs them",
        duration_s=DEFAULT_DURATION_S,
        warmup_s=1.0,
    )
    p_run.add_argument(
        "--only", action="append", default=[], metavar="NAME", help="run only this scenario"
    )
    p_run.add_argument("--list", action="store_true", help="list the scenarios and exit")
    _add_explain_options(p_run)
    _add_scales_option(p_run)
    p_run.add_argument(
        "--hook-timeout",
        type=seconds(False),
        default=DEFAULT_HOOK_TIMEOUT_S,
        metavar="S",
        help="the file's setup() and teardown() must return within S seconds (default "
        f"{DEFAULT_HOOK_TIMEOUT_S:g}); the report is written before teardown() starts",
    )

    p_merge = sub.add_parser(
        "merge", help="combine reports of runs on several machines against one database"
    )
    p_merge.add_argument(
        "reports",
        nargs="+",
        type=Path,
        metavar="REPORT.json",
        help="reports written with --json by runs of one probe, measured at the same time",
    )
    p_merge.add_argument(
        "--slo",
        type=slo,
        action="append",
        default=[],
        metavar="EXPR",
        help="objectives checked on the merged figures",
    )
    add_output_options(p_merge, FINDING_KINDS)
    _add_pool_parser(sub)
    _add_deadlock_parser(sub)
    _add_isolation_parser(sub)
    add_gate_commands(sub)
    _add_suite_parser(sub)

    p_clean = sub.add_parser(
        "clean", help="drop exactly the tables dbprobe created (the default SQLite file: delete it)"
    )
    add_target_options(p_clean, seeded=False)
    return parser


def _add_pool_parser(sub: Any) -> None:
    p = sub.add_parser(
        "pool", help="connection-pool exhaustion: checkout waits apart from query time, holders"
    )
    add_target_options(p)
    p.add_argument(
        "--pool-size",
        type=WORKERS,
        default=5,
        metavar="N",
        help="connections the pool keeps (SQLAlchemy pool_size; default 5)",
    )
    p.add_argument(
        "--max-overflow",
        type=int_between(0, MAX_WORKERS),
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
    add_threads(
        p,
        20,
        "above the default pool of 5 + 10 overflow, so that checkouts wait",
        "concurrent demand: workers, each holding one connection at a time",
    )
    p.add_argument(
        "--hold",
        "--hold-ms",  # its first name: a plain number is still milliseconds
        dest="hold_ms",
        type=whole_milliseconds(0),
        default=100,
        metavar="MS",
        help="how long a worker keeps its connection: pg_sleep on PostgreSQL, a short read "
        "then a sleep on SQLite; milliseconds, or 2s, 250ms (default 100ms)",
    )
    p.add_argument(
        "-T",
        "--duration",
        type=seconds(False),
        default=10.0,
        metavar="S",
        help="seconds during which workers take connections, or 500ms, 2m (default 10)",
    )
    add_progress(p)
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
    add_max_error_rate(p, "checkouts failing other than by a pool timeout")
    add_output_options(
        p, ("pool_exhaustion", "leaked_connection", "error_rate", "service_interruption")
    )


def _add_deadlock_parser(sub: Any) -> None:
    p = sub.add_parser(
        "deadlock",
        help="concurrent transfers: deadlocks, serialization failures, and a ledger check "
        "that finds lost updates",
    )
    add_target_options(p)
    add_load_options(
        p,
        threads=8,
        why="more transfers at once than accounts, so that they contend for the same rows",
        duration_s=DEFAULT_DURATION_S,
        warmup_s=0.0,
        n_plus_one=False,
    )
    p.add_argument(
        "--accounts",
        type=int_between(2, MAX_COUNT),
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


def _add_isolation_parser(sub: Any) -> None:
    from dbprobe.probes.isolation.hermitage import TEST_NAMES

    p = sub.add_parser(
        "isolation",
        help="Hermitage anomaly tests (G0 ... G2) at each isolation level: prevented or allowed",
    )
    add_target_options(p, seeded=False)
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
        "--busy-timeout",
        "--busy-timeout-ms",  # its first name: a plain number is still milliseconds
        dest="busy_timeout_ms",
        type=whole_milliseconds(1),
        default=200,
        metavar="MS",
        help="SQLite: how long a write waits for the lock before it counts as refused; "
        "milliseconds, or 1s, 500ms (default 200ms)",
    )
    p.add_argument(
        "--lock-wait-limit",
        type=seconds(False),
        default=10.0,
        metavar="S",
        help="end a step that waits longer than S seconds for a lock, as an error (default 10)",
    )
    add_output_options(p, ("anomaly",))


def _add_suite_parser(sub: Any) -> None:
    p = sub.add_parser("suite", help="run uow and repo at one scale; one combined result")
    add_target_options(p)
    add_threads(
        p,
        4,
        "a moderate load, the same for both probes so that runs compare",
        "concurrent workers of each probe",
    )
    p.add_argument(
        "-T",
        "--duration",
        type=seconds(False),
        default=5.0,
        metavar="S",
        help="seconds uow measures, or 500ms, 2m (default 5)",
    )
    p.add_argument(
        "--warmup",
        type=seconds(True),
        default=1.0,
        metavar="S",
        help="seconds uow runs unrecorded first (default 1)",
    )
    p.add_argument(
        "--repo-transactions",
        type=COUNT,
        default=50,
        metavar="N",
        help="times each repo query runs per worker (default 50)",
    )
    p.add_argument(
        "--retries",
        type=RETRIES,
        default=3,
        metavar="N",
        help="retries of deadlocks, serialization failures and lock timeouts (default 3)",
    )
    p.add_argument(
        "--only",
        action="append",
        default=[],
        choices=("uow", "repo"),
        help="run only this probe (repeatable; default both)",
    )
    p.add_argument(
        "--out",
        type=output_path,
        required=True,
        metavar="DIR",
        help="directory to write each probe's JSON, Markdown, HTML and CI exports to",
    )
    p.add_argument("--no-html", action="store_true", help="skip the HTML page")
    p.add_argument(
        "--fail-on",
        choices=REGRESSION_LEVELS,
        action="append",
        default=[],
        metavar="LEVEL",
        help="exit 1 on a regression against --compare at or above LEVEL: minor, warning, "
        "critical (default minor)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress line")
    p.add_argument(
        "--compare",
        metavar="BASELINE",
        help="compare each probe with baseline BASELINE (saved with --save-baseline)",
    )
    p.add_argument(
        "--save-baseline",
        metavar="NAME",
        help="save each probe's run as baseline NAME/<probe>",
    )
    p.add_argument(
        "--record", action="store_true", help="record the runs in the history (dbprobe history)"
    )
    p.add_argument("--label", metavar="TEXT", help="a label for the recorded runs, e.g. a commit")
    add_comparison_options(p)
