"""Reports in their three formats, flattened to words, and the figures each section must show.

Shared by the tests of the report renderers (``tests/unit/test_report_sections*.py``).
Each format is flattened to its words (table rules, pipes, tags and
backquotes removed, whitespace collapsed), so that one expected phrase, e.g.
a table row ``checkout wait 61 214.53 ...``, is looked for in all three. The
expected phrases are built from a section's JSON, so that a test states which
figures a section shows and how they are written, not copies of them.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console

from dbprobe.report.console import print_report
from dbprobe.report.html import render_html
from dbprobe.report.markdown import format_markdown
from dbprobe.result.jsonio import read_report
from dbprobe.result.model import Report

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "reports"
PNG = b"\x89PNG\r\n\x1a\n"
_RULES = re.compile(r"[│┃┏┓┗┛━─┡┩╇┳┻╋┼┬┴├┤└┘┌┐╭╮╰╯]")


# --------------------------------------------------------------------------- the three formats


def console_text(report: Report) -> str:
    console = Console(record=True, width=300, file=io.StringIO())
    print_report(report, console)
    return console.export_text()


def flat_console(report: Report) -> str:
    return " ".join(_RULES.sub(" ", console_text(report)).split())


def flat_markdown(report: Report) -> str:
    text = format_markdown(report).replace("\\|", "¦").replace("|", " ").replace("¦", "|")
    return " ".join(text.replace("`", "").replace("**", "").split())


def flat_html(report: Report) -> str:
    text = re.sub(r"<[^>]+>", " ", page(report))
    return " ".join(html.unescape(text).split())


_PAGES: dict[int, tuple[Report, str]] = {}


def page(report: Report) -> str:
    # Drawing the plots takes a while: each report's page is rendered once.
    # The report is kept with its page, so that its id is not reused.
    cached = _PAGES.get(id(report))
    if cached is None or cached[0] is not report:
        cached = _PAGES[id(report)] = (report, render_html(report))
    return cached[1]


FORMATS: dict[str, Callable[[Report], str]] = {
    "console": flat_console,
    "markdown": flat_markdown,
    "html": flat_html,
}
#: Digits of latencies in the operations table of each format.
DIGITS = {"console": 2, "markdown": 3, "html": 3}


def assert_shows(report: Report, expected: list[str], fmt: str) -> None:
    """Every phrase of ``expected`` is in ``report`` rendered as ``fmt``."""
    flat = FORMATS[fmt](report)
    missing = [p for p in expected if " ".join(p.split()) not in flat]
    assert not missing, f"{fmt} lacks {missing}:\n{flat}"


def images(html_page: str) -> dict[str, bytes]:
    """The page's inline PNGs by their alt text."""
    return {
        alt: base64.b64decode(data)
        for data, alt in re.findall(
            r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)">', html_page
        )
    }


_REPORTS: dict[str, Report] = {}


def fixture(name: str) -> Report:
    if name not in _REPORTS:
        _REPORTS[name] = read_report(FIXTURES / f"{name}.json")
    return _REPORTS[name]


def fixture_json(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))  # type: ignore[no-any-return]


# --------------------------------------------------------------------------- expected figures
# Built from the JSON each report file holds, so that the test states which
# figures a section shows and how they are written, not copies of them.


def _pool_phrases(data: Mapping[str, Any]) -> list[str]:
    keys = ("p50", "p90", "p95", "p99", "p999", "max", "mean")
    phrases = [
        f"{label} {data[key]['count']} " + " ".join(f"{data[key][k]:.2f}" for k in keys)
        for label, key in (
            ("checkout wait", "checkout_wait_ms"),
            ("hold", "hold_ms"),
            ("statement", "statement_ms"),
        )
    ]
    connections = data["pool_size"] + data["max_overflow"]
    attempts = data["checkouts"] + data["timeouts"]
    phrases += [
        f"size {data['pool_size']} + overflow {data['max_overflow']} = {connections} connections",
        f"{data['timeouts']} of {attempts} checkouts timed out",
        f"peak checked out {data['peak_checked_out']} of {connections}",
        f"overflow used {data['overflow_used']}",
        f"measured {data['measured_per_s']:.1f}/s",
    ]
    phrases += [
        f"{r['second']} {r['demand']} {r['checked_out']} {r['waiting']} {r['timeouts']}"
        for r in data["timeline"]
    ]
    phrases += [
        f"{h['location']} {h['checkouts']} {h['held_ms_total']:.0f} {h['held_ms_max']:.0f}"
        for h in data["holders"]
    ]
    return phrases


def _deadlock_phrases(data: Mapping[str, Any]) -> list[str]:
    lat = data["latency_ms"]
    finished = data["transfers"] + data["give_ups"]
    attempts = ", ".join(f"{k}: {n}" for k, n in data["commits_by_attempt"].items())
    phrases = [
        f"pattern {data['pattern']}, lock order {data['lock_order']}, "
        f"isolation {data['isolation']}, {data['accounts']} accounts",
        f"committed transfers {data['transfers']} of {finished}",
        f"deadlocks (40P01) {data['deadlocks']} ({data['deadlock_rate']:.3f} per transfer)",
        f"retries / give-ups {data['retries']} / {data['give_ups']}",
        f"committed on attempt {attempts}",
        f"latency p50 / p99 / max {lat['p50']:.2f} / {lat['p99']:.2f} / {lat['max']:.2f} ms",
    ]
    inv = data["invariant"]
    if inv["holds"]:
        phrases.append(
            f"ledger invariant holds: {inv['transfers_checked']} transfers, sum {inv['sum_after']}"
        )
    else:
        phrases.append(
            f"ledger invariant VIOLATED: {inv['accounts_mismatched']} accounts off by "
            f"{inv['amount_lost_cents']} cents; sum {inv['sum_before']} -> {inv['sum_after']}"
        )
        phrases += [
            f"{m['account_id']} {m['before_cents']} {m['expected_cents']} {m['actual_cents']} "
            f"{m['difference_cents']:+d}"
            for m in inv["mismatches"]
        ]
    if data["deadlock_details"]:
        phrases.append(data["deadlock_details"][0].splitlines()[0])
    return phrases


def _isolation_phrases(data: Mapping[str, Any]) -> list[str]:
    levels = [lv["name"] for lv in data["levels"]]
    phrases = ["test anomaly " + " ".join(levels)]
    for test in data["tests"]:
        cells = []
        for level in levels:
            cell = data["matrix"][level][test["name"]]
            cell = "error" if cell.startswith("error") else cell
            how = data["prevented_by"][level].get(test["name"])
            cells.append(f"{cell} ({how})" if how else cell)
        phrases.append(f"{test['name']} {test['title']} " + " ".join(cells))
    phrases += [f"{lv['name']}: {lv['description']}" for lv in data["levels"]]
    return phrases


def _select_phrases(data: Mapping[str, Any]) -> list[str]:
    return [f"ids drawn from {data['accounts']} accounts"] + [
        f"{f['layer']} {f['throughput_per_s']:.1f} {f['p50_ms']:.3f} {f['mean_ms']:.3f} "
        f"{f['statements_per_op']:.1f} {f['relative_throughput']:.1%} "
        f"+{f['added_us_per_select']:,.0f} µs"
        for f in data["layers"]
    ]


def _timeline_phrases(data: Mapping[str, Any]) -> list[str]:
    (point, *_rest) = data["points"]
    # Seconds are whole for intervals of a second or more (a repo run's phases are shorter).
    digits = 0 if point["interval_s"] >= 1 else 2
    row = (
        f"{point['t_s']:.{digits}f} {point['throughput_per_s']:.1f} {point['p50_ms']:.2f} "
        f"{point['p99_ms']:.2f} {point['errors']} {point['in_flight_max']}"
    )
    if "target_rate_per_s" in point:
        row += (
            f" {point['target_rate_per_s']:.1f} {point['lag_max_ms']:.1f} {point['late']} "
            f"{point['skipped']}"
        )
    return [row]


def _load_phrases(data: Mapping[str, Any]) -> list[str]:
    phrases = [f"measured {data['measured_s']:.1f} s"]
    g = data["generator"]
    if g.get("loop_lag_samples"):
        phrases.append(f"event-loop lag p50 {g['loop_lag_p50_ms']:.1f} / p99")
    if data["mode"] == "open":
        phrases.append(f"open loop: {data['arrivals']} arrivals at {data['rate_per_s']:g}/s")
        phrases.append(f"wake-up lag p99 {g['wakeup_lag_p99_ms']:.1f} ms")
    else:
        phrases.append("closed loop")
    if data["processes"] > 1:
        phrases.append(f"{data['processes']} processes")
    return phrases


def _merge_phrases(data: Mapping[str, Any]) -> list[str]:
    phrases = [
        f"merged {len(data['reports'])} reports, measured together for "
        f"{data['common_window_s']:.1f} s"
    ]
    for part in data["reports"]:
        started = dt.datetime.fromisoformat(part["started_at"]).isoformat(timespec="seconds")
        ops = ", ".join(f"{name} {n}" for name, n in part["operations"].items())
        phrases.append(f"{part['host']} {started} {part['measured_s']:.1f} {ops}")
    return phrases


SECTION_PHRASES: dict[str, Callable[[Mapping[str, Any]], list[str]]] = {
    "pool": _pool_phrases,
    "deadlock": _deadlock_phrases,
    "isolation": _isolation_phrases,
    "select": _select_phrases,
    "timeline": _timeline_phrases,
    "load": _load_phrases,
    "merge": _merge_phrases,
}


def phrases(report: Report) -> list[str]:
    """The key figures of every section ``report`` carries, as its JSON states them."""
    phrases: list[str] = []
    for section in report.sections:
        phrases += SECTION_PHRASES[section.name](section.to_json())
    return phrases
