"""User text shown on a terminal: control characters escaped, everything else as written."""

from __future__ import annotations

import pytest

from dbprobe.cli.printable import one_line, printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),
        (
            "bell\x07 back\x08 cr\r nul\x00 del\x7f csi\x9b",
            "bell\\x07 back\\x08 cr\\x0d nul\\x00 del\\x7f csi\\x9b",
        ),
        ("rtl\u202eevil\u2066iso", "rtl\\u202eevil\\u2066iso"),
        ("[/x] [bold]é 名前 \U0001f600\ttab\nline", "[/x] [bold]é 名前 \U0001f600\ttab\nline"),
    ],
)
def test_control_characters_are_escaped_and_the_rest_kept(text: str, shown: str) -> None:
    assert printable(text) == shown


def test_one_line_escapes_newlines_too() -> None:
    assert one_line("first\nsecond\x1b") == "first\\nsecond\\x1b"
