"""The command line's regression gate: ``--compare`` and friends, and its own commands.

The commands are baseline, compare, report and history.

``--compare``, ``--save-baseline``, ``--record`` and the report files are
options of every load probe (:func:`add_gate_options`); the gate's own
subcommands are added by :func:`add_gate_commands`.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from dbprobe.cli.option_types import fraction, int_between, output_path
from dbprobe.result.limits import MAX_COUNT
from dbprobe.result.options import SCALE_NAMES

__all__ = [
    "EXPORT_KINDS",
    "METRICS",
    "REGRESSION_LEVELS",
    "add_comparison_options",
    "add_gate_commands",
    "add_gate_options",
    "add_report_files",
]


REGRESSION_LEVELS = ("minor", "warning", "critical")


METRICS = ("p50", "p95", "p99", "throughput")


EXPORT_KINDS = ("pytest-benchmark", "github-action-benchmark")


def add_history_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--history",
        type=output_path,
        metavar="PATH",
        help="the baseline and history store (default $DBPROBE_HISTORY, else history.sqlite3 "
        "in dbprobe's data directory)",
    )


def add_comparison_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--metric", choices=METRICS, default="p50", help="what to compare (default p50)")
    p.add_argument(
        "--threshold", type=fraction, metavar="PCT", help="a minor regression from (default 10%%)"
    )
    p.add_argument("--warn", type=fraction, metavar="PCT", help="a warning from (default 20%%)")
    p.add_argument("--critical", type=fraction, metavar="PCT", help="critical from (default 50%%)")
    p.add_argument(
        "--threshold-for",
        action="append",
        default=[],
        metavar="OP=PCT[/WARN/CRIT]",
        help="thresholds of one operation, e.g. read_program=25%% (repeatable)",
    )
    p.add_argument(
        "--allow-mismatch",
        action="store_true",
        help="compare runs of different probes, scales or backends anyway",
    )
    add_history_option(p)


def add_report_files(p: argparse.ArgumentParser) -> None:
    p.add_argument("--markdown", type=output_path, metavar="PATH", help="write a Markdown report")
    p.add_argument(
        "--html",
        type=output_path,
        metavar="PATH",
        help="write one self-contained HTML report (needs the html extra: matplotlib)",
    )
    p.add_argument(
        "--export",
        nargs=2,
        action="append",
        metavar=("KIND", "PATH"),
        help=f"write the result for a CI tool: KIND is {' or '.join(EXPORT_KINDS)}",
    )


def add_gate_options(p: argparse.ArgumentParser) -> None:
    """Baseline, comparison and report-file options every load probe takes."""
    p.add_argument(
        "--compare",
        metavar="BASELINE",
        help="compare with a saved baseline (a name, or a report file); a regression at or "
        "above --fail-on minor|warning|critical (default minor) exits 1",
    )
    p.add_argument("--save-baseline", metavar="NAME", help="save this run as baseline NAME")
    p.add_argument(
        "--record", action="store_true", help="record this run in the history (dbprobe history)"
    )
    p.add_argument("--label", metavar="TEXT", help="a label for the recorded run, e.g. a commit")
    add_comparison_options(p)
    add_report_files(p)


def add_gate_commands(sub: Any) -> None:
    p = sub.add_parser("baseline", help="list, show, save or delete saved baselines")
    # Its own subcommands raise as the parser that made it does (one line, exit 2).
    actions = p.add_subparsers(dest="action", metavar="ACTION", parser_class=type(p))
    actions.required = True
    p_list = actions.add_parser("list", help="the saved baselines")
    add_history_option(p_list)
    p_show = actions.add_parser("show", help="one baseline's report")
    p_show.add_argument("name", help="the baseline's name")
    p_show.add_argument("--markdown", action="store_true", help="as Markdown")
    add_history_option(p_show)
    p_save = actions.add_parser("save", help="save a report file as a baseline")
    p_save.add_argument("name", help="the name to save it under")
    p_save.add_argument("report", type=Path, help="a report file written with --json")
    add_history_option(p_save)
    p_delete = actions.add_parser("delete", help="delete a baseline")
    p_delete.add_argument("name", help="the baseline's name")
    add_history_option(p_delete)

    p = sub.add_parser(
        "compare",
        help="compare two runs (baseline names or report files): significant regressions exit 1",
    )
    p.add_argument("baseline", help="the baseline: a saved name or a report file")
    p.add_argument("current", help="the run to judge: a saved name or a report file")
    p.add_argument(
        "--fail-on",
        choices=REGRESSION_LEVELS,
        action="append",
        default=[],
        help="exit 1 on a regression at or above this severity (default minor)",
    )
    p.add_argument(
        "--absolute",
        action="store_true",
        help="judge the raw figures even when the machine's CPU reference moved",
    )
    add_comparison_options(p)
    add_report_files(p)

    p = sub.add_parser("report", help="render a saved result as Markdown, HTML or CI exports")
    p.add_argument("result", type=Path, help="a report file written with --json")
    p.add_argument("--compare", metavar="BASELINE", help="add the comparison with a baseline")
    p.add_argument("--trend", action="store_true", help="add each operation's recorded history")
    add_comparison_options(p)
    add_report_files(p)

    p = sub.add_parser("history", help="an operation's recorded figure over time, step changes")
    p.add_argument("probe", help="the probe of the recorded runs, e.g. uow")
    p.add_argument("operation", help="the operation to follow, e.g. read_program")
    p.add_argument(
        "--metric", choices=METRICS, default="p50", help="the figure to follow (default p50)"
    )
    p.add_argument(
        "--backend",
        choices=("sqlite", "postgresql"),
        help="only runs against this backend (default: all)",
    )
    p.add_argument("--scale", choices=SCALE_NAMES, help="only runs at this scale (default: all)")
    p.add_argument(
        "--window",
        type=int_between(2, MAX_COUNT),
        default=5,
        metavar="N",
        help="runs on each side of a step that the step is tested on (default 5)",
    )
    p.add_argument(
        "--step",
        type=fraction,
        default=0.10,
        metavar="PCT",
        help="the smallest change of the median that is a step (default 10%%)",
    )
    add_history_option(p)
