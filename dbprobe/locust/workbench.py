"""The asyncio side of one Locust process: its database, its operations, their statistics.

Every coroutine here runs in the process's event-loop thread
(:mod:`dbprobe.locust.loop`), so the statistics are touched by one thread
only. A user greenlet asks for one operation at a time (:meth:`Workbench.run`);
dbprobe runs it as its own workers do (retries, statement counts, N+1
detection, latency into an HdrHistogram) and says how it ended.
:meth:`Workbench.snapshot` makes what was recorded so far into a report of
this process, which a worker sends to the master (:mod:`dbprobe.locust.collect`).
"""

from __future__ import annotations

import datetime as dt
import platform
import random
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import version

from dbprobe.database.engine import Database, open_database
from dbprobe.load.harness import TargetOptions
from dbprobe.load.loops import running_loop_kind
from dbprobe.load.operations import Operation, OperationContext, OperationStats
from dbprobe.load.resources import ResourceSampler
from dbprobe.load.results import operation_findings, operation_reports
from dbprobe.load.single import OperationOutcome, run_operation
from dbprobe.load.workers import WorkloadResult
from dbprobe.locust.settings import LocustSettings
from dbprobe.probes.repo.probe import repo_operations
from dbprobe.probes.scenarios.probe import scenario_database
from dbprobe.probes.uow import uow_operations
from dbprobe.result.model import Report, RunInfo, TargetInfo, ToolInfo
from dbprobe.scenarios import load_scenarios

__all__ = ["Workbench", "open_workload", "target_options"]


def target_options(settings: LocustSettings) -> TargetOptions:
    return TargetOptions(settings.target, settings.scale, settings.seed, pool=settings.pool)


async def open_workload(settings: LocustSettings) -> tuple[Database, list[Operation]]:
    """Connect as the probe (or the scenario file) would, and build its operations.

    The reference domain is read, not seeded: the master (or the only
    process) seeded it before any user started (:mod:`dbprobe.locust.prepare`).
    """
    options = target_options(settings)
    if settings.scenarios is not None:
        db = await scenario_database(settings.scenarios, options)
        return db, load_scenarios(settings.scenarios).operations()
    db = await open_database(settings.target, settings.pool)
    try:
        if settings.probe == "repo":
            return db, await repo_operations(db)
        return db, await uow_operations(db, settings.mix, settings.hot_set)
    except BaseException:
        await db.dispose()
        raise


@dataclass(frozen=True)
class _Header:
    """What every snapshot of this process says besides its operations."""

    probe: str
    started_at: dt.datetime
    host: str
    argv: tuple[str, ...]


class Workbench:
    """Operations of one process and what they recorded (see the module docstring)."""

    def __init__(
        self,
        settings: LocustSettings,
        db: Database,
        operations: Sequence[Operation],
        *,
        argv: Sequence[str] = (),
    ) -> None:
        self.settings = settings
        self.db = db
        self.operations = {op.name: op for op in operations}
        self._argv = tuple(argv)
        self.reset()

    def reset(self) -> None:
        """Start afresh: a new Locust test (the web UI can run several in one process)."""
        self.stats = {name: OperationStats(name) for name in self.operations}
        self._started_ns = time.perf_counter_ns()
        self._header = _Header(
            probe=self.settings.probe,
            started_at=dt.datetime.now(dt.UTC),
            host=socket.gethostname(),
            argv=self._argv,
        )
        self._resources = ResourceSampler()

    @property
    def weights(self) -> Mapping[str, int]:
        return {name: op.weight for name, op in self.operations.items()}

    async def run(self, name: str, rng: random.Random, user: int) -> OperationOutcome:
        """Run operation ``name`` once for user number ``user`` (its own ``rng``)."""
        db = self.db

        def context() -> OperationContext:
            return OperationContext(db, rng, user)

        return await run_operation(
            self.operations[name],
            self.stats[name],
            context,
            self.settings.retry,
            rng,
            db,
            n_plus_one_threshold=self.settings.n_plus_one_threshold,
        )

    async def snapshot(self) -> Report:
        """What this process recorded so far, as a report (counts and histograms are totals)."""
        measured_s = (time.perf_counter_ns() - self._started_ns) / 1e9
        result = WorkloadResult(tuple(self.stats.values()), measured_s, interrupted=False)
        header = self._header
        db = self.db
        self._resources.sample()
        return Report(
            tool=ToolInfo("dbprobe", version("dbprobe")),
            run=RunInfo(
                probe=header.probe,
                started_at=header.started_at,
                duration_s=measured_s,
                argv=header.argv,
                host=header.host,
                python=platform.python_version(),
                loop=running_loop_kind(),
            ),
            target=TargetInfo(
                backend=db.backend.value,
                url=db.target.masked,
                server_version=db.server_version,
                scale=self.settings.scale,
                seed=self.settings.seed,
                isolation=db.isolation.value,
            ),
            config=self.settings.run_config(self.weights),
            operations=operation_reports(result),
            findings=tuple(operation_findings(result)),
            resources=self._resources.finish(),
        )

    async def close(self) -> None:
        await self.db.dispose()
