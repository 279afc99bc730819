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
from dbprobe.gate.compare import Comparison, compare_reports, comparison_findings, exit_status
from dbprobe.gate.store import HistoryStore
from dbprobe.gate.thresholds import Level, Metric, Thresholds, levels_from_options
from dbprobe.report.exports import custom_smaller_is_better, pytest_benchmark_json, write_export
from dbprobe.report.markdown import format_markdown
from dbprobe.report.render import load_baseline, trends_for
from dbprobe.report.text import summary_line
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
]

_LEVELS = tuple(level.value for level in Level)


def _store(args: argparse.Namespace) -> HistoryStore:
    return HistoryStore(args.history) if getattr(args, "history", None) else HistoryStore()


def _thresholds(args: argparse.Namespace) -> Thresholds:
    return levels_from_options(
        args.threshold, args.warn, args.critical, per_operation=args.threshold_for
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


def _print_comparison(comparison: Comparison, out: Console) -> None:
    for warning in comparison.warnings:
        out.print(f"warning: {warning}", highlight=False)
    for result in comparison.results:
        out.print(result.describe(), highlight=False, markup=False)
    out.print(summary_line(comparison), highlight=False)


def _compare(
    spec: str,
    current: Report,
    args: argparse.Namespace,
    store: HistoryStore,
    current_label: str = "",
) -> tuple[Report, Comparison]:
    """The baseline named by ``spec`` (a saved name or a report file) and its comparison."""
    baseline, label = load_baseline(spec, store)
    comparison = compare_reports(
        baseline,
        current,
        metric=Metric(args.metric),
        thresholds=_thresholds(args),
        allow_mismatch=args.allow_mismatch,
        baseline_label=label,
        current_label=current_label,
        normalize=not getattr(args, "absolute", False),
    )
    return baseline, comparison


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
        baseline, comparison = _compare(args.compare, report, args, store)
        if not args.quiet:
            _print_comparison(comparison, out)
        found = comparison_findings(comparison, regression_level(args))
        report = dataclasses.replace(report, findings=report.findings + tuple(found))
        view = ReportView(report, baseline, comparison)
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
    baseline, comparison = _compare(args.baseline, current, args, store, current_label)
    _print_comparison(comparison, out)
    level = regression_level(args)
    found = comparison_findings(comparison, level)
    view = ReportView(
        dataclasses.replace(current, findings=current.findings + tuple(found)),
        baseline,
        comparison,
    )
    _write_outputs(view, args)
    return EXIT_FINDINGS if exit_status(comparison, level) else EXIT_OK


def report_command(args: argparse.Namespace, out: Console) -> int:
    """``dbprobe report RESULT.json``: render a saved result (and its comparison, trend)."""
    report = read_report(args.result)
    store = _store(args)
    baseline: Report | None = None
    comparison: Comparison | None = None
    if args.compare:
        baseline, comparison = _compare(args.compare, report, args, store)
    trends = trends_for(store, report, Metric(args.metric)) if args.trend else ()
    view = ReportView(report, baseline, comparison, tuple(trends))
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
    from dbprobe.suite import save_suite_baseline, suite_exit_status, suite_views, write_suite

    if any(r.run.interrupted for r in reports):
        return EXIT_INTERRUPTED
    store = _store(args)
    if args.save_baseline:
        save_suite_baseline(store, args.save_baseline, reports)
    if args.record:
        for report in reports:
            store.record(report, label=args.label or "")
    views = suite_views(
        reports,
        store=store,
        baseline=args.compare,
        with_history=args.record,
        metric=Metric(args.metric),
        thresholds=_thresholds(args),
        allow_mismatch=args.allow_mismatch,
    )
    files = write_suite(views, Path(args.out), html=not args.no_html, metric=Metric(args.metric))
    written = [*files.reports, files.markdown, files.pytest_benchmark, files.custom]
    if files.html is not None:
        written.append(files.html)
    out.print("wrote " + ", ".join(str(p) for p in written), highlight=False)
    for view in views:
        if view.comparison is not None:
            _print_comparison(view.comparison, out)
    return EXIT_FINDINGS if suite_exit_status(views, regression_level(args)) else EXIT_OK
