"""Report sections in Markdown (GitHub-flavoured): the blocks of :mod:`dbprobe.report.blocks`.

Long tables (a timeline) are folded in ``<details>``, which GitHub renders
as a disclosure, so that a pull-request comment stays short.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from dbprobe.report.blocks import Block, Bullets, Cell, Heading, Lines, Preformatted, Table
from dbprobe.report.section_blocks import section_blocks
from dbprobe.report.section_views import SectionView

__all__ = [
    "format_block_markdown",
    "format_blocks_markdown",
    "format_section_views_markdown",
    "markdown_table",
]


def _cell(text: object) -> str:
    # A pipe would end the cell and a newline the row.
    return str(text).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def markdown_table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], *, right: Iterable[int] = ()
) -> str:
    """A pipe table; columns whose index is in ``right`` are right-aligned."""
    right = set(right)
    align = ["---:" if i in right else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(_cell(h) for h in headers) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _text(c: Cell) -> str:
    return f"`{c.text}`" if c.code else c.text


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _table(block: Table) -> str:
    body = markdown_table(
        block.headers,
        [[_text(c) for c in row] for row in block.rows],
        right=[i for i in range(len(block.headers)) if i not in block.left],
    )
    if block.caption:
        body += f"\n\n<sub>{block.caption}</sub>"
    if block.long:
        # A blank line after <summary> lets GitHub render the table inside.
        summary = f"<summary>{block.title}: {_rows(len(block.rows))}</summary>"
        return f"<details>{summary}\n\n{body}\n\n</details>"
    return f"*{block.title}*\n\n{body}" if block.title else body


def format_block_markdown(block: Block) -> str:
    if isinstance(block, Heading):
        return f"**{block.text}**"
    if isinstance(block, Lines):
        # Two trailing spaces: a line break within the paragraph.
        return "  \n".join(block.lines)
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Bullets):
        # A line break would end the list item.
        return block.title + "\n\n" + "\n".join(f"- {' '.join(i.split())}" for i in block.items)
    if isinstance(block, Preformatted):
        return f"{block.title}:\n\n```\n{block.text}\n```"
    raise TypeError(f"no Markdown layout for {type(block).__name__}")


def format_blocks_markdown(blocks: Iterable[Block | None]) -> list[str]:
    return [format_block_markdown(b) for b in blocks if b is not None]


def format_section_views_markdown(views: Iterable[SectionView]) -> list[str]:
    """The given sections as Markdown paragraphs, one after another."""
    return [p for view in views for p in format_blocks_markdown(section_blocks(view))]
