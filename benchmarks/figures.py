"""The benchmark's figures, their targets, and docs/PERFORMANCE.md as text (pure: no I/O).

A :class:`Figure` is the median of repeated samples, read against the median
of a reference measured in the same run (pgbench, a bare loop), and held to a
:class:`Target`. :func:`render` turns sections of figures into the Markdown
page; nothing here measures or writes.
"""

from __future__ import annotations

import enum
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["Check", "Figure", "Section", "Target", "median", "render"]


def median(samples: Sequence[float]) -> float:
    return float(statistics.median(samples)) if samples else float("nan")


class Check(enum.StrEnum):
    """What a target bounds: the ratio to the reference, or the value itself."""

    RATIO_AT_LEAST = "ratio >="
    VALUE_AT_LEAST = "value >="
    VALUE_AT_MOST = "value <="
    RATIO_WITHIN = "ratio within"  # |ratio - 1| <= bound


@dataclass(frozen=True)
class Target:
    check: Check
    bound: float

    def describe(self, unit: str) -> str:
        if self.check is Check.RATIO_AT_LEAST:
            return f"≥ {self.bound:.0%} of the reference"
        if self.check is Check.RATIO_WITHIN:
            return f"within {self.bound:.0%} of the reference"
        sign = "≥" if self.check is Check.VALUE_AT_LEAST else "<"
        if self.check is Check.VALUE_AT_MOST:
            sign = "≤" if unit == "MB" else "<"
        return f"{sign} {_number(self.bound)} {unit}".rstrip()


@dataclass(frozen=True)
class Figure:
    """One benchmark figure: median of ``samples``, against ``reference_samples``."""

    name: str
    unit: str
    samples: tuple[float, ...]
    reference_name: str | None = None
    reference_samples: tuple[float, ...] = ()
    target: Target | None = None
    note: str = ""

    @property
    def value(self) -> float:
        return median(self.samples)

    @property
    def reference(self) -> float | None:
        return median(self.reference_samples) if self.reference_samples else None

    @property
    def ratio(self) -> float | None:
        ref = self.reference
        return self.value / ref if ref else None

    @property
    def met(self) -> bool | None:
        """Whether the target holds; None without a target or without the figures it needs."""
        t = self.target
        if t is None or not self.samples:
            return None
        if t.check is Check.VALUE_AT_LEAST:
            return self.value >= t.bound
        if t.check is Check.VALUE_AT_MOST:
            return self.value <= t.bound
        ratio = self.ratio
        if ratio is None:
            return None
        if t.check is Check.RATIO_AT_LEAST:
            return ratio >= t.bound
        return abs(ratio - 1) <= t.bound

    def shortfall(self) -> str:
        """By how much a missed target was missed, in the target's own terms."""
        t = self.target
        if t is None or self.met is not False:
            return ""
        if t.check is Check.RATIO_AT_LEAST:
            assert self.ratio is not None
            return f"missed by {(t.bound - self.ratio) * 100:.1f} points"
        if t.check is Check.RATIO_WITHIN:
            assert self.ratio is not None
            off = abs(self.ratio - 1)
            return f"off by {off:.1%}, {(off - t.bound) * 100:.1f} points too many"
        gap = abs(self.value - t.bound)
        return f"missed by {_number(gap)} {self.unit} ({gap / t.bound:.0%})"


@dataclass(frozen=True)
class Section:
    """A part of the page: its figures, and the text that says how they were taken."""

    key: str
    title: str
    method: str
    figures: tuple[Figure, ...] = ()
    details: tuple[str, ...] = ()  # extra Markdown blocks (tables, profiles)
    skipped: str | None = None  # why nothing was measured


@dataclass(frozen=True)
class Page:
    title: str
    preamble: str
    machine: tuple[tuple[str, str], ...]
    sections: tuple[Section, ...]
    analysis: str = ""
    extra: tuple[str, ...] = field(default_factory=tuple)


def _number(value: float) -> str:
    if value != value:  # NaN: nothing measured
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}" if abs(value) >= 0.01 else f"{value:.2g}"


def _with_unit(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{_number(value)} {unit}".rstrip()


def _verdict(figure: Figure) -> str:
    met = figure.met
    if met is None:
        return "-" if figure.target is None else "not measured"
    return "met" if met else f"**not met** ({figure.shortfall()})"


def _summary_table(sections: Sequence[Section]) -> list[str]:
    lines = [
        "| benchmark | value | reference | ratio | target | result |",
        "|---|---|---|---|---|---|",
    ]
    for section in sections:
        for f in section.figures:
            if f.target is None:
                continue
            ratio = f"{f.ratio:.1%}" if f.ratio is not None else "-"
            reference = (
                f"{_with_unit(f.reference, f.unit)} ({f.reference_name})"
                if f.reference_name
                else "-"
            )
            lines.append(
                f"| {f.name} | {_with_unit(f.value, f.unit)} | {reference} | {ratio} "
                f"| {f.target.describe(f.unit)} | {_verdict(f)} |"
            )
    return lines


def _figure_table(figures: Sequence[Figure]) -> list[str]:
    lines = [
        "| figure | median | samples | reference (median) | ratio | target |",
        "|---|---|---|---|---|---|",
    ]
    for f in figures:
        samples = ", ".join(_number(s) for s in f.samples) or "-"
        reference = "-"
        if f.reference_name:
            reference = f"{f.reference_name}: {_with_unit(f.reference, f.unit)}"
            if f.reference_samples:
                reference += " (" + ", ".join(_number(s) for s in f.reference_samples) + ")"
        ratio = f"{f.ratio:.1%}" if f.ratio is not None else "-"
        target = f"{f.target.describe(f.unit)}: {_verdict(f)}" if f.target else "-"
        name = f"{f.name}<br>*{f.note}*" if f.note else f.name
        lines.append(
            f"| {name} | {_with_unit(f.value, f.unit)} | {samples} | {reference} | {ratio} "
            f"| {target} |"
        )
    return lines


def render(page: Page) -> str:
    """docs/PERFORMANCE.md as text."""
    out = [f"# {page.title}", "", page.preamble, ""]
    out += ["## Machine and versions", "", "| | |", "|---|---|"]
    out += [f"| {k} | {v} |" for k, v in page.machine]
    out += ["", "## Summary", ""]
    out += _summary_table(page.sections)
    for section in page.sections:
        out += ["", f"## {section.title}", "", section.method.strip(), ""]
        if section.skipped:
            out += [f"*Not measured: {section.skipped}*", ""]
        if section.figures:
            out += _figure_table(section.figures)
            out.append("")
        for block in section.details:
            out += [block.strip(), ""]
    for block in page.extra:
        out += [block.strip(), ""]
    if page.analysis:
        out += [page.analysis.strip(), ""]
    return "\n".join(out).rstrip() + "\n"
