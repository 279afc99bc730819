"""The ``repo`` probe: each entry of the repository query catalogue measured on its own."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from dbprobe.database.engine import Database
from dbprobe.gate.slo import SloCheck
from dbprobe.instrument.indexes import DEFAULT_MIN_ROWS
from dbprobe.instrument.nplusone import DEFAULT_THRESHOLD
from dbprobe.load.failures import DEFAULT_MAX_ERROR_RATE
from dbprobe.load.harness import ProbeHooks, TargetOptions
from dbprobe.load.operations import Operation
from dbprobe.load.phases import Workload
from dbprobe.load.plan import LoadPlan, RetryPolicy
from dbprobe.probes.repo.catalogue import catalogue, repo_world, select_entries
from dbprobe.probes.workload import run_workload_probe
from dbprobe.result.config import RepoConfig
from dbprobe.result.model import Report

__all__ = ["repo_operations", "run_repo"]


@dataclass(frozen=True)
class _RepoBuild:
    """The repo catalogue's phases (module-level: it pickles, for processes > 1)."""

    only: tuple[str, ...]

    async def __call__(self, db: Database) -> Workload:
        entries = select_entries(catalogue(await repo_world(db)), self.only)
        # Each query measured on its own, the entries interleaved in rounds.
        return Workload(tuple(Operation(e.name, 1, e.run) for e in entries), catalogue=True)


async def repo_operations(db: Database, only: Sequence[str] = ()) -> list[Operation]:
    """The catalogue's entries (or those in ``only``) as operations of weight 1 each, on the
    rows ``db`` holds: for a load generator of its own (Locust), which mixes them."""
    return list((await _RepoBuild(tuple(only))(db)).operations)


async def run_repo(
    options: TargetOptions,
    plan: LoadPlan,
    *,
    only: Sequence[str] = (),
    retry: RetryPolicy | None = None,
    slos: Sequence[SloCheck] = (),
    stop: asyncio.Event | None = None,
    argv: Sequence[str] = (),
    hooks: ProbeHooks | None = None,
    n_plus_one_threshold: int = DEFAULT_THRESHOLD,
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE,
    explain: bool = False,
    explain_min_rows: int = DEFAULT_MIN_ROWS,
    explain_analyze: bool = False,
) -> Report:
    """Run the repo probe: each catalogue entry (or those in ``only``) measured on its own.

    ``explain``: each statement fingerprint explained once after the run, its
    plan kept and the missing indexes it proves reported (``--explain``).
    """
    retry = retry or RetryPolicy()
    config = RepoConfig(
        threads=plan.workers,
        transactions=plan.transactions_per_worker,
        duration_s=plan.duration_s,
        warmup_s=plan.warmup_s,
        only=tuple(only),
        retries=retry.retries,
    )
    return await run_workload_probe(
        "repo",
        options,
        config,
        _RepoBuild(tuple(only)),
        plan,
        retry,
        n_plus_one_threshold=n_plus_one_threshold,
        slos=slos,
        stop=stop or asyncio.Event(),
        argv=argv,
        hooks=hooks or ProbeHooks(),
        max_error_rate=max_error_rate,
        explain=explain,
        explain_min_rows=explain_min_rows,
        explain_analyze=explain_analyze,
    )
