"""The cost of driving dbprobe operations through Locust: ops/s through the bridge vs dbprobe's own.

    python benchmarks/locust_bridge.py                 # 3 samples of 10 s each, 10 users/workers
    python benchmarks/locust_bridge.py --write docs/PERFORMANCE.md

Both sides run the select probe's driver layer: a point select on a bare
asyncpg connection per worker, prepared once (``dbprobe select --via
driver``; ``benchmarks/locust/point_select.py`` as a scenario file for
Locust). What differs is how each operation is driven: dbprobe's asyncio
workers, or a Locust user (a greenlet) handing it to the process's event
loop in its own thread, waiting on a gevent watcher, then firing Locust's
request event. Both in one process, with the same number of workers and
users, interleaved sample by sample so that a change in the machine's load
hits both; the median of each is shown. It needs the PostgreSQL named by
``--db`` (the database is created when missing) and ``pip install -e '.[locust]'``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCENARIO = HERE / "locust" / "point_select.py"
LOCUSTFILE = ROOT / "examples" / "locustfile.py"
DEFAULT_DB = "postgresql+asyncpg://postgres@127.0.0.1:5432/dbprobe_bench"
SECTION = "## Locust bridge"


async def _create_database(url: str) -> None:
    import asyncpg

    from dbprobe.database.url import resolve_target

    target = resolve_target(url, {})
    admin = target.url.set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        name = target.url.database
        if not await conn.fetchval("select 1 from pg_database where datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def _ops_per_s(report: Path) -> float:
    data = json.loads(report.read_text())
    return float(sum(op["throughput_per_s"] for op in data["operations"]))


def dbprobe_select(db: str, workers: int, duration_s: int, out: Path) -> float:
    subprocess.run(
        [
            *(sys.executable, "-m", "dbprobe", "select", "--via", "driver", "--db", db),
            *("--scale", "tiny", "--threads", str(workers), "--duration", str(duration_s)),
            *("--warmup", "1", "--quiet", "--json", str(out)),
        ],
        check=True,
        timeout=duration_s + 120,
    )
    return _ops_per_s(out)


def locust_users(db: str, users: int, duration_s: int, out: Path) -> float:
    subprocess.run(
        [
            *(sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless"),
            *("-u", str(users), "-r", str(users), "-t", f"{duration_s}s", "--only-summary"),
            *("--dbprobe-db", db, "--dbprobe-scale", "tiny", "--dbprobe-scenarios", str(SCENARIO)),
            *("--dbprobe-json", str(out)),
        ],
        check=True,
        timeout=duration_s + 120,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return _ops_per_s(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=DEFAULT_DB)
    parser.add_argument("--workers", type=int, default=10, help="workers and users (10)")
    parser.add_argument("--duration", type=int, default=10, help="seconds a sample (10)")
    parser.add_argument("--repeat", type=int, default=3, help="samples of each (3)")
    parser.add_argument("--write", type=Path, help="put the section into this Markdown page")
    args = parser.parse_args(argv)
    asyncio.run(_create_database(args.db))
    own: list[float] = []
    through: list[float] = []
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            own.append(
                dbprobe_select(args.db, args.workers, args.duration, Path(tmp) / f"s{i}.json")
            )
            through.append(
                locust_users(args.db, args.workers, args.duration, Path(tmp) / f"l{i}.json")
            )
            sys.stderr.write(
                f"sample {i + 1}: dbprobe {own[-1]:,.0f}/s, Locust {through[-1]:,.0f}/s\n"
            )
    a, b = statistics.median(own), statistics.median(through)
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    text = (
        f"{SECTION}\n\n"
        f"Measured by `python benchmarks/locust_bridge.py` on {when} ({args.repeat} samples of "
        f"{args.duration} s each, interleaved; load average {load_start:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end). A point select on a bare asyncpg connection per "
        f"worker, {args.workers} workers or users, one process each; no uvloop on either side "
        "unless installed. Not part of `benchmarks/run.py`, which rewrites this page: run this "
        "script after it.\n\n"
        "| driven by | ops/s (median) | samples | ratio |\n|---|---|---|---|\n"
        f"| `dbprobe select --via driver` (asyncio workers) | {a:,.0f} | "
        f"{', '.join(f'{x:,.0f}' for x in own)} | 100% |\n"
        f"| Locust users through `dbprobe.locust` (one process) | {b:,.0f} | "
        f"{', '.join(f'{x:,.0f}' for x in through)} | {b / a:.0%} |\n"
    )
    sys.stdout.write(text)
    if args.write is not None:
        page = args.write.read_text(encoding="utf-8")
        before, _, after = page.partition(SECTION)
        rest = after.split("\n## ", 1)[1] if "\n## " in after else ""
        page = before.rstrip("\n") + "\n\n" + text + ("\n## " + rest if rest else "")
        args.write.write_text(page, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
