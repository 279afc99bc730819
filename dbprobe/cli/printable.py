"""User text made safe to print on a terminal: control characters shown, never obeyed (pure).

Scenario names, error messages, labels and file names come from users or
from files anyone can write. Printed raw, an ANSI escape in one of them
clears the screen, recolours the rest of the output or moves the cursor over
earlier lines; a bidi override reorders what the reader sees. Each such
character is shown as its escape (``\\x1b``) instead. Standard library only:
the parser's one-line errors use it before rich is imported.
"""

from __future__ import annotations

__all__ = ["one_line", "printable"]

# C0 controls but tab and newline, DEL, the C1 controls, and the bidi
# embeddings, overrides and isolates (Unicode TR9): the characters a terminal
# acts on or that change the order text is shown in.
_CONTROLS = [
    *(c for c in range(0x20) if c not in (0x09, 0x0A)),
    *range(0x7F, 0xA0),
    *range(0x202A, 0x202F),
    *range(0x2066, 0x206A),
]
_ESCAPES = {c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}" for c in _CONTROLS}
_ONE_LINE = _ESCAPES | {0x0A: "\\n"}


def printable(text: str) -> str:
    """``text`` with every control character replaced by its escape; newlines and tabs kept."""
    return text.translate(_ESCAPES)


def one_line(text: str) -> str:
    """``text`` as one printable line: newlines escaped too (an error is one line on stderr)."""
    return text.translate(_ONE_LINE)
