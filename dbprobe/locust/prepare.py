"""What is done once per Locust run, before any user starts: seed, set up; and after: tear down.

Run by the master (or the only process when there is no master), in its
event-loop thread, from Locust's ``init`` event: Locust starts the test only
once ``init`` has returned, so workers never run an operation on data that
is not there yet. The built-in probes seed the reference domain (as
``dbprobe seed`` does, only when it is missing or of another scale or seed);
a scenario file is seeded only with ``REFERENCE_DOMAIN = True``, and its
``setup(engine)`` runs here once (its ``teardown(engine)`` at the end), as
``dbprobe run`` runs them, not once per worker.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from dbprobe.data.scales import load_scale
from dbprobe.data.seeding import ensure_seeded
from dbprobe.database.engine import Database, open_database
from dbprobe.database.url import error_line
from dbprobe.errors import UsageError
from dbprobe.locust.settings import LocustSettings
from dbprobe.locust.workbench import open_workload
from dbprobe.result.model import TargetInfo
from dbprobe.result.options import DEFAULT_HOOK_TIMEOUT_S
from dbprobe.scenarios import ScenarioSet, load_scenarios

__all__ = ["Preparation", "finish", "prepare"]

_DISPOSE_S = 1.0


@dataclass(frozen=True)
class Preparation:
    """The prepared target: what the report says of it, and what teardown needs."""

    target: TargetInfo
    checksum: str | None
    operations: dict[str, int]  # name -> weight, as every process will run them
    db: Database  # kept open for the scenario file's teardown
    scenarios: ScenarioSet | None


async def prepare(settings: LocustSettings) -> Preparation:
    """Seed if needed, run a scenario file's setup; UsageError/TargetError (one line) if not."""
    scenarios = load_scenarios(settings.scenarios) if settings.scenarios is not None else None
    checksum: str | None = None
    if scenarios is None or scenarios.reference_domain:
        db = await open_database(settings.target, settings.pool)
        try:
            seeded = await ensure_seeded(db, load_scale(settings.scale), settings.seed)
        finally:
            await db.dispose()
        checksum = seeded.checksum
    # Built as each process will build them: a probe's catalogue or a file's
    # scenarios, so that an --dbprobe-slo naming none of them fails now.
    db, operations = await open_workload(settings)
    weights = {op.name: op.weight for op in operations}
    try:
        settings.check_operations(list(weights))
        if scenarios is not None and scenarios.setup is not None:
            await _hook("setup", settings, scenarios, db)
    except BaseException:
        await db.dispose()
        raise
    target = TargetInfo(
        backend=db.backend.value,
        url=db.target.masked,
        server_version=db.server_version,
        scale=settings.scale if checksum is not None else "none",
        seed=settings.seed,
        isolation=db.isolation.value,
    )
    return Preparation(target, checksum, weights, db, scenarios)


async def _hook(what: str, settings: LocustSettings, scenarios: ScenarioSet, db: Database) -> None:
    hook = scenarios.setup if what == "setup" else scenarios.teardown
    assert hook is not None
    try:
        await asyncio.wait_for(hook(db.engine), DEFAULT_HOOK_TIMEOUT_S)
    except TimeoutError:
        raise UsageError(
            f"{what}() in {settings.scenarios} did not return within {DEFAULT_HOOK_TIMEOUT_S:g} s"
        ) from None
    except Exception as exc:
        raise UsageError(
            f"{what}() in {settings.scenarios} failed: {error_line(exc, settings.target)}"
        ) from None


async def finish(settings: LocustSettings, preparation: Preparation) -> str | None:
    """Run a scenario file's teardown and close; the failure's one line, if it failed."""
    problem = None
    scenarios = preparation.scenarios
    if scenarios is not None and scenarios.teardown is not None:
        try:
            await _hook("teardown", settings, scenarios, preparation.db)
        except UsageError as exc:
            problem = str(exc)
    with contextlib.suppress(Exception):
        await asyncio.wait_for(preparation.db.dispose(), _DISPOSE_S)
    return problem
