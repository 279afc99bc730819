"""Short texts shared by the Markdown and HTML reports (pure formatting)."""

from __future__ import annotations

import math

from dbprobe.gate.compare import CompareResult, Comparison, Verdict
from dbprobe.report.header import runtime, target_facts, workload_facts
from dbprobe.result.model import Report

__all__ = [
    "format_change",
    "format_interval",
    "format_judged",
    "format_p",
    "format_result_p",
    "format_value",
    "headline",
    "rounds_cell",
    "run_line",
    "thresholds_line",
    "verdict_label",
]


def format_value(value: float, unit: str) -> str:
    if math.isnan(value):
        return "—"
    if unit == "ms":
        return f"{value:.3f} ms" if value < 10 else f"{value:.1f} ms"
    return f"{value:.1f} {unit}"


def format_change(fraction: float) -> str:
    return "—" if math.isnan(fraction) else f"{fraction:+.1%}"


def format_interval(result: CompareResult) -> str:
    if result.interval is None:
        return "—"
    return f"{result.interval.low - 1:+.1%} … {result.interval.high - 1:+.1%}"


def format_judged(result: CompareResult) -> str:
    """The change the verdict is about (of the round figures, beyond what the machine's
    change explains when its CPU reference moved) with its 95% interval."""
    if math.isnan(result.ratio):
        return "—"
    if result.interval is None:
        return format_change(result.change)
    return f"{format_change(result.change)} ({format_interval(result)})"


def format_result_p(result: CompareResult) -> str:
    """The p-value the verdict rests on; a dash when there was no test."""
    return "—" if result.test == "none" else format_p(result.p_value)


def format_p(p: float) -> str:
    if p >= 0.001:
        return f"{p:.3f}"
    return "<1e-12" if p < 1e-12 else f"{p:.0e}"


def verdict_label(result: CompareResult) -> str:
    if result.verdict is Verdict.REGRESSED and result.level is not None:
        borderline = "" if result.confident else ", borderline"
        return f"regressed ({result.level.value}{borderline})"
    if result.verdict is Verdict.INSUFFICIENT:
        return f"insufficient data: {result.insufficient_reason()}"
    return result.verdict.value


def rounds_cell(result: CompareResult) -> str:
    """The samples a verdict rests on: rounds on each side."""
    return f"{result.baseline_rounds} / {result.current_rounds}"


def headline(report: Report) -> str:
    t = report.target
    facts = "".join(f", {f}" for f in target_facts(report))
    return f"dbprobe {report.run.probe} on {t.backend} ({t.server_version}){facts}"


def run_line(report: Report) -> str:
    r = report.run
    text = (
        f"started {r.started_at.isoformat(timespec='seconds')}, took {r.duration_s:.1f} s, "
        f"host {r.host}, {runtime(report)}"
    )
    text += "".join(f", {f}" for f in workload_facts(report))
    return text + (" — interrupted: partial results" if r.interrupted else "")


def thresholds_line(comparison: Comparison) -> str:
    levels = {r.levels for r in comparison.results}
    default = max(
        levels, key=lambda lv: sum(r.levels == lv for r in comparison.results), default=None
    )
    text = f"metric {comparison.metric.value}, significance p < {comparison.alpha:g}"
    if default is not None:
        text += (
            f", thresholds minor {default.minor:.0%} / warning {default.warning:.0%} / "
            f"critical {default.critical:.0%}"
        )
    if len(levels) > 1:
        text += " (some operations have their own)"
    text += "; samples: one figure per round, Mann-Whitney U"
    if comparison.judged_by is not None:
        low, high = comparison.machine_band
        if low != 1.0 and high != 1.0:  # references that moved in opposite directions
            text += f"; changes from {low - 1:+.1%} to {high - 1:+.1%} set aside as the machine's"
        else:
            text += (
                f"; changes up to the {comparison.judged_by.reference.label}'s own "
                f"({comparison.machine_factor - 1:+.1%}) set aside"
            )
    return text
