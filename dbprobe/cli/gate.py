"""Baselines, the regression gate, history and report files, as the CLI offers them.

Imported only after parsing. :func:`after_run` is what every load probe does
with its report (save it as a baseline, record it, compare it, write the
Markdown/HTML/export files); the ``baseline``, ``compare``, ``report``,
``history`` and ``suite`` commands live here too.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from rich.console import Console

from dbprobe.cli.status import EXIT_FINDINGS, EXIT_INTERRUPTED, EXIT_OK
from dbprobe.errors import UsageError
from dbprobe.gate.decide import GateSettings, GateVerdict, judge, load_baseline
from dbprobe.gate.store import HistoryStore
from dbprobe.gate.thresholds import Level, Metric, levels_from_options
from dbprobe.report.exports import custom_smaller_is_better, pytest_benchmark_json, write_export
from dbprobe.report.markdown import format_markdown
from dbprobe.report.render import judged_view
from dbprobe.report.view import ReportView
from dbprobe.result.jsonio import read_report
from dbprobe.result.model import Report

__all__ = [
    "after_run",
    "baseline_command",
    "compare_command",
    "history_command",
    "regression_level",
    "report_command",
    "suite_outputs",
    "write_report_files",
]

_LEVELS = tuple(level.value for level in Level)


def _store(args: argparse.Namespace) -> HistoryStore:
    return HistoryStore(args.history) if getattr(args, "history", None) else HistoryStore()


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


def _write_outputs(view: ReportView, args: argparse.Namespace) -> None:
    if getattr(args, "markdown", None):
        Path(args.markdown).write_text(format_markdown(view), encoding="utf-8")
    if getattr(args, "html", None):
        from dbprobe.report.html import render_html  # matplotlib, only when asked for

        Path(args.html).write_text(render_html(view), encoding="utf-8")
    for kind, path in getattr(args, "export", None) or ():
        metric = Metric(args.metric)
        if kind == "pytest-benchmark":
            write_export(Path(path), pytest_benchmark_json([view.report]))
        else:
            write_export(Path(path), custom_smaller_is_better([view.report], metric=metric))


def write_report_files(report: Report, args: argparse.Namespace) -> None:
    """The ``--markdown``, ``--html`` and ``--export`` files of a run compared with nothing."""
    _write_outputs(ReportView(report), args)


def _print_verdict(verdict: GateVerdict, out: Console) -> None:
    # One line per verdict, never wrapped: CI logs are read with grep.
    for warning in verdict.comparison.warnings:
        out.print(f"warning: {warning}", highlight=False, markup=False, soft_wrap=True)
    for line in verdict.result_lines():
        out.print(line, highlight=False, markup=False, soft_wrap=True)
    out.print(verdict.summary(), highlight=False, soft_wrap=True)


def after_run(report: Report, args: argparse.Namespace, out: Console) -> Report:
    """Save/record the run, compare it with ``--compare``, write the report files.

    The comparison's regressions become findings, ERROR at or above the
    ``--fail-on`` level, so the CLI's usual rule (an ERROR finding exits 1)
    is the gate.
    """
    if report.run.interrupted:
        return report  # a partial run is neither a baseline nor a fair comparison
    store = _store(args)
    view = ReportView(report)
    if args.compare:
        verdict = judge(report, args.compare, store=store, settings=_settings(args))
        if not args.quiet:
            _print_verdict(verdict, out)
        report = dataclasses.replace(report, findings=report.findings + verdict.findings)
        view = ReportView(report, verdict.baseline, verdict.comparison)
    if args.save_baseline:
        store.save_baseline(args.save_baseline, report)
    if args.record:
        store.record(report, label=args.label or "")
    _write_outputs(view, args)
    return report


def baseline_command(args: argparse.Namespace, out: Console) -> int:
    store = _store(args)
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
    store = _store(args)
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
    _write_outputs(view, args)
    return EXIT_FINDINGS if verdict.failed else EXIT_OK


def report_command(args: argparse.Namespace, out: Console) -> int:
    """``dbprobe report RESULT.json``: render a saved result (and its comparison, trend)."""
    view = judged_view(
        read_report(args.result),
        baseline=args.compare,
        store=_store(args),
        settings=_settings(args),
        with_history=args.trend,
    )
    if not (args.markdown or args.html or args.export):
        out.print(format_markdown(view), highlight=False, markup=False)
    _write_outputs(view, args)
    return EXIT_OK


def history_command(args: argparse.Namespace, out: Console) -> int:
    from dbprobe.gate.trend import history

    store = _store(args)
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
    unit = Metric(args.metric).unit
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
    """After ``dbprobe suite`` ran: baselines, records, comparison, every format in --out."""
    from dbprobe.suite import judge_suite, save_suite_baseline, write_suite

    if any(r.run.interrupted for r in reports):
        return EXIT_INTERRUPTED
    store = _store(args)
    if args.save_baseline:
        save_suite_baseline(store, args.save_baseline, reports)
    if args.record:
        for report in reports:
            store.record(report, label=args.label or "")
    settings = _settings(args)
    judged = judge_suite(
        reports, store=store, baseline=args.compare, with_history=args.record, settings=settings
    )
    files = write_suite(judged.views, Path(args.out), html=not args.no_html, metric=settings.metric)
    written = [*files.reports, files.markdown, files.pytest_benchmark, files.custom]
    if files.html is not None:
        written.append(files.html)
    out.print("wrote " + ", ".join(str(p) for p in written), highlight=False)
    for verdict in judged.verdicts:
        _print_verdict(verdict, out)
    return EXIT_FINDINGS if judged.exit_status else EXIT_OK
