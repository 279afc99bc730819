"""The consoles the CLI prints on: no markup, and no control character from user text obeyed.

Everything dbprobe prints is its own text or the user's (scenario and
operation names, labels, error messages, paths): none of it is rich markup,
so markup is off, and a label such as ``[/x]`` prints as written instead of
failing with a MarkupError. Control characters in user text are shown as
escapes (:mod:`dbprobe.cli.printable`) at the last step, when rich turns
segments into the characters it writes: every table cell, finding and block
is covered, while rich's own styles and cursor movements (the progress
display) still work.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

from rich.console import Console
from rich.segment import Segment

from dbprobe.cli.printable import printable

__all__ = ["CONTENT_WIDTH", "make_console"]


class _SafeConsole(Console):
    # Console._render_buffer is the one place rich joins segments into output
    # (print, the progress display and capture all go through it): the text of
    # a segment is content, its style and control codes are rich's own.
    def _render_buffer(self, buffer: Iterable[Segment]) -> str:
        return super()._render_buffer(
            segment if segment.control else Segment(printable(segment.text), segment.style)
            for segment in buffer
        )


#: The width of a stdout that is not a terminal and has no $COLUMNS: wider than any
#: line dbprobe prints, so that each line is as wide as its content. A fixed width
#: (it was 160) cut or wrapped wide tables and long findings in a CI log.
CONTENT_WIDTH = 10_000


def _columns() -> int | None:
    """``$COLUMNS``, if it is a positive whole number (a shell sets it for its terminal)."""
    text = os.environ.get("COLUMNS", "")
    return int(text) if text.isdigit() and int(text) > 0 else None


def make_console(*, stderr: bool = False) -> Console:
    """The console for stdout (or stderr).

    On a terminal rich takes the terminal's width. Written to a file or a CI
    log, stdout is as wide as what it prints (or ``$COLUMNS``, when set),
    instead of rich's 80-column default for non-terminals.
    """
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or stderr else (_columns() or CONTENT_WIDTH)
    return _SafeConsole(stderr=stderr, width=width, markup=False, emoji=False)
