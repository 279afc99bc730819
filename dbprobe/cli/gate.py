"""Baselines, the regression gate, history and report files, as the CLI offers them.

Imported only after parsing. :func:`after_run` is what every load probe does
with its report (save it as a baseline, record it, compare it, write the
Markdown/HTML/export files); the ``baseline``, ``compare``, ``report``,
``history`` and ``suite`` commands live here too.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console

from dbprobe.cli.outputs import OutputFile, Outputs, history_store, requested_files
from dbprobe.cli.status import EXIT_FINDINGS, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from dbprobe.errors import UsageError
from dbprobe.gate.decide import GateSettings, GateVerdict, judge, load_baseline
from dbprobe.gate.thresholds import Level, Metric, levels_from_options
from dbprobe.report.console import format_suite_summary
from dbprobe.report.exports import custom_smaller_is_better, pytest_benchmark_json, write_export
from dbprobe.report.markdown import format_markdown
from dbprobe.report.render import judged_view
from dbprobe.report.view import ReportView
from dbprobe.result.files import write_text_atomic
from dbprobe.result.jsonio import read_report, write_report
from dbprobe.result.model import Report

__all__ = [
    "AfterRun",
    "after_run",
    "baseline_command",
    "compare_command",
    "history_command",
    "print_failures",
    "print_lines",
    "regression_level",
    "report_command",
    "suite_outputs",
    "write_files",
]

_LEVELS = tuple(level.value for level in Level)


def _settings(args: argparse.Namespace) -> GateSettings:
    """How the command line's options say a run is judged."""
    return GateSettings(
        metric=Metric(args.metric),
        thresholds=levels_from_options(
            args.threshold, args.warn, args.critical, per_operation=args.threshold_for
        ),
        fail_on=regression_level(args),
        allow_mismatch=args.allow_mismatch,
        normalize=not getattr(args, "absolute", False),
    )


def regression_level(args: argparse.Namespace) -> Level:
    """The lowest regression severity that fails the run: the level given to --fail-on."""
    levels = [Level(v) for v in getattr(args, "fail_on", ()) if v in _LEVELS]
    return min(levels, key=lambda level: level.rank) if levels else Level.MINOR


def _file_writer(file: OutputFile, view: ReportView, metric: Metric) -> Callable[[Path], None]:
    """How ``file`` is made from the run (rendered only when it is written)."""
    if file.option == "--json":
        return lambda path: write_report(view.report, path)
    if file.option == "--markdown":
        return lambda path: write_text_atomic(path, format_markdown(view))
    if file.option == "--html":

        def html(path: Path) -> None:
            from dbprobe.report.html import render_html  # matplotlib, only when asked for

            write_text_atomic(path, render_html(view))

        return html
    if file.option == "--export pytest-benchmark":
        return lambda path: write_export(path, pytest_benchmark_json([view.report]))
    return lambda path: write_export(path, custom_smaller_is_better([view.report], metric=metric))


def write_files(view: ReportView, args: argparse.Namespace, outputs: Outputs) -> list[Path]:
    """``--json``, ``--markdown``, ``--html`` and each ``--export``, each written on its own;
    the paths written."""
    metric = Metric(getattr(args, "metric", Metric.P50.value))
    return [
        file.path
        for file in requested_files(args)
        if outputs.write_file(file, _file_writer(file, view, metric))
    ]


def _verdict_lines(verdict: GateVerdict) -> list[str]:
    return [
        *(f"warning: {warning}" for warning in verdict.comparison.warnings),
        *verdict.result_lines(),
        verdict.summary(),
    ]


def print_lines(lines: Sequence[str], out: Console) -> None:
    # One line each, never wrapped nor marked up: CI logs are read with grep.
    for line in lines:
        out.print(line, highlight=False, markup=False, soft_wrap=True)


def _print_verdict(verdict: GateVerdict, out: Console) -> None:
    print_lines(_verdict_lines(verdict), out)


@dataclasses.dataclass(frozen=True)
class AfterRun:
    """What :func:`after_run` made of a run.

    ``report`` carries the comparison's findings; ``lines`` are printed after
    the run's table: the comparison's verdicts, then what was saved (so the
    verdicts sit next to the figures they judge, and a CI log ends with them).
    """

    report: Report
    lines: tuple[str, ...] = ()


def after_run(report: Report, args: argparse.Namespace, outputs: Outputs) -> AfterRun:
    """Compare the run with ``--compare``, write its files, save/record it.

    The comparison's regressions become findings, ERROR at or above the
    ``--fail-on`` level, so the CLI's usual rule (an ERROR finding exits 1)
    is the gate. Each step that fails is kept in ``outputs`` and the next
    still runs: what was measured is never lost to one unwritable output.
    Probes without a baseline to compare with (pool, isolation, merge) only
    write their files.
    """
    lines: list[str] = []
    view = ReportView(report)
    # A partial run is neither a baseline nor a fair comparison.
    judged = hasattr(args, "compare") and not report.run.interrupted
    if judged and args.compare is not None:
        store = history_store(args)
        compare = args.compare
        verdict = outputs.attempt(
            f"--compare {compare}",
            lambda: judge(report, compare, store=store, settings=_settings(args)),
            outcome="not compared",
        )
        if verdict is not None:
            lines += _verdict_lines(verdict)
            report = dataclasses.replace(report, findings=report.findings + verdict.findings)
            view = ReportView(report, verdict.baseline, verdict.comparison)
    write_files(view, args, outputs)
    if judged:
        lines += _save_and_record((report,), args, outputs, baseline_name=lambda name, _: name)
    return AfterRun(report, tuple(lines))


def _save_and_record(
    reports: Sequence[Report],
    args: argparse.Namespace,
    outputs: Outputs,
    *,
    baseline_name: Callable[[str, str], str],
) -> list[str]:
    """``--save-baseline`` and ``--record`` of each report (a suite's: one per probe);
    a line for each baseline saved."""
    store = history_store(args)
    saved: list[str] = []
    for report in reports:
        if args.save_baseline is not None:
            name = baseline_name(args.save_baseline, report.run.probe)
            info = outputs.attempt(
                f"--save-baseline {name}", functools.partial(store.save_baseline, name, report)
            )
            if info is not None:
                operations = _counted(len(report.operations), "operation")
                saved.append(f"saved baseline {name}: {operations}")
        if args.record:
            outputs.attempt(
                f"--record (history {store.path})",
                functools.partial(store.record, report, label=args.label or ""),
            )
    return saved


def _counted(n: int, noun: str) -> str:
    """``1 operation``, ``3 operations``."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


def print_failures(outputs: Outputs) -> int | None:
    """One line on stderr per output not written; the exit status they call for, if any."""
    for failure in outputs.failures:
        print(failure.line(), file=sys.stderr)
    return EXIT_USAGE if outputs.failures else None


def baseline_command(args: argparse.Namespace, out: Console) -> int:
    store = history_store(args)
    if args.action == "save":
        info = store.save_baseline(args.name, read_report(args.report))
        out.print(f"saved baseline {info.name!r} ({info.probe}, {info.backend}, {info.scale})")
    elif args.action == "list":
        infos = store.baselines()
        if not infos:
            out.print(f"no baselines in {store.path}", highlight=False)
        for info in infos:
            out.print(
                f"{info.name:<24} {info.probe:<10} {info.backend:<10} {info.scale:<7} "
                f"{info.host:<20} {info.saved_at}",
                highlight=False,
            )
    elif args.action == "show":
        report = store.baseline(args.name)
        if args.markdown:
            out.print(format_markdown(report), highlight=False, markup=False)
        else:
            from dbprobe.report.console import print_report

            print_report(report, out)
    else:
        store.delete_baseline(args.name)
        out.print(f"deleted baseline {args.name!r}", highlight=False)
    return EXIT_OK


def compare_command(args: argparse.Namespace, out: Console) -> int:
    """``dbprobe compare BASELINE CURRENT``: each a baseline name or a report file."""
    store = history_store(args)
    current, current_label = load_baseline(args.current, store)
    verdict = judge(
        current, args.baseline, store=store, settings=_settings(args), current_label=current_label
    )
    _print_verdict(verdict, out)
    view = ReportView(
        dataclasses.replace(current, findings=current.findings + verdict.findings),
        verdict.baseline,
        verdict.comparison,
    )
    outputs = Outputs()
    write_files(view, args, outputs)
    return print_failures(outputs) or (EXIT_FINDINGS if verdict.failed else EXIT_OK)


def report_command(args: argparse.Namespace, out: Console) -> int:
    """``dbprobe report RESULT.json``: render a saved result (and its comparison, trend)."""
    view = judged_view(
        read_report(args.result),
        baseline=args.compare,
        store=history_store(args),
        settings=_settings(args),
        with_history=args.trend,
    )
    if not (args.markdown or args.html or args.export):
        out.print(format_markdown(view), highlight=False, markup=False)
    outputs = Outputs()
    print_lines([f"wrote {path}" for path in write_files(view, args, outputs)], out)
    return print_failures(outputs) or EXIT_OK


def history_command(args: argparse.Namespace, out: Console) -> int:
    from dbprobe.gate.trend import history

    store = history_store(args)
    trend = history(
        store,
        args.probe,
        args.operation,
        Metric(args.metric),
        backend=args.backend,
        scale=args.scale,
        window=args.window,
        threshold=args.step,
    )
    if not trend.points:
        raise UsageError(
            f"no recorded runs of {args.probe} {args.operation} in {store.path}: "
            "record runs with --record"
        )
    starts = {step.index: step for step in trend.steps}
    metric = Metric(args.metric)
    unit = metric.unit
    out.print(
        f"{args.probe} {args.operation}: {metric.value} in {unit}, "
        f"{_counted(len(trend.points), 'recorded run')} (oldest first), from {store.path}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    for index, point in enumerate(trend.points):
        step = starts.get(index)
        mark = (
            f"  <- step: x{step.worse:.2f} ({step.before_median:.3f} -> {step.after_median:.3f}, "
            f"p={step.p_value:.1e})"
            if step
            else ""
        )
        figure = f"{point.value:12.3f} {unit}"
        out.print(
            f"{point.started_at}  {figure}  n={point.count:<6} {point.label}{mark}",
            highlight=False,
        )
    return EXIT_OK


def suite_outputs(reports: tuple[Report, ...], args: argparse.Namespace, out: Console) -> int:
    """After ``dbprobe suite`` ran: comparison, every format in --out, baselines, records.

    As after a probe, a file or store write that fails is one line on stderr
    and the rest are still written. An interrupted suite writes the files of
    the runs it has (the last one partial), and is neither compared, saved
    nor recorded.
    """
    from dbprobe.suite import SuiteVerdict, judge_suite, suite_baseline_name, write_suite

    interrupted = any(r.run.interrupted for r in reports)
    outputs = Outputs()
    settings = _settings(args)

    def judged_against(baseline: str | None) -> SuiteVerdict:
        return judge_suite(
            reports,
            store=history_store(args),
            baseline=baseline,
            with_history=args.record,
            settings=settings,
        )

    # A comparison that fails after the run (runs of another scale) costs the
    # comparison only: the files are still written.
    judged = None
    if args.compare is not None and not interrupted:
        judged = outputs.attempt(
            f"--compare {args.compare}",
            lambda: judged_against(args.compare),
            outcome="not compared",
        )
    if judged is None:
        judged = judged_against(None)
    files = write_suite(
        judged.views,
        Path(args.out),
        html=not args.no_html,
        metric=settings.metric,
        write_file=lambda path, write: outputs.write_file(OutputFile("--out", path), write),
    )
    saved = (
        _save_and_record(reports, args, outputs, baseline_name=suite_baseline_name)
        if not interrupted
        else []
    )
    not_written = {f.output for f in outputs.failures}
    written = [p for p in files if f"--out {p}" not in not_written]
    out.print(format_suite_summary(judged.views))
    # One line, paths as they are: a CI log is read with grep.
    out.print(
        "wrote " + ", ".join(str(p) for p in written),
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    for verdict in judged.verdicts:
        _print_verdict(verdict, out)
    print_lines(saved, out)
    failed = print_failures(outputs)
    if interrupted:
        return EXIT_INTERRUPTED
    return failed or (EXIT_FINDINGS if judged.exit_status else EXIT_OK)
