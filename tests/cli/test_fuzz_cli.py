"""The command line under generated input: never a traceback, one error line at most.

A seeded generator builds argument vectors for every command and every option
the parser declares (read from the parser itself, so a new option is fuzzed
the day it is added): accepted values that keep a run short, and hostile ones:
empty strings, huge numbers, inf and nan, negative numbers, unicode, terminal
escapes, rich markup, paths that are missing, directories or too long for the
system. Each vector runs in this process through :func:`dbprobe.cli.main`
(seconds instead of minutes of interpreter start-ups), with a data directory
of its own copied from one seeded template, and must end with exit status 0,
1, 2 or 130, no traceback, at most one error line, and within a bound.
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import time
import traceback
import warnings
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from dbprobe.cli import build_parser, main

SEED = 15
VECTORS = 220
#: Generous: the slowest accepted vector (isolation, a suite) takes about a second alone.
BOUND_S = 20.0

#: Accepted values that keep a run short, by option.
SAFE: dict[str, list[str]] = {
    "--scale": ["tiny"],
    "--seed": ["1", "0", "2"],
    "--connect-timeout": ["5", "0.5s"],
    "--threads": ["1", "2"],
    "--transactions": ["1", "2"],
    "--duration": ["0.2", "0.3s"],
    "--warmup": ["0", "0.05"],
    "--isolation": ["serializable"],
    "--retries": ["0", "2"],
    "--pool-size": ["1", "2"],
    "--slo": ["p95<100ms", "error_rate<50%", "p99<1s"],
    "--max-error-rate": ["100", "0.5%", "0"],
    "--n-plus-one-threshold": ["2", "1000"],
    "--rate": ["40", "20/s"],
    "--arrivals": ["uniform", "poisson"],
    "--profile": ["steady", "ramp:from=5"],
    "--latency-limit": ["100"],
    "--rounds": ["1", "3"],
    "--processes": ["1"],
    "--compare": ["main"],
    "--save-baseline": ["nightly"],
    "--label": ["nightly", "[/x] [bold]v1", "é名前 \x1b[31m"],
    "--metric": ["p50", "p99"],
    "--threshold": ["10%"],
    "--warn": ["20"],
    "--critical": ["50%"],
    "--threshold-for": ["read_program=5%"],
    "--mix": ["read_program=1", "create_program=1,read_program=2"],
    "--hot-set": ["3"],
    "--only": ["uow", "repo", "read_program"],
    "--via": ["core", "orm"],
    "--max-overflow": ["0", "1"],
    "--pool-timeout": ["0.5"],
    "--hold-ms": ["1", "0"],
    "--accounts": ["2", "4"],
    "--pattern": ["atomic", "naive"],
    "--lock-order": ["sorted"],
    "--level": ["deferred", "immediate"],
    "--test": ["G1a"],
    "--busy-timeout-ms": ["20"],
    "--lock-wait-limit": ["1"],
    "--window": ["2", "3"],
    "--step": ["10%"],
    "--backend": ["sqlite"],
    "--repo-transactions": ["1"],
    "--fail-on": ["critical", "error_rate"],
}

#: Values no option should take for granted.
HOSTILE = ["", " ", "-1", "0", "abc", "nan", "-inf", "1e-400", "é名前", "\x1b[2J\x1b[31m", "[/x]",
           "line\nbreak", "%", "0x10", "-", "1e5x", "\u202eevil", "..", "/"]  # fmt: skip
HUGE = ["99999999999999999999999", "inf", "1e309", "1e300", "18446744073709551616"]

#: Hostile paths and URLs for the outputs and the target: each must be refused in one
#: line before anything runs (or, for a device that fills up, after the run).
HOSTILE_PATHS = ["", " ", "/proc/nonexistent/x", "/dev/full", "/", "a" * 300, "\x1b[2J.json"]
HOSTILE_URLS = ["", " ", "sqlite+aiosqlite:////proc/nonexistent/x.db", "mysql://x@127.0.0.1/db",
                "postgresql+asyncpg://u:Zq9@x@127.0.0.1:1/db", "::", "postgresql://[::1"]  # fmt: skip
OUTPUTS = {"--json", "--markdown", "--html", "--export", "--history", "--out", "--db"}

#: Base arguments keeping each command short; the fuzzed options come after (the last wins).
BASE: dict[str, list[str]] = {
    "seed": ["--scale", "tiny"],
    "clean": [],
    "uow": ["--scale", "tiny", "--threads", "1", "--duration", "0.1", "--warmup", "0", "--rounds", "2"],
    "select": ["--scale", "tiny", "--threads", "1", "--duration", "0.1", "--warmup", "0", "--rounds", "2",
               "--via", "core"],
    "repo": ["--scale", "tiny", "--transactions", "1", "--rounds", "1"],
    "run": ["--scale", "tiny", "--threads", "1", "--duration", "0.1", "--warmup", "0", "--rounds", "2"],
    "deadlock": ["--scale", "tiny", "--threads", "2", "--duration", "0.1", "--rounds", "2"],
    "pool": ["--scale", "tiny", "--threads", "2", "--duration", "0.2", "--pool-size", "1",
             "--max-overflow", "0", "--hold-ms", "1", "--pool-timeout", "1"],
    "isolation": ["--test", "G1a", "--level", "deferred", "--busy-timeout-ms",
                  "20", "--lock-wait-limit", "1"],
    "suite": ["--scale", "tiny", "--threads", "1", "--duration", "0.1", "--warmup", "0",
              "--repo-transactions", "1", "--no-html", "--out", "{out}/suite"],
    "merge": [], "report": [], "compare": [], "history": [], "baseline": [],
}  # fmt: skip

SCENARIOS = """
import dbprobe


@dbprobe.scenario(weight=2)
async def fine(ctx):
    pass


@dbprobe.scenario(weight=1, name="[/x] \\x1b[31mfails")
async def fails(ctx):
    raise ValueError("no \\x1b[2J [bold]way")
"""


@dataclass(frozen=True)
class Outcome:
    status: int
    stdout: str
    stderr: str
    elapsed_s: float
    escaped: str | None  # an exception that escaped main(): the user's traceback


def run_in_process(argv: list[str]) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    escaped = None
    started = time.perf_counter()
    # pytest turns warnings into errors for the suite's own code; the CLI runs
    # with Python's default filters.
    with redirect_stdout(out), redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("default")
        try:
            status = main(argv)
        except SystemExit as exc:  # --help, or argparse's own exits
            status = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:
            escaped = "".join(traceback.format_exception(exc))
            status = 1
    return Outcome(status, out.getvalue(), err.getvalue(), time.perf_counter() - started, escaped)


@dataclass(frozen=True)
class Files:
    """Paths the vectors point at: a good report, broken ones, a directory, a scenario file."""

    root: Path
    good: Path
    scenarios: Path

    def report_paths(self) -> list[str]:
        r = self.root
        return [str(self.good), str(r / "empty.json"), str(r / "text.json"), str(r / "null.json"),
                str(r / "missing.json"), str(r), "a" * 300 + ".json", "\x1b[2J.json", ""]  # fmt: skip

    def scenario_sources(self) -> list[str]:
        r = self.root
        return [str(self.scenarios), f"{self.scenarios}:fine", str(r / "missing.py"), str(r),
                "a" * 300 + ".py", "no_such_module", "os:path", "", "\x1b[2J"]  # fmt: skip


def _commands() -> dict[str, argparse.ArgumentParser]:
    root = build_parser()
    (sub,) = [a for a in root._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if a.option_strings and a.nargs != 0 and a.dest != "help"]


def _flags(parser: argparse.ArgumentParser) -> list[str]:
    return [
        a.option_strings[0]
        for a in parser._actions
        if a.option_strings and a.nargs == 0 and a.dest != "help"
    ]


def _value(rng: random.Random, action: argparse.Action, out: Path, safe_share: float) -> list[str]:
    name = action.option_strings[0]
    if name in OUTPUTS:
        path = str(out / f"{name.strip('-')}-{rng.randrange(10**6)}")
        if name == "--db":
            choices, safe_value = HOSTILE_URLS, f"sqlite+aiosqlite:///{path}.sqlite3"
        else:
            choices, safe_value = HOSTILE_PATHS, path
        value = safe_value if rng.random() < safe_share else rng.choice(choices)
        if name == "--export":
            return [rng.choice(["github-action-benchmark", "pytest-benchmark", "bogus"]), value]
        return [value]
    # SAFE before the choices: --scale medium is a valid choice and a long seed.
    safe = SAFE.get(name) or [str(c) for c in action.choices or ()]
    hostile = HOSTILE + HUGE
    if safe and rng.random() < safe_share:
        return [rng.choice(safe)]
    return [rng.choice(hostile)]


def _positionals(rng: random.Random, command: str, files: Files) -> list[str]:
    hostile = rng.random() < 0.35
    reports = files.report_paths()
    pick = (lambda pool: rng.choice(pool)) if hostile else (lambda pool: pool[0])
    if command == "run":
        return [pick(files.scenario_sources())]
    if command == "report":
        return [pick(reports)]
    if command == "merge":
        return [pick(reports) for _ in range(rng.randint(1, 3))]
    if command == "compare":
        return [pick(["main", *reports]), pick(reports)]
    if command == "history":
        return [pick(["uow", *HOSTILE]), pick(["read_program", *HOSTILE])]
    if command == "baseline":
        action = rng.choice(["list", "show", "save", "delete", *HOSTILE[:3]])
        name = pick(["main", *HOSTILE, *HUGE])
        return {"list": [action], "save": [action, name, pick(reports)]}.get(action, [action, name])
    return []


def vectors(files: Files, out: Path) -> Iterator[list[str]]:
    rng = random.Random(SEED)
    commands = _commands()
    names = sorted(commands)
    for _ in range(VECTORS):
        command = rng.choice(names)
        parser = commands[command]
        base = [a.format(out=out) for a in BASE[command]]
        argv = [command, *_positionals(rng, command, files), *base]
        options = _options(parser)
        if command != "report":
            # An HTML page costs a second of matplotlib: `report` draws it for all.
            options = [a for a in options if a.option_strings[0] != "--html"]
        for action in rng.sample(options, k=min(len(options), rng.randint(1, 3))):
            safe_share = 0.05 if command == "suite" else 0.3  # a suite runs two probes
            argv += [action.option_strings[0], *_value(rng, action, out, safe_share)]
        flags = [f for f in _flags(parser) if f != "--list"]  # --list: a few vectors below
        if flags and rng.random() < 0.3:
            argv.append(rng.choice(flags))
        if rng.random() < 0.03:
            argv.append(rng.choice(["--help", "--bogus", "--list"]))
        yield argv


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Files]:
    """A data directory seeded at scale tiny, with a baseline ``main`` and a recorded run."""
    root = tmp_path_factory.mktemp("fuzz")
    data = root / "template"
    good = root / "good.json"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DBPROBE_DATA_DIR", str(data))
        mp.delenv("DBPROBE_HISTORY", raising=False)
        mp.delenv("DBPROBE_DB_URL", raising=False)
        outcome = run_in_process(
            [
                "uow",
                *BASE["uow"],
                "--save-baseline",
                "main",
                "--record",
                "--quiet",
                "--json",
                str(good),
            ]
        )
    assert outcome.status == 0, outcome.stderr
    outcome = run_in_process([])  # warms the imports of the usage path
    (root / "empty.json").write_text("")
    (root / "text.json").write_text("not json at all\n")
    (root / "null.json").write_text("null")
    scenarios = root / "scenarios.py"
    scenarios.write_text(SCENARIOS)
    return data, Files(root, good, scenarios)


def test_generated_argument_vectors_never_end_in_a_traceback(
    template: tuple[Path, Files], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data, files = template
    monkeypatch.delenv("DBPROBE_HISTORY", raising=False)
    monkeypatch.delenv("DBPROBE_DB_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    failures: list[str] = []
    statuses: dict[int, int] = {}
    for index, argv in enumerate(vectors(files, tmp_path / "out")):
        vector_data = tmp_path / f"data-{index}"
        shutil.copytree(data, vector_data)
        monkeypatch.setenv("DBPROBE_DATA_DIR", str(vector_data))
        outcome = run_in_process(argv)
        statuses[outcome.status] = statuses.get(outcome.status, 0) + 1
        lines = outcome.stderr.splitlines()
        # One line per output a full disk refused after the run (the others were
        # written): one error, told once per file, not several errors.
        errors = [line for line in lines if line.startswith("dbprobe: error")]
        if errors and all(" not written: " in line for line in errors):
            errors = errors[:1]
        problems = [
            f"exit {outcome.status}" if outcome.status not in (0, 1, 2, 130) else "",
            f"escaped:\n{outcome.escaped}" if outcome.escaped else "",
            "Traceback on stderr" if "Traceback" in outcome.stderr else "",
            f"{len(errors)} error lines" if len(errors) > 1 else "",
            "exit 2 without its one error line"
            if outcome.status == 2 and len(errors) != 1 and "--help" not in argv
            else "",
            f"took {outcome.elapsed_s:.1f} s" if outcome.elapsed_s > BOUND_S else "",
        ]
        if any(problems):
            shown = "; ".join(p for p in problems if p)
            failures.append(f"#{index} {argv!r}: {shown}\nstderr: {outcome.stderr[-2000:]}")
        shutil.rmtree(vector_data, ignore_errors=True)
    assert not failures, f"{len(failures)} of {VECTORS} vectors failed:\n" + "\n".join(failures)
    # The table reaches past the parser: runs that measured, and runs that were refused.
    assert statuses.get(2, 0) > VECTORS // 3, statuses
    assert statuses.get(0, 0) + statuses.get(1, 0) >= 20, statuses
