"""The command line's parser: pgbench's short flags, durations with units, help that says it all.

Parsed in-process with :func:`dbprobe.cli.main` and :func:`build_parser`: no database is
touched, so these cases are exact and fast.
"""

from __future__ import annotations

import argparse
import io
from contextlib import redirect_stderr, redirect_stdout
from importlib.metadata import version

import pytest

from dbprobe.cli import build_parser, main

LOAD_PROBES = ("uow", "repo", "select", "deadlock")


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            status = main(argv)
        except SystemExit as exc:
            status = exc.code if isinstance(exc.code, int) else 1
    return status, out.getvalue(), err.getvalue()


def _parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


@pytest.mark.parametrize("probe", LOAD_PROBES)
def test_pgbench_short_flags_mean_what_they_mean_in_pgbench(probe: str) -> None:
    args = _parse([probe, "-c", "4", "-T", "3", "-R", "50", "-L", "20", "-P", "2"])

    assert (args.threads, args.duration, args.rate, args.latency_limit, args.progress) == (
        4,
        3.0,
        50.0,
        20.0,
        2.0,
    )
    assert _parse([probe, "-t", "7"]).transactions == 7


def test_pool_and_suite_take_the_short_forms_of_their_threads_and_duration() -> None:
    pool = _parse(["pool", "-c", "3", "-T", "2"])
    suite = _parse(["suite", "--out", "x", "-c", "3", "-T", "2"])

    assert (pool.threads, pool.duration, suite.threads, suite.duration) == (3, 2.0, 3, 2.0)


def test_version_prints_the_installed_version() -> None:
    status, out, _ = _run(["--version"])

    assert status == 0
    assert out.strip() == f"dbprobe {version('dbprobe')}"


@pytest.mark.parametrize(
    "argv",
    [
        ["uow", "--thread", "4"],
        ["uow", "--dur", "4"],
        ["pool", "--pool-s", "4"],
        ["baseline", "list", "--hist", "x"],
    ],
)
def test_an_abbreviated_long_option_is_refused_in_one_line(argv: list[str]) -> None:
    status, out, err = _run(argv)

    assert status == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("dbprobe: error: ")
    assert "unrecognized arguments" in err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["uow"], "dbprobe: error: the following arguments are required: COMMAND"),
        (["uow", "--threads", "x"], "dbprobe: error: uow: argument -c/--threads: "),
        (["deadlock", "--accounts", "1"], "dbprobe: error: deadlock: argument --accounts: "),
        (["baseline", "show"], "dbprobe: error: baseline show: the following arguments"),
    ],
)
def test_an_error_names_dbprobe_once(argv: list[str], expected: str) -> None:
    argv = argv[1:] if argv == ["uow"] else argv  # no command at all
    status, _, err = _run(argv)

    assert status == 2
    assert err.startswith(expected), err
    assert err.count("dbprobe") == 1, err


@pytest.mark.parametrize(
    ("option", "text", "value"),
    [
        ("--duration", "500ms", 0.5),
        ("--duration", "2s", 2.0),
        ("--duration", "1m", 60.0),
        ("--duration", "3h", 10800.0),
        ("--duration", "2.5", 2.5),  # seconds, as before
        ("--warmup", "0", 0.0),
        ("--grace", "1m", 60.0),
        ("--connect-timeout", "250ms", 0.25),
        ("--latency-limit", "20", 20.0),  # milliseconds, as before
        ("--latency-limit", "2s", 2000.0),
        ("--latency-limit", "1.5ms", 1.5),
        ("--progress", "1m", 60.0),
    ],
)
def test_a_duration_takes_a_unit_and_a_plain_number_keeps_the_options_unit(
    option: str, text: str, value: float
) -> None:
    args = _parse(["uow", option, text])

    assert getattr(args, option[2:].replace("-", "_")) == value


@pytest.mark.parametrize(
    ("argv", "dest", "value"),
    [
        (["pool", "--hold", "1s"], "hold_ms", 1000),
        (["pool", "--hold", "250"], "hold_ms", 250),
        (["pool", "--hold-ms", "250ms"], "hold_ms", 250),  # the older name still works
        (["isolation", "--busy-timeout", "1.5s"], "busy_timeout_ms", 1500),
        (["pool", "--pool-timeout", "2m"], "pool_timeout", 120.0),
        (["isolation", "--busy-timeout-ms", "2s"], "busy_timeout_ms", 2000),
        (["isolation", "--lock-wait-limit", "500ms"], "lock_wait_limit", 0.5),
        (["run", "x.py", "--hook-timeout", "1m"], "hook_timeout", 60.0),
        (["suite", "--out", "x", "--warmup", "1500ms"], "warmup", 1.5),
    ],
)
def test_every_duration_option_takes_units(argv: list[str], dest: str, value: float) -> None:
    assert getattr(_parse(argv), dest) == value


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["uow", "--duration", "31d"], "argument -T/--duration: expected seconds"),
        (["uow", "--duration", "721h"], "must be 2,592,000 seconds (30 days) or less, got 721h"),
        (["uow", "--latency-limit", "2h"], "must be 3,600,000 milliseconds (an hour) or less"),
        (["pool", "--hold-ms", "61m"], "must be 3,600,000 milliseconds (an hour) or less"),
        (["pool", "--hold-ms", "0.5ms"], "a whole number of milliseconds"),
        (["uow", "--duration=-1s"], "must be positive, got -1s"),
        (["uow", "--duration", "ms"], "expected seconds"),
    ],
)
def test_a_duration_beyond_its_limit_or_malformed_is_one_line(
    argv: list[str], expected: str
) -> None:
    status, _, err = _run(argv)

    assert status == 2
    assert err.count("\n") == 1
    assert expected in err, err


def _help(command: str) -> str:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[command].format_help()


def _options_without_help(command: str) -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return [
        "/".join(action.option_strings) or action.dest
        for action in sub.choices[command]._actions
        if not action.help and not isinstance(action, argparse._SubParsersAction)
    ]


COMMANDS = (
    "seed", "uow", "repo", "select", "run", "merge", "pool", "deadlock", "isolation",
    "compare", "report", "history", "suite", "clean", "baseline",
)  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS)
def test_help_describes_every_option(command: str) -> None:
    assert _options_without_help(command) == []


def test_repo_help_says_what_its_duration_defaults_to() -> None:
    text = " ".join(_help("repo").split())

    assert "(seconds)" not in text
    assert "default: 20 transactions per worker" in text


@pytest.mark.parametrize(
    ("command", "absent"),
    [
        ("clean", ("--scale", "--seed", "--force")),
        ("isolation", ("--scale", "--seed", "--force")),
        ("select", ("--n-plus-one-threshold",)),
        ("deadlock", ("--n-plus-one-threshold",)),
    ],
)
def test_options_a_command_ignores_are_not_offered(command: str, absent: tuple[str, ...]) -> None:
    text = _help(command)

    assert [option for option in absent if option in text] == []
    status, _, err = _run([command, absent[0], "1"])
    assert status == 2
    assert "unrecognized arguments" in err


@pytest.mark.parametrize(
    ("command", "default", "reason"),
    [
        ("uow", "default 10", "concurrent transactions"),
        ("repo", "default 1", "one query at a time"),
        ("pool", "default 20", "above"),
        ("deadlock", "default 8", "contend"),
    ],
)
def test_help_shows_each_probes_threads_default_and_why(
    command: str, default: str, reason: str
) -> None:
    text = " ".join(_help(command).split())
    start = text.index("-c N, --threads N") + len("-c N, --threads N")
    threads = text[start:].split(" -", 1)[0]

    assert default in threads
    assert reason in threads
