"""``dbprobe seed``: load the reference domain at a scale, print its rows and checksum."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from rich.console import Console

from dbprobe.cli.progress import progress_for
from dbprobe.cli.status import EXIT_OK
from dbprobe.cli.stopping import install_stop_signals
from dbprobe.data.scales import load_scale
from dbprobe.data.seeding import SeedResult, seed
from dbprobe.database.engine import PoolOptions, open_database
from dbprobe.database.url import Target
from dbprobe.load.harness import run_until_stopped

__all__ = ["seed_command"]


async def seed_command(
    args: argparse.Namespace, target: Target, argv: Sequence[str], out: Console, err: Console
) -> int:
    stop = asyncio.Event()
    install_stop_signals(stop)
    scale = load_scale(args.scale)
    db = await open_database(target, PoolOptions(size=1, connect_timeout_s=args.connect_timeout))
    try:
        with progress_for(args, err) as progress:
            result: SeedResult = await run_until_stopped(
                seed(
                    db,
                    scale,
                    args.seed,
                    on_progress=progress.seed_progress,
                    force=args.force,
                    verify=args.verify,
                ),
                stop,
            )
    finally:
        await db.dispose()
    rate = result.total_rows / result.duration_s if result.duration_s > 0 else 0.0
    out.print(
        f"seeded scale {result.scale} (seed {result.seed}) into {target.masked} "
        f"in {result.duration_s:.2f} s ({rate:,.0f} rows/s)",
        highlight=False,
    )
    out.print("  " + ", ".join(f"{t} {n:,}" for t, n in result.rows.items()), highlight=False)
    out.print(f"checksum {result.checksum}", highlight=False)
    if result.verified:
        out.print("verified: every table read back equals the rows generated", highlight=False)
    return EXIT_OK
