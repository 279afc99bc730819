"""The ``select`` probe: point selects by primary key, through each layer of the stack.

The workload of ``pgbench -S`` (one row of the ledger's ``accounts`` by id,
ids drawn uniformly from the seeded accounts) run three ways, so that one run
shows what each layer costs:

- ``driver``: the bare driver, a prepared statement on a connection of the
  worker's own (asyncpg on PostgreSQL, aiosqlite on SQLite): no SQLAlchemy;
- ``core``: ``engine.connect()`` and a Core ``select()`` built once, so that
  SQLAlchemy's compiled cache serves it; the pooled connection's transaction
  (BEGIN, then ROLLBACK on release) is part of what Core costs;
- ``orm``: a new ``AsyncSession`` per select and ``session.get(Account, id)``,
  as a web request would do it.

``via=all`` measures the three one after another, each on its own (one
operation per phase), with the same workers and the same sequence of ids.
Every layer runs through the same runner, so timing, histograms, statement
capture and N+1 detection are the same as for every probe; the driver layer
issues no SQLAlchemy statement, so its statement count is 0.

Scales and the number of accounts the ids are drawn from (seeds/scales.toml):
tiny 16, small 100, medium 1,000, large 10,000.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, func, select

from dbprobe.database.engine import Database
from dbprobe.domain.models import Account
from dbprobe.errors import ConfigError
from dbprobe.gate.slo import SloCheck, evaluate_slos
from dbprobe.instrument.explain import StatementSamples, explain_samples
from dbprobe.instrument.indexes import DEFAULT_MIN_ROWS
from dbprobe.instrument.nplusone import DEFAULT_THRESHOLD
from dbprobe.load.failures import DEFAULT_MAX_ERROR_RATE, error_rate_findings
from dbprobe.load.harness import (
    ProbeHooks,
    TargetOptions,
    assemble_report,
    measure_here,
    prepared_target,
    run_until_stopped,
)
from dbprobe.load.operations import Operation, OperationContext
from dbprobe.load.outages import service_interruptions
from dbprobe.load.phases import Workload
from dbprobe.load.plan import LoadPlan, RetryPolicy
from dbprobe.load.rate import rate_findings
from dbprobe.load.sections import TimelineSection
from dbprobe.probes.select.driver import DriverConnections
from dbprobe.result.config import RunConfig, SelectConfig
from dbprobe.result.findings import Finding
from dbprobe.result.model import OperationReport, Report, Section

__all__ = [
    "Layer",
    "LayerFigures",
    "SelectOptions",
    "SelectSection",
    "Via",
    "build_operation",
    "count_accounts",
    "run_select",
    "select_section",
]


class Layer(enum.StrEnum):
    """One layer of the stack a point select can go through."""

    DRIVER = "driver"
    CORE = "core"
    ORM = "orm"


class Via(enum.StrEnum):
    """What ``--via`` asks for: one layer, or all three one after another."""

    ORM = "orm"
    CORE = "core"
    DRIVER = "driver"
    ALL = "all"

    @property
    def layers(self) -> tuple[Layer, ...]:
        # Cheapest first: the driver is the baseline the others are read against.
        return tuple(Layer) if self is Via.ALL else (Layer(self.value),)


@dataclass(frozen=True)
class SelectOptions:
    """Options of the select probe (validated; ``via`` also accepts its name as text)."""

    plan: LoadPlan
    via: Via = Via.ALL
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "via", Via(self.via))
        except ValueError:
            names = ", ".join(v.value for v in Via)
            raise ConfigError(f"unknown --via {self.via!r}: choose one of {names}") from None

    def as_config(self, accounts: int) -> SelectConfig:
        """The options as the report states them, with the accounts selected among."""
        return SelectConfig(
            threads=self.plan.workers,
            transactions=self.plan.transactions_per_worker,
            duration_s=self.plan.duration_s,
            warmup_s=self.plan.warmup_s,
            via=self.via.value,
            retries=self.retry.retries,
            accounts=accounts,
        )


# ---------------------------------------------------------------------------
# The operations (I/O)

# Built once: SQLAlchemy caches its compiled form under the statement's cache
# key, so each execution skips compilation, as an application's would.
_BY_ID = select(Account.__table__).where(Account.__table__.c.id == bindparam("id"))


def build_operation(
    layer: Layer, accounts: int, drivers: DriverConnections | None = None
) -> Operation:
    """The point select through ``layer``, on ids 1..accounts drawn from ``ctx.rng``.

    The driver layer needs ``drivers``, one connection per worker (indexed by
    ``ctx.worker``). A missing row is an error: the ledger was not seeded as
    the probe expects, and a select that found nothing measured nothing.
    """
    if accounts < 1:
        raise ConfigError("the accounts table is empty: reseed with `dbprobe seed`")

    def missing(account_id: int) -> LookupError:
        return LookupError(f"account {account_id} is missing: reseed with `dbprobe seed`")

    async def orm(ctx: OperationContext) -> None:
        account_id = ctx.rng.randint(1, accounts)
        async with ctx.db.read_sessions() as session:
            if await session.get(Account, account_id) is None:
                raise missing(account_id)

    async def core(ctx: OperationContext) -> None:
        account_id = ctx.rng.randint(1, accounts)
        async with ctx.db.engine.connect() as conn:
            if (await conn.execute(_BY_ID, {"id": account_id})).first() is None:
                raise missing(account_id)

    if layer is Layer.ORM:
        return Operation(layer.value, 1, orm)
    if layer is Layer.CORE:
        return Operation(layer.value, 1, core)
    if drivers is None:
        raise ValueError("the driver layer needs its DriverConnections")
    selects = drivers.selects

    async def driver(ctx: OperationContext) -> None:
        account_id = ctx.rng.randint(1, accounts)
        if await selects[ctx.worker](account_id) is None:
            raise missing(account_id)

    return Operation(layer.value, 1, driver)


async def count_accounts(db: Database) -> int:
    """The largest account id (the seeded ids run 1..N without gaps)."""
    async with db.engine.connect() as conn:
        top = (await conn.execute(select(func.max(Account.id)))).scalar_one() or 0
        await conn.rollback()
    return int(top)


# ---------------------------------------------------------------------------
# The section (pure)


@dataclass(frozen=True)
class LayerFigures:
    """One layer's figures, and how they compare with the bare driver's.

    ``relative_throughput`` is this layer's throughput over the driver's.
    ``added_us_per_select`` is ``1/throughput - 1/driver throughput`` in µs:
    the time each select of this layer takes beyond the driver's. All workers
    share one event loop, so the layers' Python work does not overlap, and
    this is what the layer adds to every select (mean latency would instead
    grow with the queue of workers). Both are None when the driver was not
    measured.
    """

    layer: str
    throughput_per_s: float
    p50_ms: float
    mean_ms: float
    statements_per_op: float
    relative_throughput: float | None
    added_us_per_select: float | None


@dataclass(frozen=True)
class SelectSection:
    """The select probe's own part of the report (JSON key ``select``)."""

    accounts: int
    layers: tuple[LayerFigures, ...]

    @property
    def name(self) -> str:
        return "select"

    def to_json(self) -> dict[str, Any]:
        def rounded(value: float | None, digits: int) -> float | None:
            return None if value is None else round(value, digits)

        return {
            "accounts": self.accounts,
            "layers": [
                {
                    "layer": f.layer,
                    "throughput_per_s": round(f.throughput_per_s, 1),
                    "p50_ms": round(f.p50_ms, 3),
                    "mean_ms": round(f.mean_ms, 3),
                    "statements_per_op": round(f.statements_per_op, 3),
                    "relative_throughput": rounded(f.relative_throughput, 4),
                    "added_us_per_select": rounded(f.added_us_per_select, 1),
                }
                for f in self.layers
            ],
        }


def _added_us(per_s: float, base_per_s: float) -> float | None:
    if per_s <= 0:
        return None
    return (1 / per_s - 1 / base_per_s) * 1e6


def select_section(accounts: int, operations: Sequence[OperationReport]) -> SelectSection:
    """Each layer's figures, compared with the driver's when the driver ran."""
    by_name: Mapping[str, OperationReport] = {op.name: op for op in operations}
    base = by_name.get(Layer.DRIVER.value)
    usable = base is not None and base.throughput_per_s > 0
    figures = []
    for op in operations:
        latency = op.latency_ms
        figures.append(
            LayerFigures(
                layer=op.name,
                throughput_per_s=op.throughput_per_s,
                p50_ms=latency.p50_ms,
                mean_ms=latency.mean_ms,
                statements_per_op=op.queries.per_op_mean,
                relative_throughput=op.throughput_per_s / base.throughput_per_s
                if usable and base is not None
                else None,
                added_us_per_select=_added_us(op.throughput_per_s, base.throughput_per_s)
                if usable and base is not None
                else None,
            )
        )
    return SelectSection(accounts, tuple(figures))


# ---------------------------------------------------------------------------
# The run


async def run_select(
    options: TargetOptions,
    probe: SelectOptions,
    *,
    stop: asyncio.Event | None = None,
    argv: Sequence[str] = (),
    hooks: ProbeHooks | None = None,
    slos: Sequence[SloCheck] = (),
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE,
    explain: bool = False,
    explain_min_rows: int = DEFAULT_MIN_ROWS,
    explain_analyze: bool = False,
) -> Report:
    """Run the select probe against ``options.target``; seeds first if needed.

    ``explain``: the statements of the orm and core layers explained once after
    the run (the driver layer bypasses SQLAlchemy, whose events capture them).
    """
    stop = stop or asyncio.Event()
    samples = StatementSamples() if explain else None
    explained = None
    hooks = hooks or ProbeHooks()
    layers = probe.via.layers
    async with prepared_target(options, stop=stop, hooks=hooks) as prepared:
        db = prepared.db
        accounts = await run_until_stopped(count_accounts(db), stop)
        drivers = None
        if Layer.DRIVER in layers:
            # Opened before the clock starts: connecting is not part of a select.
            drivers = await run_until_stopped(
                DriverConnections.open(
                    db, probe.plan.workers, timeout_s=options.pool.connect_timeout_s
                ),
                stop,
            )
        try:
            if hooks.on_run_start is not None:
                hooks.on_run_start(f"select on {db.target.masked} ({db.server_version})")
            # The layers measured each on its own, interleaved in rounds: a burst
            # of interference cannot land on one layer only.
            workload = Workload(
                tuple(build_operation(layer, accounts, drivers) for layer in layers),
                catalogue=True,
            )
            measured = await measure_here(
                db,
                workload,
                probe.plan,
                probe.retry,
                seed=options.seed,
                n_plus_one_threshold=DEFAULT_THRESHOLD,
                stop=stop,
                hooks=hooks,
                samples=samples,
            )
        finally:
            if drivers is not None:
                await drivers.aclose()
        # After the measured run, and not after an interrupt (see run_workload_probe).
        if samples is not None and not stop.is_set():
            explained = await explain_samples(
                db.engine, samples, min_rows=explain_min_rows, analyze=explain_analyze
            )
    order = [layer.value for layer in layers]
    ops = tuple(sorted(measured.operations, key=lambda op: order.index(op.name)))
    findings: list[Finding] = error_rate_findings(ops, max_error_rate)
    findings += evaluate_slos(slos, ops)
    findings += measured.findings
    if probe.plan.rate_per_s is not None:
        findings += rate_findings(
            measured.schedule,
            measured.generator,
            rate_per_s=probe.plan.rate_per_s,
            workers=probe.plan.workers,
        )
    if explained is not None:
        findings += explained.findings
    sections: list[Section] = [select_section(accounts, ops)]
    if measured.timeline is not None:
        # Outages are read off the timeline, as for every probe.
        findings += service_interruptions(measured.timeline.points, ops)
        sections.append(TimelineSection(measured.timeline))
    return assemble_report(
        "select",
        prepared,
        config=RunConfig(
            probe.as_config(accounts),
            pool_size=options.pool.size,
            rounds=probe.plan.rounds,
            max_error_rate=max_error_rate,
        ),
        operations=ops,
        findings=findings,
        resources=measured.resources,
        interrupted=measured.interrupted,
        argv=argv,
        sections=sections,
        calibration=measured.calibration,
        plans=explained.plans if explained is not None else (),
    )
