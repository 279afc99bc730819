"""One measurement in a process of its own, printed as one JSON line on stdout.

``benchmarks/run.py`` starts this script once per repetition, so that every
measurement begins from a fresh interpreter: a bare loop never runs in a
process where dbprobe's SQLAlchemy listeners were installed by an earlier
instrumented run, and the event loop (asyncio or uvloop) is chosen per
process. Usage (run.py builds these calls)::

    python benchmarks/measure.py KIND '{"json": "arguments"}'

Kinds: ``workload`` (a select layer, instrumented by ``run_workload`` or in a
bare loop), ``probe`` (``run_select`` itself), ``seed``, ``memory``,
``sleep`` (the accuracy workload). Nothing here judges a figure; run.py does.
"""

from __future__ import annotations

import array
import asyncio
import gc
import json
import random
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from dbprobe.data.scales import load_scale
from dbprobe.data.seeding import ensure_seeded, seed
from dbprobe.database.engine import Database, PoolOptions, open_database
from dbprobe.database.url import resolve_target
from dbprobe.load.harness import TargetOptions
from dbprobe.load.operations import Operation, OperationContext
from dbprobe.load.plan import LoadPlan, RetryPolicy
from dbprobe.load.workers import run_workload
from dbprobe.probes.select.driver import DriverConnections
from dbprobe.probes.select.probe import (
    Layer,
    SelectOptions,
    Via,
    build_operation,
    count_accounts,
    run_select,
)

Args = dict[str, Any]


def _run(main: Coroutine[Any, Any, Args], loop: str) -> Args:
    """Run ``main`` on the asked event loop (uvloop where installed and asked for)."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if loop == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


async def _database(args: Args, pool_size: int) -> Database:
    target = resolve_target(args["url"], {})
    return await open_database(target, PoolOptions(size=pool_size))


async def _bare(operation: Operation, db: Database, workers: int, per_worker: int) -> float:
    """The same operation, the same workers, the same count: no timing, no capture."""

    async def worker(index: int) -> None:
        ctx = OperationContext(db, random.Random(index), index)
        run = operation.run
        for _ in range(per_worker):
            await run(ctx)

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(workers)))
    return time.perf_counter() - started


async def _instrumented(operation: Operation, db: Database, workers: int, per_worker: int) -> float:
    started = time.perf_counter()
    result = await run_workload(
        db,
        [operation],
        LoadPlan(workers, transactions_per_worker=per_worker),
        retry=RetryPolicy(retries=0),
        seed=1,
        stop=asyncio.Event(),
    )
    elapsed = time.perf_counter() - started
    (stats,) = result.operations
    if stats.commits != workers * per_worker:
        raise RuntimeError(f"{stats.errors} errors: {dict(stats.error_samples)}")
    return elapsed


async def workload(args: Args) -> Args:
    """Throughput of one select layer, instrumented or bare, after an equal warm-up."""
    workers, per_worker = int(args["workers"]), int(args["per_worker"])
    db = await _database(args, workers)
    drivers = None
    try:
        accounts = await count_accounts(db)
        layer = Layer(args["layer"])
        if layer is Layer.DRIVER:
            drivers = await DriverConnections.open(db, workers, timeout_s=10)
        operation = build_operation(layer, accounts, drivers)
        run: Callable[[Operation, Database, int, int], Awaitable[float]] = (
            _instrumented if args["instrumented"] else _bare
        )
        await run(operation, db, workers, max(1, per_worker // 5))  # warm-up, same path
        gc.collect()
        cpu = time.process_time()
        elapsed = await run(operation, db, workers, per_worker)
        cpu = time.process_time() - cpu
    finally:
        if drivers is not None:
            await drivers.aclose()
        await db.dispose()
    total = workers * per_worker
    return {
        "operations": total,
        "seconds": elapsed,
        "per_s": total / elapsed,
        # This process's CPU per operation: steadier than throughput on a shared
        # machine, and what the instrumentation adds, whoever else is running.
        "cpu_us_per_op": cpu / total * 1e6,
    }


async def probe(args: Args) -> Args:
    """``run_select`` itself (the probe a user runs), for one ``via``."""
    target = resolve_target(args["url"], {})
    workers = int(args["workers"])
    report = await run_select(
        TargetOptions(target, scale=args["scale"], pool=PoolOptions(size=workers)),
        SelectOptions(
            LoadPlan(workers, duration_s=float(args["duration_s"]), warmup_s=args["warmup_s"]),
            via=Via(args["via"]),
        ),
    )
    return {
        op.name: {
            "per_s": op.throughput_per_s,
            "count": op.count,
            "errors": op.errors,
            "p50_ms": op.latency_ms.p50_ms,
            "statements_per_op": op.queries.per_op_mean,
        }
        for op in report.operations
    } | {"cpu_percent": report.resources.cpu_percent}


async def seeding(args: Args) -> Args:
    """One full ``dbprobe seed`` load (the command's own code path) of a scale."""
    db = await _database(args, 1)
    try:
        result = await seed(db, load_scale(args["scale"]), int(args.get("seed", 1)))
    finally:
        await db.dispose()
    return {
        "rows": result.total_rows,
        "seconds": result.duration_s,
        "per_s": result.total_rows / result.duration_s,
        "tables": result.rows,
    }


async def ensure(args: Args) -> Args:
    """Seed a scale unless already there (before the workload measurements)."""
    db = await _database(args, 1)
    try:
        result = await ensure_seeded(db, load_scale(args["scale"]), 1)
    finally:
        await db.dispose()
    return {"rows": result.total_rows, "loaded": result.loaded}


def memory(args: Args) -> Args:
    """RSS growth of recording ``values`` latencies into one LatencyHistogram."""
    import psutil

    from dbprobe.metrics import LatencyHistogram

    values = int(args["values"])
    rng = random.Random(1)
    # A realistic spread: log-normal around 1 ms with a long tail, in ns.
    samples = [int(rng.lognormvariate(13.8, 1.0)) for _ in range(10_000)]
    proc = psutil.Process()
    gc.collect()
    before = proc.memory_info().rss
    hist = LatencyHistogram()
    record = hist.record_ns
    started = time.perf_counter()
    for i in range(values):
        record(samples[i % 10_000])
    elapsed = time.perf_counter() - started
    gc.collect()
    after = proc.memory_info().rss
    summary = hist.summary()
    # The reference: the same values kept as int64s, the least a list of samples costs.
    kept = array.array("q", (samples[i % 10_000] for i in range(values)))
    gc.collect()
    with_array = proc.memory_info().rss
    return {
        "values": hist.count,
        "rss_growth_mb": (after - before) / 2**20,
        "array_growth_mb": (with_array - after) / 2**20,
        "array_items": len(kept),
        "rss_mb": after / 2**20,
        "seconds": elapsed,
        "record_ns_each": elapsed / values * 1e9,
        "p50_ms": summary.p50_ms,
        "encoded_bytes": len(hist.encode()),
    }


async def sleep(args: Args) -> Args:
    """p50 of ``SELECT pg_sleep(s)`` through run_workload, on bare driver connections.

    The driver (a prepared statement) is what pgbench -M prepared sends, so
    both tools time the same round trip; the difference is the timing itself.
    """
    workers = int(args["workers"])
    sleep_s = float(args["sleep_s"])
    db = await _database(args, 1)
    connections: list[Any] = []
    try:
        drivers = await DriverConnections.open(db, workers, timeout_s=10)
        statements = []
        for conn in drivers.connections:
            connections.append(conn)
            statements.append(await conn.prepare("SELECT pg_sleep($1)"))

        async def sleep_once(ctx: OperationContext) -> None:
            await statements[ctx.worker].fetchval(sleep_s)

        result = await run_workload(
            db,
            [Operation("pg_sleep", 1, sleep_once)],
            LoadPlan(workers, duration_s=float(args["duration_s"]), warmup_s=0.5),
            retry=RetryPolicy(retries=0),
            seed=1,
            stop=asyncio.Event(),
        )
        await drivers.aclose()
    finally:
        await db.dispose()
    (stats,) = result.operations
    summary = stats.latency.summary()
    return {"p50_ms": summary.p50_ms, "mean_ms": summary.mean_ms, "count": summary.count}


KINDS: dict[str, Callable[[Args], Any]] = {
    "workload": workload,
    "probe": probe,
    "seed": seeding,
    "ensure": ensure,
    "memory": memory,
    "sleep": sleep,
}


def main() -> None:
    kind, raw = sys.argv[1], sys.argv[2]
    args: Args = json.loads(raw)
    action = KINDS[kind]
    if asyncio.iscoroutinefunction(action):
        out = _run(action(args), args.get("loop", "asyncio"))
    else:
        out = action(args)
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
