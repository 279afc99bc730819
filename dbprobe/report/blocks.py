"""What a report section says, written once for the console, Markdown and HTML.

A section's figures are turned into these blocks (headings, lines, tables,
lists, preformatted text) by :mod:`dbprobe.report.section_blocks`; each
format lays the blocks out in its own way (:mod:`~dbprobe.report.sections_console`,
:mod:`~dbprobe.report.sections_markdown`, :mod:`~dbprobe.report.sections_html`).
So a figure reads the same in the three formats, and a new section kind is
written once rather than three times.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Block",
    "Bullets",
    "Cell",
    "Heading",
    "Lines",
    "Preformatted",
    "Table",
    "Tone",
    "cell",
    "table",
]


class Tone(enum.Enum):
    """How a text is to be read: each format shows it its own way (colour, class, nothing)."""

    PLAIN = "plain"
    DIM = "dim"  # context: a legend, how something was measured
    GOOD = "good"  # e.g. an invariant that holds
    WARN = "warn"  # worth a look: deadlocks, skipped operations
    BAD = "bad"  # wrong: a violated invariant, timeouts, an allowed anomaly


@dataclass(frozen=True)
class Cell:
    """A table cell; ``code`` marks a name (an operation, a test) set in code type."""

    text: str
    tone: Tone = Tone.PLAIN
    code: bool = False


def cell(value: object, tone: Tone = Tone.PLAIN, *, code: bool = False) -> Cell:
    return Cell(str(value), tone, code)


@dataclass(frozen=True)
class Heading:
    """The title of a section."""

    text: str


@dataclass(frozen=True)
class Lines:
    """A few sentences, one a line."""

    lines: tuple[str, ...]
    tone: Tone = Tone.PLAIN


@dataclass(frozen=True)
class Table:
    """A table: the first column and those in ``left`` are text, the others figures.

    ``long``: a table of many rows (a timeline), folded away where the format can.
    """

    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    left: frozenset[int] = frozenset({0})
    caption: str = ""
    long: bool = False

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.headers):
                raise ValueError(f"a row of {len(row)} cells under {len(self.headers)} headers")


@dataclass(frozen=True)
class Bullets:
    """A titled list."""

    title: str
    items: tuple[str, ...]
    tone: Tone = Tone.PLAIN


@dataclass(frozen=True)
class Preformatted:
    """Text whose line breaks and spacing matter (a server's deadlock report)."""

    title: str
    text: str


Block = Heading | Lines | Table | Bullets | Preformatted


def table(
    title: str,
    headers: Sequence[str],
    rows: Sequence[Sequence[Cell]],
    *,
    left: Sequence[int] = (0,),
    caption: str = "",
    long: bool = False,
) -> Table:
    """A :class:`Table` from any sequences."""
    return Table(
        title,
        tuple(headers),
        tuple(tuple(r) for r in rows),
        frozenset(left),
        caption,
        long,
    )
