"""Report sections on the console (rich): the blocks of :mod:`dbprobe.report.blocks` laid out.

``format_*`` build renderables; printing them is :func:`dbprobe.report.console.print_report`'s.
A section's heading is a blank line before it: each table carries its title.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Group, RenderableType
from rich.table import Table as RichTable
from rich.text import Text

from dbprobe.report.blocks import Block, Bullets, Heading, Lines, Preformatted, Table, Tone
from dbprobe.report.section_blocks import section_blocks
from dbprobe.report.section_views import SectionView

__all__ = ["TONE_STYLES", "format_block", "format_blocks", "format_section_views"]

#: The rich style of each tone (also used by the operations table).
TONE_STYLES = {
    Tone.PLAIN: "",
    Tone.DIM: "dim",
    Tone.GOOD: "green",
    Tone.WARN: "yellow",
    Tone.BAD: "bold red",
}


def _table(block: Table) -> RenderableType:
    # Title and caption as lines of their own: rich would wrap them to the table's width.
    table = RichTable()
    for i, header in enumerate(block.headers):
        # Folded, never ended by "…": a narrow terminal wraps a cell over lines
        # rather than hide the end of a figure or a name.
        table.add_column(header, justify="left" if i in block.left else "right", overflow="fold")
    for row in block.rows:
        table.add_row(*(Text(c.text, style=TONE_STYLES[c.tone]) for c in row))
    parts: list[RenderableType] = [Text(block.title)] if block.title else []
    parts.append(table)
    if block.caption:
        parts.append(Text(block.caption, style="dim"))
    return Group(*parts)


def format_block(block: Block) -> RenderableType:
    """One block as a rich renderable."""
    if isinstance(block, Heading):
        # A blank line: the tables carry titles, and a heading would repeat them.
        return Text("")
    if isinstance(block, Lines):
        return Text("\n".join(block.lines), style=TONE_STYLES[block.tone])
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Bullets):
        return Text(block.title + "\n  " + "\n  ".join(block.items), style=TONE_STYLES[block.tone])
    if isinstance(block, Preformatted):
        text = Text(f"{block.title}:\n", style="dim")
        text.append("  " + block.text.replace("\n", "\n  "))
        return text
    raise TypeError(f"no console layout for {type(block).__name__}")


def format_blocks(blocks: Iterable[Block | None]) -> list[RenderableType]:
    return [format_block(b) for b in blocks if b is not None]


def format_section_views(views: Iterable[SectionView]) -> list[RenderableType]:
    """The given sections, one after another."""
    return [r for view in views for r in format_blocks(section_blocks(view))]
