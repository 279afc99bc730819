"""The commands behind the parser: each builds options, runs a probe, prints, returns a status.

Imported only once the command line has been parsed (see dbprobe.cli).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from rich.console import Console

from dbprobe.cli.outputs import Outputs
from dbprobe.cli.preflight import preflight
from dbprobe.cli.printable import one_line
from dbprobe.cli.progress import progress_for as _progress
from dbprobe.cli.seed_command import seed_command as _seed_command
from dbprobe.cli.shared_options import (
    DEFAULT_DURATION_S,
    REPO_DEFAULT_TRANSACTIONS,
)
from dbprobe.cli.status import EXIT_FINDINGS, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from dbprobe.cli.stopping import install_stop_signals as _install_stop_signals
from dbprobe.cli.terminal import make_console
from dbprobe.database.engine import Isolation, PoolOptions, open_database
from dbprobe.database.url import Target, mask_url_text, resolve_target
from dbprobe.errors import DbprobeError, Interrupted
from dbprobe.load.harness import ProbeHooks, TargetOptions
from dbprobe.load.loops import loop_factory
from dbprobe.load.plan import LoadPlan, RetryPolicy
from dbprobe.probes import uow
from dbprobe.probes.repo import catalogue as repo
from dbprobe.probes.repo.probe import run_repo
from dbprobe.probes.uow import run_uow
from dbprobe.report.console import print_report
from dbprobe.result.findings import Finding, Severity
from dbprobe.result.model import Report

__all__ = ["run_command"]

T = TypeVar("T")


async def _with_progress(
    args: argparse.Namespace,
    err: Console,
    run: Callable[[asyncio.Event, ProbeHooks], Awaitable[T]],
    on_report: Callable[[Report], None] | None = None,
) -> T:
    """Run with SIGINT/SIGTERM setting ``stop`` and the progress display on stderr."""
    stop = asyncio.Event()
    _install_stop_signals(stop)
    with _progress(args, err) as progress:
        return await run(stop, dataclasses.replace(progress.hooks(), on_report=on_report))


def _keep_early(args: argparse.Namespace) -> Callable[[Report], None]:
    """Write the report files as the run made them, before user code runs again (a
    scenario file's teardown); :func:`_finish` writes them again with all it adds."""

    def keep(report: Report) -> None:
        from dbprobe.cli.gate import write_files
        from dbprobe.report.view import ReportView

        # A file that cannot be written is reported by _finish, after teardown.
        write_files(ReportView(report), args, Outputs())

    return keep


async def _measure(
    args: argparse.Namespace,
    out: Console,
    err: Console,
    run: Callable[[asyncio.Event, ProbeHooks], Awaitable[Report]],
) -> int:
    """What every probe command shares: stop on signals, show progress, finish."""
    return _finish(await _with_progress(args, err, run, _keep_early(args)), args, out)


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
        "grace_s": args.grace,
    }
    if args.profile is not None:
        extra["profile"] = args.profile
    warmup = args.warmup
    if warmup is None:
        warmup = 0.0 if args.transactions is not None else args.timed_warmup_s
    return LoadPlan(args.threads, transactions, duration, warmup, **extra)


def _target_options(args: argparse.Namespace, target: Target) -> TargetOptions:
    return TargetOptions(
        target=target,
        scale=args.scale,
        seed=args.seed,
        force=args.force,
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
            explain=args.explain is not None,
            explain_min_rows=args.explain_min_rows,
            explain_analyze=args.explain == "analyze",
        ),
    )


async def _repo_command(
    args: argparse.Namespace, target: Target, argv: Sequence[str], out: Console, err: Console
) -> int:
    plan = _plan(args, None, REPO_DEFAULT_TRANSACTIONS)

    def at(scale: str | None, stop: asyncio.Event, hooks: ProbeHooks) -> Awaitable[Report]:
        return run_repo(
            dataclasses.replace(_target_options(args, target), scale=scale or args.scale),
            plan,
            only=args.only,
            retry=RetryPolicy(retries=args.retries),
            slos=args.slo,
            stop=stop,
            argv=argv,
            hooks=hooks,
            n_plus_one_threshold=args.n_plus_one_threshold,
            max_error_rate=args.max_error_rate,
            explain=args.explain is not None or scale is not None,
            explain_min_rows=args.explain_min_rows,
            explain_analyze=args.explain == "analyze",
        )

    return await _measure(args, out, err, _at_scales(args, at))


ScaledRun = Callable[[str | None, asyncio.Event, ProbeHooks], Awaitable[Report]]


def _at_scales(
    args: argparse.Namespace, at: ScaledRun
) -> Callable[[asyncio.Event, ProbeHooks], Awaitable[Report]]:
    """The run at ``--scale``, or with ``--scales`` at each scale with the growth fitted."""
    if not args.scales:
        return lambda stop, hooks: at(None, stop, hooks)
    from dbprobe.probes.scaling import run_at_scales

    return lambda stop, hooks: run_at_scales(
        args.scales, lambda scale: at(scale, stop, hooks), stop=stop
    )


def _list_catalogue(args: argparse.Namespace, out: Console) -> int:
    for entry in repo.catalogue(repo.RepoWorld.dense(1, 1, 1, 1, 1)):
        out.print(f"{entry.name:<28} {entry.description}", highlight=False)
    return EXIT_OK


async def _run_scenarios_command(
    args: argparse.Namespace, target: Target, argv: Sequence[str], out: Console, err: Console
) -> int:
    from dbprobe.probes.scenarios.probe import run_scenarios

    def at(scale: str | None, stop: asyncio.Event, hooks: ProbeHooks) -> Awaitable[Report]:
        return run_scenarios(
            dataclasses.replace(_target_options(args, target), scale=scale or args.scale),
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
            hook_timeout_s=args.hook_timeout,
            explain=args.explain is not None or scale is not None,
            explain_min_rows=args.explain_min_rows,
            explain_analyze=args.explain == "analyze",
            # Each alone, so that a neighbour's cost does not bleed into its own:
            # mixed with a scan of 450,000 rows, a primary-key lookup on
            # PostgreSQL measured 36 % slower at scale medium than at tiny; alone, 11 %.
            alone=scale is not None,
        )

    return await _measure(args, out, err, _at_scales(args, at))


def _list_scenarios(args: argparse.Namespace, out: Console) -> int:
    from dbprobe.probes.scenarios.declare import load_scenarios

    for s in load_scenarios(args.scenarios).scenarios:
        out.print(f"{s.name:<24} weight {s.weight:<4} {s.defined_at}", highlight=False)
    return EXIT_OK


def _merge_command(args: argparse.Namespace, out: Console) -> int:
    from dbprobe.report.merge import merge_reports, read_reports_to_merge

    merged = merge_reports(read_reports_to_merge(args.reports), slos=args.slo)
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
            explain=args.explain is not None,
            explain_min_rows=args.explain_min_rows,
            explain_analyze=args.explain == "analyze",
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
        force=args.force,
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
            slos=args.slo,
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
    # Its scripts bring their own table: no seeded data, so no scale, seed or --force.
    target_options = TargetOptions(
        target=target,
        scale=None,
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
    from dbprobe.data.seeding import clean, other_tables
    from dbprobe.database.url import data_dir

    pool = PoolOptions(size=1, connect_timeout_s=args.connect_timeout)
    path = target.sqlite_path
    if path is not None and path.parent == data_dir() and path.name == "dbprobe.sqlite3":
        # dbprobe's own default file goes whole, unless somebody put tables of
        # their own in it: then only dbprobe's tables are dropped, as anywhere else.
        others: list[str] = []
        if path.exists():
            db = await open_database(target, pool)
            try:
                others = await other_tables(db)
            finally:
                await db.dispose()
        if not others:
            removed = [p for p in (path, *path.parent.glob(path.name + "-*")) if p.exists()]
            for p in removed:
                p.unlink()
            shown = ", ".join(str(p) for p in removed) or "nothing"
            out.print(f"removed {shown}", highlight=False)
            return EXIT_OK
    db = await open_database(target, pool)
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
        force=args.force,
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
    from dbprobe.cli.gate import after_run, print_failures, print_lines

    outputs = Outputs()
    done = after_run(report, args, outputs)
    report = done.report
    if not args.quiet:
        print_report(report, out)
        # After the table: the verdicts judge its figures, and a CI log ends with them.
        print_lines(done.lines, out)
    # After the table, so a CI log ends with what went wrong.
    failed = print_failures(outputs)
    if report.run.interrupted:
        # Everything worth keeping is written. Workers cancelled mid-transaction
        # may still be unwinding: an aiosqlite thread blocked in SQLite's busy
        # handler cannot be interrupted (sqlite3_interrupt does not end a busy
        # wait), and the loop's runner and interpreter exit would both wait for it.
        # Leave now; the databases roll back the open transactions themselves.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)
    if failed is not None:
        return failed
    failing = set(getattr(args, "fail_on", ()))  # kinds; regression levels made ERRORs
    causes = [f for f in report.findings if f.severity is Severity.ERROR or f.kind in failing]
    for finding in causes:
        # Last on stderr, so a CI log says why the step failed without reading the table.
        print(_failure_line(finding, failing), file=sys.stderr)
    return EXIT_FINDINGS if causes else EXIT_OK


def _failure_line(finding: Finding, failing: set[str]) -> str:
    """``dbprobe: exit 1: n_plus_one on list_programs (--fail-on n_plus_one): <message>``."""
    why = f"--fail-on {finding.kind}" if finding.kind in failing else "severity error"
    where = f" on {finding.operation}" if finding.operation else ""
    return f"dbprobe: exit 1: {finding.kind}{where} ({why}): {one_line(finding.message)}"


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
    out = make_console()
    err = make_console(stderr=True)
    shown_argv = ["dbprobe", *(mask_url_text(a) for a in argv)]
    try:
        if args.command in _OFFLINE:
            preflight(args, None)
            return _OFFLINE[args.command](args, out)
        if getattr(args, "list", False):
            return _LISTINGS[args.command](args, out)
        target = resolve_target(args.db)
        preflight(args, target)
        with asyncio.Runner(loop_factory=loop_factory(args.loop)) as runner:
            return runner.run(_ON_TARGET[args.command](args, target, shown_argv, out, err))
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
        print(f"dbprobe: error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
