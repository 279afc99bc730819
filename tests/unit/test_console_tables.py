"""The console's operations table never cuts a number or a name, at any width (issue 19).

Every probe's report (the fixtures) is rendered at terminal widths and as
stdout that is not a terminal; every figure the table shows of each
operation, as its JSON states it, and every operation name must appear
whole: as a word of its own, never ended by rich's "…".
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from rich.console import Console

from dbprobe.cli.terminal import make_console
from dbprobe.report.console import format_operations, print_report
from tests.report_text import FIXTURES, fixture, fixture_json

NAMES = sorted(p.stem for p in FIXTURES.glob("*.json"))
_RULES = re.compile(r"[│┃┏┓┗┛━─┡┩╇┳┻╋┼┬┴├┤└┘┌┐╭╮╰╯]")


def _words(text: str) -> set[str]:
    return set(_RULES.sub(" ", text).split())


def _shown_figures(op: dict[str, Any]) -> list[str]:
    """What the table shows of one operation, written as the console writes it."""
    lat = op["latency_ms"]
    return [
        op["name"],
        str(op["count"]),
        str(op["errors"]),
        str(op["retries"]),
        *(f"{lat[k]:.2f}" for k in ("p50", "p90", "p95", "p99", "p999", "max")),
        f"{op['throughput_per_s']:.1f}",
        f"{op['queries']['per_op_mean']:.1f}",
    ]


def _at_width(name: str, width: int) -> str:
    console = Console(width=width, file=io.StringIO(), markup=False, emoji=False)
    print_report(fixture(name), console)
    return console.file.getvalue()  # type: ignore[attr-defined]


def _not_a_terminal(name: str, monkeypatch: pytest.MonkeyPatch) -> str:
    out = io.StringIO()  # isatty() is False, as for a pipe or a CI log
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.delenv("COLUMNS", raising=False)
    print_report(fixture(name), make_console())
    return out.getvalue()


def _missing(name: str, text: str) -> list[str]:
    words = _words(text)
    return [
        figure
        for op in fixture_json(name)["operations"]
        for figure in _shown_figures(op)
        if figure not in words
    ]


@pytest.mark.parametrize("width", [80, 100, 120, 200])
@pytest.mark.parametrize("name", NAMES)
def test_every_figure_and_name_of_the_operations_is_whole_at_any_width(
    name: str, width: int
) -> None:
    text = _at_width(name, width)

    assert _missing(name, text) == [], text
    assert "…" not in text, text
    assert max(len(line) for line in text.splitlines()) <= width


@pytest.mark.parametrize("name", NAMES)
def test_every_figure_and_name_is_whole_when_stdout_is_not_a_terminal(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _not_a_terminal(name, monkeypatch)

    assert _missing(name, text) == [], text
    assert "…" not in text


def test_stdout_that_is_not_a_terminal_is_as_wide_as_its_content(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = _not_a_terminal("uow", monkeypatch)
    header = next(line for line in text.splitlines() if "┃ transaction" in line)

    # One table with every column: nothing moved to a second table, nothing wrapped.
    assert text.count("┃ transaction ") == 1
    assert re.findall(r"[\w./]+(?: p50)?", header)[:8] == [
        "transaction", "count", "errors", "retries", "p50", "p90", "p95", "p99",
    ]  # fmt: skip
    assert text.splitlines()[0].endswith("isolation serializable")


def test_columns_sets_the_width_of_stdout_that_is_not_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "90")
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)

    print_report(fixture("uow"), make_console())

    assert max(len(line) for line in out.getvalue().splitlines()) <= 90


def test_at_80_columns_the_first_table_has_the_columns_read_first() -> None:
    first, second, *_ = format_operations(fixture("uow"), 80).renderables

    assert [c.header for c in first.columns] == [  # type: ignore[attr-defined]
        "transaction", "count", "errors", "p50", "p99", "tx/s", "stmts/tx",
    ]  # fmt: skip
    assert [c.header for c in second.columns][:2] == ["transaction", "retries"]  # type: ignore[attr-defined]


def test_a_total_row_closes_the_operations_table() -> None:
    data = fixture_json("uow")
    ops = data["operations"]
    text = _at_width("uow", 300)
    total = next(line for line in text.splitlines() if " total " in line)

    figures = _RULES.sub(" ", total).split()
    assert figures[:4] == [
        "total",
        str(sum(op["count"] for op in ops)),
        str(sum(op["errors"] for op in ops)),
        str(sum(op["retries"] for op in ops)),
    ]
    commits = sum(op["commits"] for op in ops)
    statements = sum(op["queries"]["per_op_mean"] * op["commits"] for op in ops)
    assert f"{statements / commits:.1f}" in figures
    assert f"{commits / data['load']['measured_s']:.1f}" in figures
