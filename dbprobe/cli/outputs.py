"""What a command writes after its run, each output on its own.

The files the command line asks for (:func:`requested_files`) and the
history store (:func:`history_store`) are checked before the run by
:mod:`dbprobe.cli.preflight`. After it, :class:`Outputs` writes each output
on its own: one that still fails (the disk filled up during the run) becomes
one line on stderr, and the others are still written and the console report
still printed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from dbprobe.errors import DbprobeError
from dbprobe.gate.store import HistoryStore

__all__ = [
    "OutputFailure",
    "OutputFile",
    "Outputs",
    "exports",
    "history_store",
    "requested_files",
]

T = TypeVar("T")


@dataclass(frozen=True)
class OutputFile:
    """One file the command line asks for: the option that named it, and where."""

    option: str
    path: Path


def requested_files(args: argparse.Namespace) -> tuple[OutputFile, ...]:
    """``--json``, ``--markdown``, ``--html`` and each ``--export``, as given."""
    files = [
        OutputFile(f"--{name}", path)
        for name in ("json", "markdown", "html")
        if isinstance(path := getattr(args, name, None), Path)
    ]
    files += [OutputFile(f"--export {kind}", Path(path)) for kind, path in exports(args)]
    return tuple(files)


def exports(args: argparse.Namespace) -> list[tuple[str, str]]:
    return list(getattr(args, "export", None) or ())


def history_store(args: argparse.Namespace) -> HistoryStore:
    """The store ``--history`` names, else the default one."""
    return HistoryStore(args.history) if getattr(args, "history", None) else HistoryStore()


@dataclass(frozen=True)
class OutputFailure:
    """An output that could not be written after the run, and why."""

    output: str
    reason: str
    outcome: str = "not written"

    def line(self) -> str:
        return f"dbprobe: error: {self.output} {self.outcome}: {self.reason}"


@dataclass
class Outputs:
    """Writes a run's outputs one by one, keeping each failure instead of stopping at it."""

    failures: list[OutputFailure] = field(default_factory=list)

    def attempt(
        self, output: str, write: Callable[[], T], *, outcome: str = "not written"
    ) -> T | None:
        """``write()``; an OSError or a DbprobeError is kept as a failure of ``output``.

        ``outcome`` says in the failure's line what did not happen.
        """
        try:
            return write()
        except OSError as exc:
            reason = exc.strerror or str(exc)
        except DbprobeError as exc:
            reason = str(exc)
        self.failures.append(OutputFailure(output, reason, outcome))
        return None

    def write_file(self, file: OutputFile, write: Callable[[Path], object]) -> bool:
        """Whether ``file`` was written (else its failure is kept)."""
        failures = len(self.failures)
        self.attempt(f"{file.option} {file.path}", lambda: write(file.path))
        return len(self.failures) == failures
