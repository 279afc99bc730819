"""The commands behind the parser: each builds options, runs a probe, prints, returns a status.

Imported only once the command line has been parsed (see dbprobe.cli).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from dbprobe.cli.parser import DEFAULT_DURATION_S
from dbprobe.cli.status import EXIT_FINDINGS, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from dbprobe.data.scales import load_scale
from dbprobe.data.seeding import SeedResult, seed
from dbprobe.database.engine import Isolation, PoolOptions, open_database
from dbprobe.database.url import Target, mask_url_text, resolve_target
from dbprobe.errors import DbprobeError, Interrupted
from dbprobe.load.harness import ProbeHooks, TargetOptions, run_until_stopped
from dbprobe.load.plan import LoadPlan, RetryPolicy
from dbprobe.probes import uow
from dbprobe.probes.repo import catalogue as repo
from dbprobe.probes.repo.probe import run_repo
from dbprobe.probes.uow import run_uow
from dbprobe.report.console import print_report
from dbprobe.result.findings import Severity
from dbprobe.result.jsonio import write_report
from dbprobe.result.model import Report

__all__ = ["run_command"]

T = TypeVar("T")


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

    def run_tick(self, point: Any) -> None:
        from dbprobe.report.console import format_live

        if self._run_task is not None:
            self._progress.update(self._run_task, detail=format_live(point))

    def hooks(self) -> ProbeHooks:
        return ProbeHooks(
            self.seed_progress, self.run_start, self.run_progress, on_tick=self.run_tick
        )


async def _with_progress(
    args: argparse.Namespace,
    err: Console,
    run: Callable[[asyncio.Event, ProbeHooks], Awaitable[T]],
) -> T:
    """Run with SIGINT/SIGTERM setting ``stop`` and the progress display on stderr."""
    stop = asyncio.Event()
    _install_stop_signals(stop)
    with _ConsoleHooks(err, quiet=args.quiet) as hooks:
        return await run(stop, hooks.hooks())


async def _measure(
    args: argparse.Namespace,
    out: Console,
    err: Console,
    run: Callable[[asyncio.Event, ProbeHooks], Awaitable[Report]],
) -> int:
    """What every probe command shares: stop on signals, show progress, finish."""
    return _finish(await _with_progress(args, err, run), args, out)


def _install_stop_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)


async def _seed_command(
    args: argparse.Namespace, target: Target, argv: Sequence[str], out: Console, err: Console
) -> int:
    stop = asyncio.Event()
    _install_stop_signals(stop)
    scale = load_scale(args.scale)
    db = await open_database(target, PoolOptions(size=1, connect_timeout_s=args.connect_timeout))
    try:
        with _ConsoleHooks(err, quiet=False) as hooks:
            result: SeedResult = await run_until_stopped(
                seed(db, scale, args.seed, on_progress=hooks.seed_progress, force=args.force), stop
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
    transactions, duration = args.transactions, args.duration
    if transactions is None and duration is None:
        if default_duration_s is not None:
            duration = default_duration_s
        else:
            transactions = default_tx
    extra: dict[str, Any] = {
        "rate_per_s": args.rate,
        "arrivals": args.arrivals,
        "latency_limit_ms": args.latency_limit,
        "processes": args.processes,
        "rounds": args.rounds,
    }
    if args.profile is not None:
        extra["profile"] = args.profile
    return LoadPlan(args.threads, transactions, duration, args.warmup, **extra)


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
        plan=_plan(args, DEFAULT_DURATION_S, 0),
        retry=RetryPolicy(retries=args.retries),
        mix=args.mix or dict(uow.DEFAULT_MIX),
        hot_set=args.hot_set,
    )
    return await _measure(
        args,
        out,
        err,
        lambda stop, hooks: run_uow(
            _target_options(args, target),
            options,
            slos=args.slo,
            stop=stop,
            argv=argv,
            hooks=hooks,
            n_plus_one_threshold=args.n_plus_one_threshold,
            max_error_rate=args.max_error_rate,
        ),
    )


_REPO_DEFAULT_TRANSACTIONS = 20


async def _repo_command(
    args: argparse.Namespace, target: Target, argv: Sequence[str], out: Console, err: Console
) -> int:
    plan = _plan(args, None, _REPO_DEFAULT_TRANSACTIONS)
    return await _measure(
        args,
        out,
        err,
        lambda stop, hooks: run_repo(
            _target_options(args, target),
            plan,
            only=args.only,
            retry=RetryPolicy(retries=args.retries),
            slos=args.slo,
            stop=stop,
            argv=argv,
            hooks=hooks,
            n_plus_one_threshold=args.n_plus_one_threshold,
            max_error_rate=args.max_error_rate,
        ),
    )


def _list_catalogue(args: argparse.Namespace, out: Console) -> int:
    for entry in repo.catalogue(repo.RepoWorld.dense(1, 1, 1, 1, 1)):
        out.print(f"{entry.name:<28} {entry.description}", highlight=False)
    return EXIT_OK


async def _run_scenarios_command(
    args: argparse.Namespace, target: Target, argv: Sequence[str], out: Console, err: Console
) -> int:
    from dbprobe.probes.scenarios.probe import run_scenarios

    return await _measure(
        args,
        out,
        err,
        lambda stop, hooks: run_scenarios(
            _target_options(args, target),
            args.scenarios,
            _plan(args, DEFAULT_DURATION_S, 0),
            only=args.only,
            retry=RetryPolicy(retries=args.retries),
            slos=args.slo,
            stop=stop,
            argv=argv,
            hooks=hooks,
            n_plus_one_threshold=args.n_plus_one_threshold,
            max_error_rate=args.max_error_rate,
        ),
    )


def _list_scenarios(args: argparse.Namespace, out: Console) -> int:
    from dbprobe.probes.scenarios.declare import load_scenarios

    for s in load_scenarios(args.scenarios).scenarios:
        out.print(f"{s.name:<24} weight {s.weight:<4} {s.defined_at}", highlight=False)
    return EXIT_OK


def _merge_command(args: argparse.Namespace, out: Console) -> int:
    from dbprobe.report.merge import merge_reports
    from dbprobe.result.jsonio import read_report

    merged = merge_reports([read_report(p) for p in args.reports], slos=args.slo)
    return _finish(merged, args, out)


async def _select_command(
    args: argparse.Namespace, target: Target, argv: Sequence[str], out: Console, err: Console
) -> int:
    from dbprobe.probes.select.probe import SelectOptions, run_select

    options = SelectOptions(
        plan=_plan(args, DEFAULT_DURATION_S, 0),
        via=args.via,
        retry=RetryPolicy(retries=args.retries),
    )
    return await _measure(
        args,
        out,
        err,
        lambda stop, hooks: run_select(
            _target_options(args, target),
            options,
            stop=stop,
            argv=argv,
            hooks=hooks,
            slos=args.slo,
            max_error_rate=args.max_error_rate,
        ),
    )


async def _pool_command(
    args: argparse.Namespace, target: Target, argv: Sequence[str], out: Console, err: Console
) -> int:
    from dbprobe.probes.pool.probe import PoolProbeOptions, run_pool

    probe = PoolProbeOptions(
        pool_size=args.pool_size,
        max_overflow=args.max_overflow,
        pool_timeout_s=args.pool_timeout,
        threads=args.threads,
        hold_ms=args.hold_ms,
        duration_s=args.duration,
        ramp=args.ramp,
        trace_holders=args.trace_holders,
    )
    options = TargetOptions(
        target=target,
        scale=args.scale,
        seed=args.seed,
        pool=probe.pool_options(args.connect_timeout),
    )
    return await _measure(
        args,
        out,
        err,
        lambda stop, hooks: run_pool(
            options,
            probe,
            stop=stop,
            argv=argv,
            hooks=hooks,
            slos=args.slo,
            max_error_rate=args.max_error_rate,
        ),
    )


async def _deadlock_command(
    args: argparse.Namespace, target: Target, argv: Sequence[str], out: Console, err: Console
) -> int:
    from dbprobe.probes.deadlock.options import DeadlockOptions
    from dbprobe.probes.deadlock.probe import run_deadlock

    options = DeadlockOptions(
        _plan(args, DEFAULT_DURATION_S, 0),
        accounts=args.accounts,
        pattern=args.pattern,
        lock_order=args.lock_order,
        retry=RetryPolicy(retries=args.retries),
    )
    return await _measure(
        args,
        out,
        err,
        lambda stop, hooks: run_deadlock(
            _target_options(args, target),
            options,
            stop=stop,
            argv=argv,
            hooks=hooks,
            max_error_rate=args.max_error_rate,
        ),
    )


async def _isolation_command(
    args: argparse.Namespace, target: Target, argv: Sequence[str], out: Console, err: Console
) -> int:
    from dbprobe.probes.isolation.probe import IsolationOptions, run_isolation

    options = IsolationOptions(
        levels=tuple(args.level),
        tests=tuple(args.test),
        sqlite_busy_timeout_ms=args.busy_timeout_ms,
        lock_wait_limit_s=args.lock_wait_limit,
    )
    target_options = TargetOptions(
        target=target,
        scale=args.scale,
        seed=args.seed,
        pool=PoolOptions(size=1, connect_timeout_s=args.connect_timeout),
    )
    return await _measure(
        args,
        out,
        err,
        lambda stop, hooks: run_isolation(
            target_options, options, stop=stop, argv=argv, hooks=hooks
        ),
    )


async def _clean_command(
    args: argparse.Namespace, target: Target, argv: Sequence[str], out: Console, err: Console
) -> int:
    from dbprobe.data.seeding import clean
    from dbprobe.database.url import data_dir

    path = target.sqlite_path
    if path is not None and path.parent == data_dir() and path.name == "dbprobe.sqlite3":
        # dbprobe's own default file: all of it is dbprobe's, so it goes whole.
        removed = [p for p in (path, *path.parent.glob(path.name + "-*")) if p.exists()]
        for p in removed:
            p.unlink()
        out.print(f"removed {', '.join(str(p) for p in removed) or 'nothing'}", highlight=False)
        return EXIT_OK
    db = await open_database(target, PoolOptions(size=1, connect_timeout_s=args.connect_timeout))
    try:
        result = await clean(db)
    finally:
        await db.dispose()
    tables = ", ".join(result.tables) or "no tables (none of dbprobe's were there)"
    schema = " and the dbprobe schema" if result.schema_dropped else ""
    out.print(f"dropped {tables}{schema} from {target.masked}", highlight=False)
    return EXIT_OK


async def _suite_command(
    args: argparse.Namespace, target: Target, argv: Sequence[str], out: Console, err: Console
) -> int:
    from dbprobe.cli.gate import suite_outputs
    from dbprobe.suite import SuiteSettings, run_suite

    settings = SuiteSettings(
        threads=args.threads,
        duration_s=args.duration,
        warmup_s=args.warmup,
        repo_transactions=args.repo_transactions,
        retries=args.retries,
    )
    options = TargetOptions(
        target=target,
        scale=args.scale,
        seed=args.seed,
        pool=PoolOptions(size=args.threads, connect_timeout_s=args.connect_timeout),
    )
    reports = await _with_progress(
        args,
        err,
        lambda stop, hooks: run_suite(options, settings, only=args.only, stop=stop, hooks=hooks),
    )
    return suite_outputs(reports, args, out)


def _list_isolation_tests(args: argparse.Namespace, out: Console) -> int:
    from dbprobe.probes.isolation.hermitage import CATALOGUE, script_text

    for test in CATALOGUE:
        out.print(script_text(test) + "\n", highlight=False, markup=False)
    return EXIT_OK


def _finish(report: Report, args: argparse.Namespace, out: Console) -> int:
    if hasattr(args, "compare"):
        from dbprobe.cli.gate import after_run

        report = after_run(report, args, out)
    elif any(getattr(args, name, None) for name in ("markdown", "html", "export")):
        # Probes without a baseline to compare with (pool, deadlock, isolation, merge).
        from dbprobe.cli.gate import write_report_files

        write_report_files(report, args)
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
    failing = set(getattr(args, "fail_on", ()))  # kinds; regression levels made ERRORs
    if any(f.severity is Severity.ERROR or f.kind in failing for f in report.findings):
        return EXIT_FINDINGS
    return EXIT_OK


def _gate(name: str) -> Callable[[argparse.Namespace, Console], int]:
    """A regression-gate command (imported when run: it needs the statistics)."""

    def handle(args: argparse.Namespace, out: Console) -> int:
        from dbprobe.cli import gate

        command: Callable[[argparse.Namespace, Console], int] = getattr(gate, f"{name}_command")
        return command(args, out)

    return handle


_OfflineCommand = Callable[[argparse.Namespace, Console], int]
_TargetCommand = Callable[
    [argparse.Namespace, Target, Sequence[str], Console, Console], Coroutine[Any, Any, int]
]

#: Commands that need no database: they read report files or the history store.
_OFFLINE: dict[str, _OfflineCommand] = {
    "baseline": _gate("baseline"),
    "compare": _gate("compare"),
    "report": _gate("report"),
    "history": _gate("history"),
    "merge": _merge_command,
}

#: ``--list``: what a command would run, printed without connecting to anything.
_LISTINGS: dict[str, _OfflineCommand] = {
    "run": _list_scenarios,
    "repo": _list_catalogue,
    "isolation": _list_isolation_tests,
}

#: Commands that run against ``--db``; the URL is checked before any of them starts.
_ON_TARGET: dict[str, _TargetCommand] = {
    "seed": _seed_command,
    "uow": _uow_command,
    "repo": _repo_command,
    "select": _select_command,
    "run": _run_scenarios_command,
    "pool": _pool_command,
    "deadlock": _deadlock_command,
    "isolation": _isolation_command,
    "suite": _suite_command,
    "clean": _clean_command,
}


def run_command(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Run the parsed command; DbprobeErrors become one line on stderr and status 2."""
    # Written to a file or a CI log, the table keeps its full width instead of
    # rich's 80-column default for non-terminals.
    out = Console() if sys.stdout.isatty() else Console(width=160)
    err = Console(stderr=True)
    shown_argv = ["dbprobe", *(mask_url_text(a) for a in argv)]
    try:
        if args.command in _OFFLINE:
            return _OFFLINE[args.command](args, out)
        if getattr(args, "list", False):
            return _LISTINGS[args.command](args, out)
        target = resolve_target(args.db)
        return asyncio.run(_ON_TARGET[args.command](args, target, shown_argv, out, err))
    except Interrupted:
        err.print(
            "dbprobe: interrupted before measuring began; nothing was changed", highlight=False
        )
        # The seed or set-up transaction never committed, so leaving now loses
        # nothing; waiting could hang on a driver thread still in a batch (see
        # _finish).
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    except DbprobeError as exc:
        # One line, no traceback: the message says what to fix.
        print(f"dbprobe: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
