"""print_report on any rich Console, markup on or off: user text prints as written."""

from __future__ import annotations

from tests.report_text import console_text
from tests.synthetic import report


def test_an_operation_named_like_markup_prints_as_written() -> None:
    # console_text prints on a Console with rich's default: markup on.
    text = console_text(report({"[/x] [bold]checkout": [1.0, 2.0, 3.0]}))
    assert "[/x] [bold]checkout" in text
