"""The command line: ``dbprobe`` and ``python -m dbprobe``.

This package is the only place that exits or writes to the terminal outside
the console report (exit statuses: :mod:`dbprobe.cli.status`). :func:`main`
parses with the light parser of :mod:`dbprobe.cli.parser`, then imports
:mod:`dbprobe.cli.commands`, which holds everything that needs SQLAlchemy,
rich and the drivers: ``dbprobe --help`` pays for none of them.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from dbprobe.cli.parser import ArgumentError, build_parser
from dbprobe.cli.printable import one_line
from dbprobe.cli.status import EXIT_USAGE

__all__ = ["build_parser", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``dbprobe`` and ``python -m dbprobe``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except ArgumentError as exc:
        print(f"dbprobe: error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    # Imported only now: the commands need SQLAlchemy, rich and the drivers.
    from dbprobe.cli.commands import run_command

    return run_command(args, argv)
