"""The HTML report: one self-contained file (inline CSS, plots as inline PNG).

Plots are drawn by matplotlib (:mod:`dbprobe.report.plots`) and embedded as
``data:image/png;base64`` images: the file references nothing outside itself,
opens offline, survives being attached to a CI run or mailed, and shows the
same in every browser. (A plotly page would be interactive but carries 3-4 MB
of JavaScript per file and needs scripting to show anything at all.)
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable, Sequence
from importlib.metadata import version
from types import ModuleType
from typing import TYPE_CHECKING

from dbprobe.errors import HtmlUnavailableError
from dbprobe.gate.compare import Comparison, Verdict
from dbprobe.metrics.distribution import Distribution
from dbprobe.report.header import resources_line
from dbprobe.report.operation_details import (
    OPEN_LOOP_NOTE,
    cancelled_columns,
    commit_columns,
    failed_attempts,
    lock_waits,
    open_loop_columns,
    server_time,
)
from dbprobe.report.plans import PLANS_NOTE, plan_rows
from dbprobe.report.section_views import section_views
from dbprobe.report.sections_html import (
    SECTIONS_CSS,
    format_blocks_html,
    format_section_views_html,
)
from dbprobe.report.text import (
    format_change,
    format_judged,
    format_result_p,
    format_value,
    headline,
    rounds_cell,
    run_line,
    thresholds_line,
    verdict_label,
)
from dbprobe.report.view import ReportView
from dbprobe.result.findings import Severity
from dbprobe.result.model import Report

if TYPE_CHECKING:
    from dbprobe.report.plots import OperationSeries

__all__ = ["render_html", "render_suite_html"]

# Latency digits in the operations table.
_DIGITS = 3


_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d1d1f;
       margin: 0 auto; max-width: 1400px; padding: 1rem 2rem 3rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; } h2 { font-size: 1.2rem; margin-top: 2rem;
     border-bottom: 1px solid #ddd; padding-bottom: .2rem; }
.sub { color: #555; font-size: .9rem; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-variant-numeric: tabular-nums; }
th, td { padding: .25rem .6rem; border-bottom: 1px solid #e5e5e5; text-align: right; }
th { background: #f5f5f7; } td:first-child, th:first-child { text-align: left; }
td.text { text-align: left; }
.regressed { background: #fdecea; } .improved { background: #e8f6ee; }
.badge { display: inline-block; padding: .1rem .5rem; border-radius: .6rem; font-size: .85rem; }
.b-error { background: #c0392b; color: #fff; } .b-warning { background: #f0ad4e; color: #222; }
.b-info { background: #d9ecf7; color: #222; } .b-ok { background: #2e8b57; color: #fff; }
.warn { background: #fff7e0; border-left: 4px solid #f0ad4e; padding: .3rem .7rem; }
img { max-width: 100%; height: auto; display: block; margin: .5rem 0; }
ul.findings li { margin: .3rem 0; } code { background: #f5f5f7; padding: 0 .2rem; }
section.run { margin-bottom: 3rem; }
"""


def _load_plots() -> ModuleType:
    try:
        from dbprobe.report import plots
    except ImportError as exc:
        raise HtmlUnavailableError(
            f"the HTML report needs matplotlib ({exc}); install it with pip install 'dbprobe[html]'"
        ) from None
    return plots


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _img(png: bytes, alt: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{_e(alt)}">'


def _table(headers: Sequence[str], rows: Sequence[tuple[Sequence[str], str]]) -> str:
    """``rows`` are (already escaped cells, row class)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        f'<tr class="{cls}">' + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
        for cells, cls in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _operations(report: Report) -> str:
    commit = commit_columns(report, _DIGITS)
    extra = [*open_loop_columns(report, _DIGITS), *cancelled_columns(report)]
    rows = [
        (
            [
                f"<code>{_e(op.name)}</code>",
                str(op.count),
                str(op.errors),
                str(op.retries),
                *(
                    f"{v:.{_DIGITS}f}"
                    for v in (
                        op.latency_ms.p50_ms,
                        op.latency_ms.p90_ms,
                        op.latency_ms.p95_ms,
                        op.latency_ms.p99_ms,
                        op.latency_ms.p999_ms,
                        op.latency_ms.max_ms,
                    )
                ),
                *(_e(c.value(op)) for c in commit),
                f"{op.throughput_per_s:.1f}",
                f"{op.queries.per_op_mean:.1f}",
                *(_e(c.value(op)) for c in extra),
            ],
            "",
        )
        for op in report.operations
    ]
    return _table(
        (
            "operation",
            "count",
            "errors",
            "retries",
            "p50 ms",
            "p90 ms",
            "p95 ms",
            "p99 ms",
            "p99.9 ms",
            "max ms",
            *(f"{c.header} {c.unit}".strip() for c in commit),
            "tx/s",
            "stmts/tx",
            *(f"{c.header} {c.unit}".strip() for c in extra),
        ),
        rows,
    )


def _findings(report: Report, comparison: Comparison | None) -> str:
    shown_elsewhere = ("regression", "improvement") if comparison is not None else ()
    findings = [f for f in report.findings if f.kind not in shown_elsewhere]
    if not findings:
        return '<p class="sub">No findings.</p>'
    badge = {Severity.ERROR: "b-error", Severity.WARNING: "b-warning", Severity.INFO: "b-info"}
    items = "".join(
        f'<li><span class="badge {badge[f.severity]}">{_e(f.severity.value)}</span> '
        f"<code>{_e(f.kind)}</code>"
        + (f" <code>{_e(f.operation)}</code>" if f.operation else "")
        + f": {_e(f.message)}"
        # Where the user's code issued it (N+1, a leak), unless the message says already.
        + (
            f" (at <code>{_e(f.location)}</code>)"
            if f.location and f.location not in f.message
            else ""
        )
        + "</li>"
        for f in findings
    )
    return f'<ul class="findings">{items}</ul>'


def _plans(report: Report) -> str:
    rows = [
        (
            (
                f"<code>{_e(row.statement)}</code>",
                _e(row.operations),
                f"<pre>{_e(chr(10).join(row.lines))}</pre>",
            ),
            "",
        )
        for row in plan_rows(report)
    ]
    return _table(("statement", "operations", "plan"), rows)


def _comparison(comparison: Comparison) -> str:
    base = comparison.baseline
    name = base.label or base.started_at
    worst = comparison.worst_level()
    badge = (
        f'<span class="badge b-error">{_e(comparison.summary())}</span>'
        if worst is not None
        else f'<span class="badge b-ok">{_e(comparison.summary())}</span>'
    )
    parts = [
        f"<p>Baseline <code>{_e(name)}</code>: {_e(base.backend)}, scale {_e(base.scale)}, "
        f"host {_e(base.host)}, run {_e(base.started_at)}. {badge}</p>",
        f'<p class="sub">{_e(thresholds_line(comparison))}. A regression must be significant '
        "(Mann-Whitney U on the figures of each round), the 95% interval of its ratio must "
        "lie above 1, and its change must reach the threshold; <em>borderline</em> means the "
        "interval reaches below the threshold; too few rounds to see a change of the threshold "
        "is <em>insufficient data</em>.</p>",
    ]
    parts += [f'<p class="warn">{_e(w)}</p>' for w in comparison.warnings]
    unit = comparison.metric.unit
    rows = [
        (
            [
                f"<code>{_e(r.operation)}</code>",
                _e(format_value(r.baseline_value, unit)),
                _e(format_value(r.current_value, unit)),
                _e(format_change(r.raw_change)),
                _e(format_judged(r)),
                _e(format_result_p(r)),
                _e(rounds_cell(r)),
                f"<strong>{_e(verdict_label(r))}</strong>",
            ],
            r.verdict.value if r.verdict in (Verdict.REGRESSED, Verdict.IMPROVED) else "",
        )
        for r in comparison.results
    ]
    parts.append(
        _table(
            (
                "operation",
                f"baseline {comparison.metric.value}",
                "this run",
                "change",
                "judged change (95% CI)",
                "p",
                "rounds (base / now)",
                "verdict",
            ),
            rows,
        )
    )
    for label, names in (
        ("Only in the baseline", comparison.only_in_baseline),
        ("New (not in the baseline)", comparison.only_in_current),
    ):
        if names:
            parts.append(
                f"<p>{label}: " + ", ".join(f"<code>{_e(n)}</code>" for n in names) + "</p>"
            )
    return "".join(parts)


def _series(view: ReportView, plots: ModuleType) -> list[OperationSeries]:
    base_ops = {op.name: op for op in view.baseline.operations} if view.baseline else {}
    regressed = {r.operation for r in view.comparison.regressions()} if view.comparison else set()
    series: list[OperationSeries] = []
    for op in view.report.operations:
        base = base_ops.get(op.name)
        series.append(
            plots.OperationSeries(
                name=op.name,
                current=Distribution.from_encoded_histogram(op.histogram),
                baseline=Distribution.from_encoded_histogram(base.histogram) if base else None,
                throughput_per_s=op.throughput_per_s,
                baseline_throughput_per_s=base.throughput_per_s if base else None,
                regressed=op.name in regressed,
            )
        )
    return series


def _run_section(view: ReportView, plots: ModuleType, *, heading: str) -> str:
    report = view.report
    series = _series(view, plots)
    with_data = [s for s in series if s.current.count]
    parts = [
        f"<{heading}>{_e(headline(report))}</{heading}>",
        f'<p class="sub">{_e(run_line(report))}<br>target {_e(report.target.url)}</p>',
    ]
    if view.comparison is not None:
        parts += ["<h2>Comparison with the baseline</h2>", _comparison(view.comparison)]
    if report.operations:  # the isolation probe's matrix is not a workload
        open_loop = any(op.open_loop for op in report.operations)
        parts += [
            "<h2>Operations</h2>",
            '<p class="sub">latency in ms of committed operations'
            + (f"; {_e(OPEN_LOOP_NOTE)}" if open_loop else "")
            + "</p>",
            _operations(report),
        ]
    details = [lock_waits(report), server_time(report), failed_attempts(report)]
    parts.append(format_blocks_html(details))
    sections = section_views(report)
    parts.append(format_section_views_html(sections.own))
    parts += ["<h2>Findings</h2>", _findings(report, view.comparison)]
    if report.plans:
        parts += ["<h2>Query plans</h2>", f'<p class="sub">{_e(PLANS_NOTE)}</p>', _plans(report)]
    if with_data:
        parts += [
            "<h2>Latency by percentile</h2>",
            _img(plots.percentile_plot(with_data), "latency by percentile, per operation"),
            "<h2>Latency histogram</h2>",
            _img(plots.histogram_plot(with_data), "latency histogram, per operation"),
        ]
    if series:
        parts += [
            "<h2>Throughput</h2>",
            _img(plots.throughput_plot(series), "throughput per operation"),
        ]
    parts.append(format_section_views_html(sections.context))
    trends = [t for t in view.trends if t.points]
    if trends:
        parts += [
            "<h2>History</h2>",
            f'<p class="sub">recorded runs of {_e(trends[0].backend)}, scale '
            f"{_e(trends[0].scale)}; dashed lines mark step changes (the {trends[0].window} runs "
            "after differ from the ones before, by the U test and by at least "
            f"{trends[0].threshold:.0%} at the medians)</p>",
            _img(plots.trend_plot(trends), "history of the operation"),
        ]
    parts.append(f'<p class="sub">{_e(resources_line(report))}</p>')
    return "\n".join(p for p in parts if p)


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}{SECTIONS_CSS}</style>\n</head>\n<body>\n{body}\n"
        f'<p class="sub">generated by dbprobe {_e(version("dbprobe"))}</p>\n</body>\n</html>\n'
    )


def render_html(
    view: ReportView | Report, *, plots_loader: Callable[[], ModuleType] = _load_plots
) -> str:
    """One run as a self-contained HTML page; HtmlUnavailableError without matplotlib."""
    if isinstance(view, Report):
        view = ReportView(view)
    plots = plots_loader()
    return _page(headline(view.report), _run_section(view, plots, heading="h1"))


def render_suite_html(
    views: Sequence[ReportView], *, plots_loader: Callable[[], ModuleType] = _load_plots
) -> str:
    """Several runs (a suite) in one page, a summary table first."""
    plots = plots_loader()
    rows = []
    for v in views:
        verdict = v.comparison.summary() if v.comparison is not None else "no baseline"
        worst = v.comparison.worst_level() if v.comparison is not None else None
        errors = sum(f.severity is Severity.ERROR for f in v.report.findings)
        rows.append(
            (
                [
                    f'<a href="#{_e(v.report.run.probe)}">{_e(v.report.run.probe)}</a>',
                    str(len(v.report.operations)),
                    str(errors),
                    _e(verdict),
                ],
                "regressed" if worst is not None else "",
            )
        )
    sections = "".join(
        f'<section class="run" id="{_e(v.report.run.probe)}">'
        + _run_section(v, plots, heading="h2")
        + "</section>"
        for v in views
    )
    body = (
        "<h1>dbprobe suite</h1>"
        + _table(("probe", "operations", "error findings", "against baseline"), rows)
        + sections
    )
    return _page("dbprobe suite", body)
