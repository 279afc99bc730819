"""The command line: subcommands, argument parsing, exit statuses.

This is the only module that exits or writes to the terminal outside the
console report. Exit statuses: 0 success; 1 findings that fail the run (an
SLO violation); 2 bad input or an unusable target (one line on stderr);
130 interrupted (Ctrl-C or SIGTERM), after the partial report is written.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from dbprobe.engine import (
    Isolation,
    PoolOptions,
    Target,
    mask_url_text,
    open_database,
    resolve_target,
)
from dbprobe.errors import ConfigError, DbprobeError, UsageError
from dbprobe.execution import (
    Interrupted,
    ProbeHooks,
    TargetOptions,
    run_repo,
    run_until_stopped,
    run_uow,
)
from dbprobe.instrument.nplusone import DEFAULT_THRESHOLD
from dbprobe.probes import repo, uow
from dbprobe.report.console import print_report
from dbprobe.report.jsonio import write_report
from dbprobe.report.model import Report, Severity
from dbprobe.runner import LoadPlan, RetryPolicy
from dbprobe.seedgen import SCALE_NAMES, load_scale
from dbprobe.seeding import SeedResult, seed
from dbprobe.slo import SloCheck, parse_slo

__all__ = ["main"]

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_DEFAULT_DURATION_S = 5.0


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of printing usage: the CLI prints one line."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1)
_non_negative_int = _int_at_least(0)


def _seconds(allow_zero: bool) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text.removesuffix("s"))
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected seconds, e.g. 5 or 0.5, got {text!r}"
            ) from None
        if value < 0 or (value == 0 and not allow_zero) or value != value:
            raise argparse.ArgumentTypeError(
                f"must be {'0 or more' if allow_zero else 'positive'}, got {text}"
            )
        return value

    return parse


def _slo(text: str) -> SloCheck:
    try:
        return parse_slo(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _mix(text: str) -> dict[str, int]:
    try:
        return uow.parse_mix(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
        "--seed", type=_non_negative_int, default=1, help="random seed of the data and the load"
    )
    p.add_argument(
        "--connect-timeout",
        type=_seconds(False),
        default=10.0,
        metavar="S",
        help="give up on a server that does not answer within S seconds (default 10)",
    )


_FINDING_KINDS = ("n_plus_one", "unused_eager_load")


def _add_load_options(
    p: argparse.ArgumentParser, *, threads: int, duration_s: float | None, warmup_s: float
) -> None:
    """Options every load-driving probe shares: amount of load, retries, reports, checks."""
    p.add_argument(
        "--threads",
        type=_positive_int,
        default=threads,
        help="concurrent workers: asyncio tasks, each with its own session and connection "
        f"(default {threads})",
    )
    amount = p.add_mutually_exclusive_group()
    amount.add_argument(
        "--transactions", type=_positive_int, metavar="M", help="transactions per worker"
    )
    default = f"default {duration_s:g} unless --transactions" if duration_s else "seconds"
    amount.add_argument(
        "--duration", type=_seconds(False), metavar="S", help=f"measure for S seconds ({default})"
    )
    p.add_argument(
        "--warmup",
        type=_seconds(True),
        default=warmup_s,
        metavar="S",
        help=f"run S seconds unrecorded first (default {warmup_s:g})",
    )
    p.add_argument(
        "--isolation",
        choices=[i.value for i in Isolation],
        help="transaction isolation (default: read_committed on PostgreSQL, "
        "serializable on SQLite)",
    )
    p.add_argument(
        "--retries",
        type=_non_negative_int,
        default=3,
        help="retries of deadlocks, serialization failures and lock timeouts (default 3)",
    )
    p.add_argument(
        "--pool-size",
        type=_positive_int,
        metavar="N",
        help="connection pool size (default: --threads, one connection per worker)",
    )
    p.add_argument(
        "--json", type=Path, metavar="PATH", help="write the report (schema dbprobe.report/1)"
    )
    p.add_argument(
        "--slo",
        type=_slo,
        action="append",
        default=[],
        metavar="EXPR",
        help='objective, e.g. "p95<100ms", "error_rate<1%%", "read_program:p99<20ms"; '
        "a violation exits 1 (repeatable)",
    )
    p.add_argument(
        "--fail-on",
        choices=_FINDING_KINDS,
        action="append",
        default=[],
        metavar="KIND",
        help=f"exit 1 when a finding of this kind is reported ({', '.join(_FINDING_KINDS)}; "
        "repeatable)",
    )
    p.add_argument(
        "--n-plus-one-threshold",
        type=_int_at_least(2),
        default=DEFAULT_THRESHOLD,
        metavar="N",
        help="a SELECT repeated N times with different parameters in one operation is an N+1 "
        f"(default {DEFAULT_THRESHOLD})",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar and no table")


def _build_parser() -> _Parser:
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
    _add_load_options(p_uow, threads=10, duration_s=_DEFAULT_DURATION_S, warmup_s=1.0)
    p_uow.add_argument(
        "--mix",
        type=_mix,
        metavar="NAME=W,...",
        help="weights of the transaction types (default "
        + ",".join(f"{k}={v}" for k, v in uow.DEFAULT_MIX.items())
        + ")",
    )
    p_uow.add_argument(
        "--hot-set",
        type=_positive_int,
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
    return parser


class _ConsoleHooks:
    """Progress display on stderr while seeding and running."""

    def __init__(self, err: Console, quiet: bool) -> None:
        self._err = err
        self._quiet = quiet
        self._progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=quiet,
        )
        self._seed_task: TaskID | None = None
        self._run_task: TaskID | None = None

    def __enter__(self) -> _ConsoleHooks:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def seed_progress(self, loaded: int, expected: int) -> None:
        if self._seed_task is None:
            self._seed_task = self._progress.add_task("seeding", total=expected, detail="")
        self._progress.update(
            self._seed_task, completed=min(loaded, expected), detail=f"{loaded:,} rows"
        )

    def run_start(self, what: str) -> None:
        if self._seed_task is not None:
            self._progress.remove_task(self._seed_task)
            self._seed_task = None
        # Always said, even with --quiet: a supervisor (or a test) can tell that
        # measurement has begun.
        self._err.print(f"running {what}", highlight=False)
        self._run_task = self._progress.add_task("measuring", total=1.0, detail="")

    def run_progress(self, fraction: float, done: int) -> None:
        if self._run_task is not None:
            self._progress.update(self._run_task, completed=fraction, detail=f"{done:,} tx")

    def hooks(self) -> ProbeHooks:
        return ProbeHooks(self.seed_progress, self.run_start, self.run_progress)


def _install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def _seed_command(
    args: argparse.Namespace, target: Target, out: Console, err: Console
) -> int:
    stop = asyncio.Event()
    _install_stop_signals(stop)
    scale = load_scale(args.scale)
    db = await open_database(target, PoolOptions(size=1, connect_timeout_s=args.connect_timeout))
    try:
        with _ConsoleHooks(err, quiet=False) as hooks:
            result: SeedResult = await run_until_stopped(
                seed(db, scale, args.seed, on_progress=hooks.seed_progress), stop
            )
    finally:
        await db.dispose()
    rate = result.total_rows / result.duration_s if result.duration_s > 0 else 0.0
    out.print(
        f"seeded scale {result.scale} (seed {result.seed}) into {target.masked} "
        f"in {result.duration_s:.2f} s ({rate:,.0f} rows/s)",
        highlight=False,
    )
    out.print("  " + ", ".join(f"{t} {n:,}" for t, n in result.rows.items()), highlight=False)
    out.print(f"checksum {result.checksum}", highlight=False)
    return EXIT_OK


def _plan(args: argparse.Namespace, default_duration_s: float | None, default_tx: int) -> LoadPlan:
    if args.transactions is None and args.duration is None:
        if default_duration_s is not None:
            return LoadPlan(args.threads, None, default_duration_s, args.warmup)
        return LoadPlan(args.threads, default_tx, None, args.warmup)
    return LoadPlan(args.threads, args.transactions, args.duration, args.warmup)


def _target_options(args: argparse.Namespace, target: Target) -> TargetOptions:
    return TargetOptions(
        target=target,
        scale=args.scale,
        seed=args.seed,
        isolation=Isolation(args.isolation) if args.isolation else None,
        pool=PoolOptions(
            size=args.pool_size or args.threads,
            max_overflow=0,
            connect_timeout_s=args.connect_timeout,
        ),
    )


async def _uow_command(
    args: argparse.Namespace, target: Target, argv: Sequence[str], out: Console, err: Console
) -> int:
    options = uow.UowOptions(
        plan=_plan(args, _DEFAULT_DURATION_S, 0),
        retry=RetryPolicy(retries=args.retries),
        mix=args.mix or dict(uow.DEFAULT_MIX),
        hot_set=args.hot_set,
    )
    stop = asyncio.Event()
    _install_stop_signals(stop)
    with _ConsoleHooks(err, quiet=args.quiet) as hooks:
        report = await run_uow(
            _target_options(args, target),
            options,
            slos=args.slo,
            stop=stop,
            argv=argv,
            hooks=hooks.hooks(),
            n_plus_one_threshold=args.n_plus_one_threshold,
        )
    return _finish(report, args, out)


_REPO_DEFAULT_TRANSACTIONS = 20


async def _repo_command(
    args: argparse.Namespace, target: Target, argv: Sequence[str], out: Console, err: Console
) -> int:
    plan = _plan(args, None, _REPO_DEFAULT_TRANSACTIONS)
    stop = asyncio.Event()
    _install_stop_signals(stop)
    with _ConsoleHooks(err, quiet=args.quiet) as hooks:
        report = await run_repo(
            _target_options(args, target),
            plan,
            only=args.only,
            retry=RetryPolicy(retries=args.retries),
            slos=args.slo,
            stop=stop,
            argv=argv,
            hooks=hooks.hooks(),
            n_plus_one_threshold=args.n_plus_one_threshold,
        )
    return _finish(report, args, out)


def _list_catalogue(out: Console) -> int:
    for entry in repo.catalogue(repo.RepoWorld(1, 1, 1, 1, 1)):
        out.print(f"{entry.name:<28} {entry.description}", highlight=False)
    return EXIT_OK


def _finish(report: Report, args: argparse.Namespace, out: Console) -> int:
    if args.json is not None:
        write_report(report, args.json)
    if not args.quiet:
        print_report(report, out)
    if report.run.interrupted:
        # Everything worth keeping is written. Workers cancelled mid-transaction
        # may still be unwinding: an aiosqlite thread blocked in SQLite's busy
        # handler cannot be interrupted (sqlite3_interrupt does not end a busy
        # wait), and asyncio.run() and interpreter exit would both wait for it.
        # Leave now; the databases roll back the open transactions themselves.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    failing = set(getattr(args, "fail_on", ()))
    if any(f.severity is Severity.ERROR or f.kind in failing for f in report.findings):
        return EXIT_FINDINGS
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``dbprobe`` and ``python -m dbprobe``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    # Written to a file or a CI log, the table keeps its full width instead of
    # rich's 80-column default for non-terminals.
    out = Console() if sys.stdout.isatty() else Console(width=160)
    err = Console(stderr=True)
    shown_argv = ["dbprobe", *(mask_url_text(a) for a in argv)]
    try:
        args = _build_parser().parse_args(argv)
        target = resolve_target(args.db)
        if args.command == "repo" and args.list:
            return _list_catalogue(out)
        if args.command == "seed":
            return asyncio.run(_seed_command(args, target, out, err))
        if args.command == "repo":
            return asyncio.run(_repo_command(args, target, shown_argv, out, err))
        return asyncio.run(_uow_command(args, target, shown_argv, out, err))
    except Interrupted:
        err.print(
            "dbprobe: interrupted before measuring began; nothing was changed", highlight=False
        )
        return EXIT_INTERRUPTED
    except DbprobeError as exc:
        # One line, no traceback: the message says what to fix.
        print(f"dbprobe: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
