"""dbprobe's own performance, measured against references taken in the same run.

One command measures everything and writes docs/PERFORMANCE.md::

    python benchmarks/run.py                      # full run, about 15 minutes on 2 cores
    python benchmarks/run.py --smoke --out /tmp/p.md   # every section at a tiny size (CI)
    python benchmarks/run.py --only ceiling --only overhead   # some sections

It needs the PostgreSQL named by ``--pg`` (default: postgres on 127.0.0.1:5432,
database ``dbprobe_bench``) and ``pgbench`` on the PATH; the databases
``--pg`` and ``--pgbench-db`` name are created when missing and belong to the
benchmark (``pgbench -i`` drops and reloads its tables there). uvloop and
py-spy are used when installed.

Every figure is the median of ``--repeat`` samples, each taken in a fresh
process (``benchmarks/measure.py``), with the measured and the reference runs
interleaved so that a change in the machine's load hits both alike. A
benchmark is not a test: nothing here fails on a slow figure; the page says
which targets were met and by how much the others were missed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psutil
from figures import Check, Figure, Page, Section, Target, render

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MEASURE = HERE / "measure.py"
ANALYSIS = HERE / "ANALYSIS.md"
SECTIONS = ("seeding", "memory", "startup", "overhead", "ceiling", "accuracy", "indexes")
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/dbprobe_bench"
LAYERS = ("driver", "core", "orm")
# Operations per second of each layer with 10 workers on a 2-core machine,
# only to size a run of about --duration seconds (the figure is measured).
_EXPECTED_PER_S = {"driver": 12_000, "core": 3_000, "orm": 1_000}


@dataclass(frozen=True)
class Settings:
    smoke: bool
    repeat: int
    duration_s: float
    pg_url: str
    pgbench_db: str
    out: Path
    sections: tuple[str, ...]
    workers: int = 10
    scale: str = "medium"  # the dbprobe data the select workloads read
    seed_scale: str = "medium"  # the scale whose load is timed (>= 500k rows)
    pgbench_scale: int = 10
    memory_values: int = 10_000_000
    startup_repeat: int = 10

    @property
    def uow_argv(self) -> list[str]:
        if self.smoke:
            return [
                "uow",
                "--threads",
                "2",
                "--scale",
                "tiny",
                "--duration",
                "0.2",
                "--warmup",
                "0",
            ]
        return ["uow", "--threads", "10"]


def _settings(argv: Sequence[str] | None) -> Settings:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="every section at a tiny size, once")
    p.add_argument("--out", type=Path, default=ROOT / "docs" / "PERFORMANCE.md")
    p.add_argument("--pg", default=DEFAULT_PG, help=f"dbprobe's database (default {DEFAULT_PG})")
    p.add_argument("--pgbench-db", default="dbprobe_pgbench", help="pgbench's database")
    p.add_argument("--repeat", type=int, help="samples per figure (default 5; smoke 1)")
    p.add_argument("--duration", type=float, help="seconds per throughput sample (default 5)")
    p.add_argument("--only", action="append", choices=SECTIONS, help="run only these sections")
    a = p.parse_args(argv)
    base = Settings(
        smoke=a.smoke,
        repeat=a.repeat or (1 if a.smoke else 5),
        duration_s=a.duration or (0.2 if a.smoke else 5.0),
        pg_url=a.pg,
        pgbench_db=a.pgbench_db,
        out=a.out,
        sections=tuple(a.only or SECTIONS),
    )
    if a.smoke:
        return replace(
            base,
            workers=4,
            scale="tiny",
            seed_scale="tiny",
            pgbench_scale=1,
            memory_values=100_000,
            startup_repeat=1,
        )
    return base


# ---------------------------------------------------------------------------
# Running things


def _log(text: str) -> None:
    sys.stderr.write(f"[{time.strftime('%H:%M:%S')}] {text}\n")
    sys.stderr.flush()


def measure(kind: str, args: dict[str, Any], *, env: dict[str, str] | None = None) -> Any:
    """One measurement in a fresh process (benchmarks/measure.py); its JSON answer."""
    done = subprocess.run(
        [sys.executable, str(MEASURE), kind, json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"measure {kind} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _measure_many(runs: Sequence[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Several measurements at once, each in its own process (side by side)."""
    procs = [
        subprocess.Popen(
            [sys.executable, str(MEASURE), kind, json.dumps(args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for kind, args in runs
    ]
    out = []
    for proc in procs:
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            raise RuntimeError(f"measure failed:\n{stderr[-3000:]}")
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


@dataclass(frozen=True)
class Pg:
    """Where PostgreSQL is, as libpq (pgbench) and dbprobe each want it."""

    url: str
    host: str
    port: int
    user: str
    password: str | None
    database: str

    @classmethod
    def from_url(cls, url: str) -> Pg:
        from sqlalchemy.engine import make_url

        u = make_url(url)
        return cls(
            url,
            u.host or "127.0.0.1",
            u.port or 5432,
            u.username or "postgres",
            u.password,
            u.database or "dbprobe_bench",
        )

    def env(self) -> dict[str, str]:
        env = dict(os.environ, PGHOST=self.host, PGPORT=str(self.port), PGUSER=self.user)
        if self.password:
            env["PGPASSWORD"] = self.password
        return env

    def url_for(self, database: str) -> str:
        from sqlalchemy.engine import make_url

        return make_url(self.url).set(database=database).render_as_string(hide_password=False)


async def _pg_setup(pg: Pg, databases: Sequence[str]) -> str:
    """Create the benchmark's databases when missing; the server's version."""
    import asyncpg

    conn = await asyncpg.connect(
        host=pg.host, port=pg.port, user=pg.user, password=pg.password, database="postgres"
    )
    try:
        for name in databases:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                await conn.execute(f'CREATE DATABASE "{name}"')
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


async def _pg_fetch(pg: Pg, database: str, sql: str) -> list[tuple[Any, ...]]:
    import asyncpg

    conn = await asyncpg.connect(
        host=pg.host, port=pg.port, user=pg.user, password=pg.password, database=database
    )
    try:
        return [tuple(r) for r in await conn.fetch(sql)]
    finally:
        await conn.close()


def pgbench(pg: Pg, database: str, *args: str) -> dict[str, float]:
    """Run pgbench; its tps and average latency (ms) when it reports them, and wall time."""
    started = time.perf_counter()
    done = subprocess.run(
        ["pgbench", *args, database], capture_output=True, text=True, env=pg.env(), check=False
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"pgbench {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    text = done.stdout + done.stderr
    out = {"wall_s": wall}
    if m := re.search(r"tps = ([\d.]+) \(without initial connection time\)", text):
        out["tps"] = float(m[1])
    if m := re.search(r"latency average = ([\d.]+) ms", text):
        out["latency_ms"] = float(m[1])
    return out


def _interleaved(
    count: int, *runs: Callable[[], float], label: str = ""
) -> tuple[tuple[float, ...], ...]:
    """``count`` samples of each run, taken A B A B ... so that drift hits all alike."""
    samples: list[list[float]] = [[] for _ in runs]
    for i in range(count):
        for j, run in enumerate(runs):
            samples[j].append(run())
        _log(f"{label} {i + 1}/{count}: " + ", ".join(f"{s[-1]:,.4g}" for s in samples))
    return tuple(tuple(s) for s in samples)


def _have(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------------
# Sections


def machine(pg_version: str | None) -> tuple[tuple[str, str], ...]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass

    def v(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "not installed"

    pgbench_version = "not found"
    if shutil.which("pgbench"):
        pgbench_version = subprocess.run(
            ["pgbench", "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    mem = psutil.virtual_memory().total / 2**30
    return (
        ("CPU", cpu),
        ("cores", f"{psutil.cpu_count(logical=False)} physical, {psutil.cpu_count()} logical"),
        ("memory", f"{mem:.1f} GiB"),
        ("OS", platform.platform()),
        ("Python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("dbprobe", v("dbprobe")),
        ("SQLAlchemy", v("sqlalchemy")),
        ("asyncpg", v("asyncpg")),
        ("aiosqlite", v("aiosqlite")),
        ("hdrhistogram", v("hdrhistogram")),
        ("uvloop", v("uvloop")),
        ("PostgreSQL", pg_version or "not reached"),
        ("pgbench", pgbench_version),
        ("SQLite", sqlite3.sqlite_version),
    )


def _rows_of_pgbench(scale: int) -> int:
    return scale * (100_000 + 10 + 1)  # accounts, tellers, branches


def seeding(s: Settings, pg: Pg) -> Section:
    method = f"""
Rows per second of a full `dbprobe seed --scale {s.seed_scale}` load (the command's own
code path, `dbprobe.data.seeding.seed`: empty dbprobe's tables, generate and load every row in
one transaction, reset the sequences, read every table back for the checksum), against
the wall time of `pgbench -i -s {s.pgbench_scale} -q` ({_rows_of_pgbench(s.pgbench_scale):,}
rows: create, generate and COPY, vacuum, primary keys), interleaved. On SQLite the load is
into a new file each time (batched `executemany`). The row widths are compared below.
"""
    pg_samples: list[float] = []
    ref_samples: list[float] = []
    tables: dict[str, int] = {}

    def dbprobe_pg() -> float:
        out = measure("seed", {"url": pg.url, "scale": s.seed_scale})
        tables.update(out["tables"])
        pg_samples.append(out["seconds"])
        return float(out["per_s"])

    def pgbench_init() -> float:
        out = pgbench(pg, s.pgbench_db, "-i", "-s", str(s.pgbench_scale), "-q")
        ref_samples.append(out["wall_s"])
        return _rows_of_pgbench(s.pgbench_scale) / out["wall_s"]

    ours, ref = _interleaved(s.repeat, dbprobe_pg, pgbench_init, label="seed pg / pgbench -i")

    sqlite_rates = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(s.repeat):
            path = Path(tmp) / f"seed{i}.sqlite3"
            out = measure("seed", {"url": f"sqlite+aiosqlite:///{path}", "scale": s.seed_scale})
            sqlite_rates.append(float(out["per_s"]))
            _log(f"seed sqlite {i + 1}/{s.repeat}: {sqlite_rates[-1]:,.0f} rows/s")
    rows = sum(tables.values())
    widths = asyncio.run(_row_widths(pg, s))
    return Section(
        "seeding",
        "Seeding",
        method,
        (
            Figure(
                f"`dbprobe seed --scale {s.seed_scale}`, PostgreSQL ({rows:,} rows)",
                "rows/s",
                ours,
                f"pgbench -i -s {s.pgbench_scale}",
                ref,
                Target(Check.RATIO_AT_LEAST, 1.0),
                note="seconds: "
                + ", ".join(f"{x:.2f}" for x in pg_samples)
                + "; pgbench -i seconds: "
                + ", ".join(f"{x:.2f}" for x in ref_samples),
            ),
            Figure(
                f"`dbprobe seed --scale {s.seed_scale}`, SQLite ({rows:,} rows)",
                "rows/s",
                tuple(sqlite_rates),
                target=Target(Check.VALUE_AT_LEAST, 300_000),
            ),
        ),
        details=(widths,),
    )


async def _row_widths(pg: Pg, s: Settings) -> str:
    """Average tuple width (pg_column_size) and bytes on disk per row, ours and pgbench's."""
    from dbprobe.data.rows import TABLE_ORDER

    def query(table: str) -> str:
        return (
            f"SELECT count(*), coalesce(avg(pg_column_size(t.*)), 0)::int, "
            f"pg_total_relation_size('{table}') FROM {table} t"
        )

    lines = [
        "Row widths (`avg(pg_column_size(row))`, and table plus indexes on disk per row):",
        "",
        "| table | rows | tuple bytes | on-disk bytes/row |",
        "|---|---|---|---|",
    ]
    tables = [(pg.database, f"dbprobe.{t}") for t in TABLE_ORDER]
    tables.append((s.pgbench_db, "pgbench_accounts"))
    for database, table in tables:
        ((rows, width, size),) = await _pg_fetch(pg, database, query(table))
        lines.append(f"| {table} | {rows:,} | {width} | {size / max(rows, 1):.0f} |")
    return "\n".join(lines)


def memory(s: Settings) -> Section:
    method = f"""
RSS growth of a fresh process while it records {s.memory_values:,} latencies (a log-normal
spread around 1 ms) into one `LatencyHistogram`, measured with psutil after a
`gc.collect()`. The reference is the growth of keeping the same values in an `array('q')`
(8 bytes each, the smallest list of samples a tool could keep).
"""
    growth, reference, per_record = [], [], []
    for i in range(max(1, min(s.repeat, 3))):
        out = measure("memory", {"values": s.memory_values})
        growth.append(out["rss_growth_mb"])
        reference.append(out["array_growth_mb"])
        per_record.append(out["record_ns_each"])
        _log(f"memory {i + 1}: {growth[-1]:.2f} MB, array {reference[-1]:.1f} MB")
    return Section(
        "memory",
        "Memory",
        method,
        (
            Figure(
                f"RSS growth, {s.memory_values:,} latencies recorded",
                "MB",
                tuple(growth),
                "the same values in an array('q')",
                tuple(reference),
                Target(Check.VALUE_AT_MOST, 50),
            ),
            Figure("cost of one `record_ns`", "ns", tuple(per_record)),
        ),
    )


def startup(s: Settings) -> Section:
    method = f"""
Wall time of subprocesses, from start to exit. `python -m dbprobe --help` against the
interpreter's own start (`python -c pass`), {s.startup_repeat} runs each, interleaved. Then
`python -m dbprobe {" ".join(s.uow_argv)}` on the default SQLite target (in a temporary
`DBPROBE_DATA_DIR`): the first run seeds the file, the next ones find it seeded; their
reference is the time the run is asked to measure (warm-up + duration).
The pytest plugin: the time `import dbprobe.pytest_plugin` takes in a process that has
imported pytest and pytest-asyncio already (what every pytest start in an environment with
dbprobe installed pays), and a one-test pytest session with the plugin against the same
session with `-p no:dbprobe`, interleaved.
"""
    py = [sys.executable, "-c", "pass"]
    helpcmd = [sys.executable, "-m", "dbprobe", "--help"]

    def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
        started = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True, env=env)
        return time.perf_counter() - started

    helps, pythons = _interleaved(
        s.startup_repeat, lambda: timed(helpcmd), lambda: timed(py), label="--help / python"
    )
    plugin_import = [
        sys.executable,
        "-c",
        "import time, pytest, pytest_asyncio; t = time.perf_counter(); "
        "import dbprobe.pytest_plugin; print(time.perf_counter() - t)",
    ]
    imports_ms = tuple(
        float(subprocess.run(plugin_import, capture_output=True, check=True, text=True).stdout)
        * 1000
        for _ in range(s.startup_repeat)
    )
    with tempfile.TemporaryDirectory() as project:
        Path(project, "test_one.py").write_text("def test_one():\n    assert True\n")
        session = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", project]
        with_plugin, without = _interleaved(
            s.startup_repeat,
            lambda: timed(session),
            lambda: timed([*session, "-p", "no:dbprobe"]),
            label="pytest with / without the plugin",
        )
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, DBPROBE_DATA_DIR=tmp)
        uow = [sys.executable, "-m", "dbprobe", *s.uow_argv, "--quiet"]
        first = timed(uow, env)
        _log(f"uow first run (seeds): {first:.2f} s")
        runs = []
        for i in range(max(1, min(s.repeat, 3))):
            runs.append(timed(uow, env))
            _log(f"uow run {i + 1}: {runs[-1]:.2f} s")
    window = 1.0 if s.smoke else 6.0  # smoke: 0.2 s duration, no warm-up, plus seeding
    return Section(
        "startup",
        "Start-up",
        method,
        (
            Figure(
                "`python -m dbprobe --help`",
                "s",
                helps,
                "`python -c pass`",
                pythons,
                Target(Check.VALUE_AT_MOST, 0.5),
            ),
            Figure(
                "`import dbprobe.pytest_plugin` after pytest",
                "ms",
                imports_ms,
                target=Target(Check.VALUE_AT_MOST, 20),
            ),
            Figure(
                "a one-test pytest session",
                "s",
                with_plugin,
                "the same with `-p no:dbprobe`",
                without,
            ),
            Figure(
                f"`python -m dbprobe {' '.join(s.uow_argv)}`, seeded",
                "s",
                tuple(runs),
                "its warm-up + duration",
                (window,),
                Target(Check.VALUE_AT_MOST, 10.0),
            ),
            Figure(
                f"`python -m dbprobe {' '.join(s.uow_argv)}`, first run (seeds the file)",
                "s",
                (first,),
                "its warm-up + duration",
                (window,),
            ),
        ),
    )


def _per_worker(s: Settings, layer: str) -> int:
    return max(20, int(_EXPECTED_PER_S[layer] * s.duration_s / s.workers))


def overhead(s: Settings, pg: Pg) -> Section:
    method = f"""
The same workload twice: through `run_workload` with everything a probe records (timing,
HdrHistograms, the timeline, statement capture, N+1 and unused-eager-load detection), and
in a bare loop that awaits the same operation function the same number of times from the
same {s.workers} asyncio tasks, with nothing recorded. Each sample is a fresh process (so
the bare loop runs where dbprobe's SQLAlchemy listeners were never installed), after a
warm-up of a fifth of the count by the same path. The workloads are the `select` probe's
three layers on PostgreSQL (`dbprobe.accounts`, scale {s.scale}): the bare driver is the
worst case, since its select costs the least. The CPU time the process spends per
operation (`time.process_time()`) is shown beside the throughput: other work on a shared
machine moves it far less.
"""
    figures: list[Figure] = []
    cpu_figures: list[Figure] = []
    for layer in LAYERS:
        per_worker = _per_worker(s, layer)
        args = {"url": pg.url, "layer": layer, "workers": s.workers, "per_worker": per_worker}

        cpu: dict[bool, list[float]] = {True: [], False: []}

        def run(
            instrumented: bool,
            args: dict[str, Any] = args,
            cpu: dict[bool, list[float]] = cpu,
        ) -> float:
            out = measure("workload", args | {"instrumented": instrumented})
            cpu[instrumented].append(out["cpu_us_per_op"])
            return float(out["per_s"])

        ours, bare = _interleaved(
            s.repeat, lambda: run(True), lambda: run(False), label=f"overhead {layer}"
        )
        figures.append(
            Figure(
                f"select via={layer}, instrumented ({s.workers} workers)",
                "/s",
                ours,
                "bare loop",
                bare,
                Target(Check.RATIO_AT_LEAST, 0.95),
                note=f"{s.workers} x {per_worker:,} operations",
            )
        )
        cpu_figures.append(
            Figure(
                f"select via={layer}: CPU of the dbprobe process per operation, instrumented",
                "µs",
                tuple(cpu[True]),
                "bare loop",
                tuple(cpu[False]),
            )
        )
    details: tuple[str, ...] = ()
    if not s.smoke:
        details = (_profile(s, pg),)
    return Section(
        "overhead",
        "Overhead of the instrumentation",
        method,
        tuple(figures + cpu_figures),
        details,
    )


_GROUPS = (
    # (group, substrings of a frame "function (file)"), first match wins, read leaf-up
    ("bookkeeping: histograms", ("histogram.py",)),
    ("bookkeeping: statement capture", ("statements.py", "contextlib.py")),
    ("bookkeeping: N+1 / eager-load detection", ("nplusone.py",)),
    ("bookkeeping: timeline", ("timeline.py",)),
    ("bookkeeping: runner (picks, contexts, counters)", ("runner.py", "random.py")),
    ("asyncpg (protocol, prepared statement)", ("asyncpg", "prepared_stmt.py", "connresource.py")),
    ("socket send/recv (kernel)", ("write (selector_events.py)", "_read_ready")),
    ("event loop", ("base_events.py", "events.py", "selectors.py", "tasks.py")),
)


def _profile(s: Settings, pg: Pg) -> str:
    """Where the instrumented driver workload spends its time (py-spy if installed)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(spy).exists():
        return "*Profile: py-spy is not installed (`pip install py-spy`), none taken.*"
    args = {
        "url": pg.url,
        "layer": "driver",
        "workers": s.workers,
        "per_worker": _per_worker(s, "driver"),
        "instrumented": True,
    }
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "profile.txt"
        subprocess.run(
            [spy, "record", "-r", "500", "-f", "raw", "-o", str(raw), "--", sys.executable,
             str(MEASURE), "workload", json.dumps(args)],
            capture_output=True,
            check=True,
        )  # fmt: skip
        lines = raw.read_text().splitlines()
    totals: dict[str, int] = {}
    total = 0
    for line in lines:
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        # Only samples inside the measured loop (not imports or set-up).
        if not any("run_workload" in f or "_run_once" in f for f in frames):
            continue
        count = int(n)
        total += count
        group = "other"
        for frame in reversed(frames):
            name = re.sub(r" \((?:.*/)?([^/]+?):\d+\)$", r" (\1)", frame)  # "f (file.py)"
            found = next((g for g, keys in _GROUPS if any(k in name for k in keys)), None)
            if found is not None:
                group = found
                break
        # Time in the operation itself (asyncpg, socket) is attributed above by
        # its innermost known frame; the bookkeeping groups are the overhead.
        totals[group] = totals.get(group, 0) + count
    rows = sorted(totals.items(), key=lambda kv: -kv[1])
    out = [
        f"Profile of the instrumented `select via=driver` workload (py-spy, 500 Hz, "
        f"{total:,} samples in the measured loop), by the innermost frame's component:",
        "",
        "| where | share of samples |",
        "|---|---|",
    ]
    out += [f"| {g} | {n / max(total, 1):.1%} |" for g, n in rows]
    return "\n".join(out)


def ceiling(s: Settings, pg: Pg) -> Section:
    ids = asyncio.run(_pg_fetch(pg, pg.database, "SELECT max(id) FROM dbprobe.accounts"))[0][0]
    method = f"""
Throughput of the `select` probe's bare-driver layer (`run_select`, `via=driver`: asyncpg,
prepared statement, {s.workers} workers in one process, full instrumentation) against
pgbench at the same client count, {s.duration_s:g} s each, interleaved. The reference is
pgbench running the *same* statement on the same table (`-M prepared -f`: `SELECT id,
owner_id, balance FROM dbprobe.accounts WHERE id = :id`, ids uniform over {ids:,}
accounts); `pgbench -S -M prepared` (its own 1-column select on
{s.pgbench_scale * 100_000:,} `pgbench_accounts`) is shown beside it. A bare asyncpg loop
(no dbprobe) is the ceiling of one Python process; uvloop is measured when installed.
"""
    script = Path(tempfile.mkstemp(suffix=".sql")[1])
    script.write_text(
        f"\\set id random(1, {ids})\n"
        "SELECT id, owner_id, balance FROM dbprobe.accounts WHERE id = :id;\n"
    )
    clients = ["-c", str(s.workers), "-j", "2", "-T", str(max(1, round(s.duration_s)))]
    probe_args = {
        "url": pg.url,
        "via": "driver",
        "workers": s.workers,
        "duration_s": s.duration_s,
        "warmup_s": 0 if s.smoke else 1.0,
        "scale": s.scale,
    }
    bare_args = {
        "url": pg.url,
        "layer": "driver",
        "workers": s.workers,
        "per_worker": int(15_000 * s.duration_s / s.workers),
        "instrumented": False,
    }
    loops = ["asyncio", "uvloop"] if _have("uvloop") and not s.smoke else ["asyncio"]
    runs: list[Callable[[], float]] = [
        lambda: pgbench(pg, pg.database, "-n", "-M", "prepared", "-f", str(script), *clients)[
            "tps"
        ],
        lambda: pgbench(pg, s.pgbench_db, "-n", "-S", "-M", "prepared", *clients)["tps"],
    ]
    names = ["pgbench, same statement", "pgbench -S"]

    def probe_run(loop: str) -> Callable[[], float]:
        return lambda: float(measure("probe", probe_args | {"loop": loop})["driver"]["per_s"])

    def bare_run(loop: str) -> Callable[[], float]:
        return lambda: float(measure("workload", bare_args | {"loop": loop})["per_s"])

    for loop in loops:
        runs.append(probe_run(loop))
        names.append(f"select via=driver ({loop})")
        runs.append(bare_run(loop))
        names.append(f"bare asyncpg loop ({loop})")
    # --- PROCESSES SLOT -------------------------------------------------------------
    # `dbprobe select --processes 2` (issue 8 builds processes): until run_select takes
    # LoadPlan.processes, two measure processes side by side with half the workers each
    # stand in for it. Replace this lambda with
    #   measure("probe", probe_args | {"processes": 2})["driver"]["per_s"]
    # once measure.probe passes "processes" on to LoadPlan and run_select honours it.
    half = dict(bare_args, workers=max(1, s.workers // 2), instrumented=True)
    half["per_worker"] = bare_args["per_worker"]
    runs.append(
        lambda: sum(o["per_s"] for o in _measure_many([("workload", half), ("workload", half)]))
    )
    names.append(
        f"select via=driver, 2 processes x {half['workers']} workers, instrumented "
        "(stand-in for --processes 2)"
    )
    # ---------------------------------------------------------------------------------
    try:
        samples = _interleaved(s.repeat, *runs, label="ceiling")
    finally:
        script.unlink()
    by_name = dict(zip(names, samples, strict=True))
    reference = by_name["pgbench, same statement"]
    figures = [
        Figure(
            f"select via=driver, {s.workers} workers ({loop})",
            "/s",
            by_name[f"select via=driver ({loop})"],
            "pgbench -M prepared, same statement",
            reference,
            # The target is the default loop's (--loop auto: uvloop when installed).
            Target(Check.RATIO_AT_LEAST, 0.5) if loop == loops[-1] else None,
        )
        for loop in loops
    ]
    figures += [
        Figure(
            f"bare asyncpg loop, {s.workers} connections ({loop})",
            "/s",
            by_name[f"bare asyncpg loop ({loop})"],
            "pgbench -M prepared, same statement",
            reference,
        )
        for loop in loops
    ]
    figures.append(
        Figure(
            names[-1],
            "/s",
            by_name[names[-1]],
            "pgbench -M prepared, same statement",
            reference,
            Target(Check.RATIO_AT_LEAST, 0.5),
        )
    )
    figures.append(
        Figure(
            f"pgbench -S -M prepared, {s.workers} clients",
            "/s",
            by_name["pgbench -S"],
            "pgbench -M prepared, same statement",
            reference,
        )
    )
    return Section("ceiling", "Ceiling: one process against pgbench", method, tuple(figures))


def accuracy(s: Settings, pg: Pg) -> Section:
    sleep_s = 0.005
    workers = 4
    method = f"""
The p50 latency dbprobe records for `SELECT pg_sleep({sleep_s})` at {workers} workers
(`run_workload`, one bare asyncpg connection per worker, prepared) against pgbench's
average latency for the same statement, clients and protocol (`pgbench -M prepared -f
script -c {workers} -T {max(1, round(s.duration_s))}`), interleaved. pg_sleep's spread is
narrow, so its median and mean agree to a few µs.
"""
    script = Path(tempfile.mkstemp(suffix=".sql")[1])
    script.write_text(f"SELECT pg_sleep({sleep_s});\n")
    args = {"url": pg.url, "workers": workers, "sleep_s": sleep_s, "duration_s": s.duration_s}
    try:
        ours, ref = _interleaved(
            s.repeat,
            lambda: float(measure("sleep", args)["p50_ms"]),
            lambda: pgbench(
                pg,
                pg.database,
                "-n",
                "-M",
                "prepared",
                "-f",
                str(script),
                "-c",
                str(workers),
                "-T",
                str(max(1, round(s.duration_s))),
            )["latency_ms"],
            label="accuracy",
        )
    finally:
        script.unlink()
    return Section(
        "accuracy",
        "Accuracy",
        method,
        (
            Figure(
                f"p50 of pg_sleep({sleep_s}), {workers} workers",
                "ms",
                ours,
                "pgbench latency average",
                ref,
                Target(Check.RATIO_WITHIN, 0.10),
            ),
        ),
    )


#: The foreign-key index the ``indexes`` section drops, and the catalogue entry it serves.
_LAZY_INDEX = "ix_session_exercises_session_id"
_LAZY_ENTRY = "session_exercises_lazy"


def _repo_p50(pg: Pg, s: Settings, out: Path) -> tuple[float, list[dict[str, Any]]]:
    """p50 (ms) of the lazy exercises entry, and the run's index findings."""
    transactions = "2" if s.smoke else "20"
    args = ["repo", "--db", pg.url, "--scale", s.scale, "--only", _LAZY_ENTRY]
    args += ["--transactions", transactions, "--explain", "--quiet", "--json", str(out)]
    done = subprocess.run(
        [sys.executable, "-m", "dbprobe", *args], capture_output=True, text=True, check=False
    )
    if done.returncode not in (0, 1):
        raise RuntimeError(f"dbprobe repo failed:\n{done.stderr[-3000:]}")
    report = json.loads(out.read_text())
    (op,) = report["operations"]
    index_kinds = ("unindexed_foreign_key", "seq_scan", "sort_without_index")
    return float(op["latency_ms"]["p50"]), [
        f for f in report["findings"] if f["kind"] in index_kinds
    ]


def indexes(s: Settings, pg: Pg) -> Section:
    method = f"""
The advice of `--explain`, applied. `{_LAZY_ENTRY}` (a session, then its exercises
lazily, then each exercise's movement) at scale {s.scale}, with dbprobe's index
`{_LAZY_INDEX}` dropped, against the same run after executing the `CREATE INDEX`
that run's `unindexed_foreign_key` finding gave, interleaved: the index is dropped
before each sample without it and created from the finding before each sample with it.
Each sample is `dbprobe repo --explain` in a fresh process.
"""
    out = Path(tempfile.mkstemp(suffix=".json")[1])
    advice: list[str] = []

    async def execute(sql: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(pg.url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def without() -> float:
        asyncio.run(execute(f"DROP INDEX IF EXISTS dbprobe.{_LAZY_INDEX}"))
        p50, findings = _repo_p50(pg, s, out)
        found = [f["evidence"]["create_index"] for f in findings]
        if not found:
            raise RuntimeError(f"no index finding with {_LAZY_INDEX} dropped")
        advice[:] = found
        return p50

    def with_advice() -> float:
        for sql in advice:
            asyncio.run(execute(sql))
        p50, findings = _repo_p50(pg, s, out)
        if findings:
            raise RuntimeError(f"the advice left index findings: {findings}")
        return p50

    try:
        slow, fast = _interleaved(s.repeat, without, with_advice, label="indexes")
    finally:
        asyncio.run(
            execute(
                f"CREATE INDEX IF NOT EXISTS {_LAZY_INDEX} "
                "ON dbprobe.session_exercises (session_id)"
            )
        )
        out.unlink(missing_ok=True)
    return Section(
        "indexes",
        "The advice of --explain, applied",
        method,
        (
            Figure(
                f"`{_LAZY_ENTRY}` p50, scale {s.scale}, foreign-key index dropped",
                "ms",
                slow,
                f"after its CREATE INDEX ({'; '.join(advice)})",
                fast,
            ),
        ),
    )


# ---------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    s = _settings(argv)
    pg = Pg.from_url(s.pg_url)
    started = time.perf_counter()
    load_before = os.getloadavg()
    have_pgbench = shutil.which("pgbench") is not None
    pg_version = asyncio.run(_pg_setup(pg, [pg.database, s.pgbench_db]))
    _log(f"PostgreSQL {pg_version}; sections: {', '.join(s.sections)}")
    sections: list[Section] = []
    if "seeding" in s.sections:
        sections.append(seeding(s, pg) if have_pgbench else _no_pgbench("seeding", "Seeding"))
    # The select workloads read the scale seeded here (already there after seeding).
    measure("ensure", {"url": pg.url, "scale": s.scale})
    if "memory" in s.sections:
        sections.append(memory(s))
    if "startup" in s.sections:
        sections.append(startup(s))
    if "overhead" in s.sections:
        sections.append(overhead(s, pg))
    if "ceiling" in s.sections:
        sections.append(ceiling(s, pg) if have_pgbench else _no_pgbench("ceiling", "Ceiling"))
    if "accuracy" in s.sections:
        sections.append(accuracy(s, pg) if have_pgbench else _no_pgbench("accuracy", "Accuracy"))
    if "indexes" in s.sections:
        sections.append(indexes(s, pg))
    load_after = os.getloadavg()
    took = time.perf_counter() - started
    preamble = (
        f"Measured by `python benchmarks/run.py{' --smoke' if s.smoke else ''}` on "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC in {took / 60:.1f} min: "
        f"{s.repeat} sample(s) per figure, medians shown, each against a reference measured "
        f"in the same run and interleaved with it. Load average (1 min) "
        f"{load_before[0]:.2f} at the start, {load_after[0]:.2f} at the end: on a shared "
        "machine the absolute figures move with other work; the ratios are what to read."
    )
    analysis = ANALYSIS.read_text() if ANALYSIS.exists() and not s.smoke else ""
    page = Page(
        "dbprobe performance",
        preamble,
        machine(pg_version),
        tuple(sections),
        analysis=analysis,
    )
    s.out.parent.mkdir(parents=True, exist_ok=True)
    s.out.write_text(render(page))
    _log(f"wrote {s.out}")
    return 0


def _no_pgbench(key: str, title: str) -> Section:
    return Section(key, title, "", skipped="pgbench is not on the PATH")


if __name__ == "__main__":
    sys.exit(main())
