"""Everything a command will write or read after its run, checked before it starts.

:func:`preflight` tries every file and directory the command line names
(``--json``, ``--markdown``, ``--html``, ``--export``, ``--out``, the history
store of ``--record`` / ``--save-baseline``), the baseline name, the baseline
``--compare`` reads and the operations ``--slo`` names. A mistake is one line
and exit status 2 before any connection is opened, instead of a traceback
after the measurement, which it would throw away.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence
from pathlib import Path

from dbprobe.cli.gate_parser import EXPORT_KINDS
from dbprobe.cli.outputs import OutputFile, exports, history_store, requested_files
from dbprobe.database.url import Target
from dbprobe.errors import ConfigError, OutputFileError
from dbprobe.gate.decide import load_baseline
from dbprobe.gate.slo import check_slo_scopes
from dbprobe.gate.store import HistoryStore, check_baseline_name
from dbprobe.result.files import unusable_directory_reason, unwritable_reason

__all__ = ["check_outputs", "preflight"]


def _uow_operations(args: argparse.Namespace) -> tuple[str, ...]:
    from dbprobe.probes import uow

    mix = args.mix or uow.DEFAULT_MIX
    return tuple(name for name in uow.OPERATION_NAMES if mix.get(name, 0) > 0)


def _repo_operations(args: argparse.Namespace) -> tuple[str, ...]:
    from dbprobe.probes.repo.catalogue import RepoWorld, catalogue, select_entries

    entries = catalogue(RepoWorld.dense(1, 1, 1, 1, 1))
    return tuple(entry.name for entry in select_entries(entries, args.only))


def _select_operations(args: argparse.Namespace) -> tuple[str, ...]:
    from dbprobe.probes.select.probe import Via

    return tuple(layer.value for layer in Via(args.via).layers)


def _scenario_operations(args: argparse.Namespace) -> tuple[str, ...]:
    from dbprobe.probes.scenarios.declare import load_scenarios

    return tuple(s.name for s in load_scenarios(args.scenarios).select(args.only))


def _check_scenarios_scale(args: argparse.Namespace) -> None:
    from dbprobe.probes.scenarios.declare import load_scenarios

    if not load_scenarios(args.scenarios).scaled:
        raise ConfigError(
            f"--scales sizes the data your scenarios read: {args.scenarios} must set "
            "REFERENCE_DOMAIN = True, or define async def scale_data(engine, scale)"
        )


def _pool_operations(args: argparse.Namespace) -> tuple[str, ...]:
    from dbprobe.probes.pool.probe import OPERATION

    return (OPERATION,)


#: The operations a probe will measure, known before it runs: an ``--slo``
#: scoped to another name is refused before the load, not after it.
_PLANNED_OPERATIONS: dict[str, Callable[[argparse.Namespace], tuple[str, ...]]] = {
    "uow": _uow_operations,
    "repo": _repo_operations,
    "select": _select_operations,
    "run": _scenario_operations,
    "pool": _pool_operations,
}

#: Commands that write nothing of a run's (they read, or write the store themselves).
_WRITE_NOTHING = frozenset({"baseline", "history", "seed", "clean"})


def preflight(args: argparse.Namespace, target: Target | None) -> None:
    """Everything the command will write or read after its run, checked before it starts."""
    if args.command in _WRITE_NOTHING:
        return
    planned = _PLANNED_OPERATIONS.get(args.command)
    scoped = any(check.operation is not None for check in getattr(args, "slo", ()))
    suite_probes = None
    if args.command == "suite":
        from dbprobe.suite import SUITE_PROBES

        suite_probes = tuple(args.only) or tuple(p.name for p in SUITE_PROBES)
    if args.command == "run" and getattr(args, "scales", None):
        _check_scenarios_scale(args)
    check_outputs(
        args,
        operations=planned(args) if planned is not None and scoped else None,
        suite_probes=suite_probes,
        target_file=target.sqlite_path if target is not None else None,
    )


def check_outputs(
    args: argparse.Namespace,
    *,
    operations: Sequence[str] | None = None,
    suite_probes: Sequence[str] | None = None,
    target_file: Path | None = None,
) -> None:
    """Raise a UsageError for anything the command could not write or read after its run.

    ``operations`` are those the run will measure (``--slo`` scopes must name
    one; None: not known before the run), ``suite_probes`` the probes of a
    suite (its baselines are ``NAME/<probe>``), ``target_file`` the SQLite
    file measured (no output may overwrite it).
    """
    for kind, path in exports(args):
        if kind not in EXPORT_KINDS:
            raise OutputFileError(
                f"--export: unknown KIND {kind!r}; use {' or '.join(EXPORT_KINDS)}"
            )
        if not path:
            raise OutputFileError(f"--export {kind}: an empty path; give a file path")
    files = requested_files(args)
    for file in files:
        reason = unwritable_reason(file.path)
        if reason is not None:
            raise OutputFileError(f"{file.option} {file.path}: {reason}")
    out_dir = getattr(args, "out", None)
    if out_dir is not None:
        reason = unusable_directory_reason(out_dir)
        if reason is not None:
            raise OutputFileError(f"--out {out_dir}: {reason}")
        files += _suite_files(out_dir, suite_probes or (), html=not args.no_html)
    store = history_store(args)
    _check_distinct(files, {target_file: "the database file measured", store.path: "the history"})
    _check_store(args, store, suite_probes)
    if operations is not None:
        check_slo_scopes(getattr(args, "slo", ()), operations)


def _suite_files(out_dir: Path, probes: Sequence[str], *, html: bool) -> tuple[OutputFile, ...]:
    """The files of a suite in ``out_dir``: one already there as a directory is refused too."""
    from dbprobe.suite import suite_file_names

    names = suite_file_names(probes, html=html)
    files = tuple(OutputFile("--out", out_dir / name) for name in names)
    for file in files:
        reason = unwritable_reason(file.path)
        if reason is not None:
            raise OutputFileError(f"--out {out_dir}: {file.path.name} {reason}")
    return files


def _check_distinct(files: Sequence[OutputFile], taken: dict[Path | None, str]) -> None:
    """Two outputs on one file would leave only the last; one on the target would destroy it."""
    seen = {os.path.realpath(path): what for path, what in taken.items() if path is not None}
    for file in files:
        if not file.path.is_file() and file.path.exists():
            continue  # a device or pipe (/dev/stdout): writing it twice is what was asked
        real = os.path.realpath(file.path)
        if real in seen:
            raise OutputFileError(f"{file.option} {file.path}: is also {seen[real]}")
        seen[real] = f"the file of {file.option}"


def _check_store(
    args: argparse.Namespace, store: HistoryStore, suite_probes: Sequence[str] | None
) -> None:
    """The store's file, the baseline name to save, and the baseline to compare with."""
    save = getattr(args, "save_baseline", None)
    compare = getattr(args, "compare", None)
    writes = save is not None or bool(getattr(args, "record", False))
    if not (writes or compare is not None or getattr(args, "trend", False)):
        return
    if save is not None:
        for name in _baseline_names(save, suite_probes):
            check_baseline_name(name)
    reason = unwritable_reason(store.path) if writes else None
    try:
        if reason is None and store.path.is_dir():
            reason = "is a directory; give a file path"
    except OSError as exc:  # a name over NAME_MAX, a path through a file
        reason = f"cannot be used ({exc.strerror})"
    if reason is not None:
        raise OutputFileError(f"history store {store.path}: {reason}")
    store.baselines()  # a corrupt or foreign file is refused now, not after the run
    if compare is not None:
        if suite_probes is None:
            load_baseline(compare, store)
        else:
            for name in _baseline_names(compare, suite_probes):
                store.baseline(name)


def _baseline_names(name: str, suite_probes: Sequence[str] | None) -> list[str]:
    if suite_probes is None:
        return [name]
    from dbprobe.suite import suite_baseline_name

    return [suite_baseline_name(name, probe) for probe in suite_probes]
