"""Deterministic generation of the reference domain's rows (pure: no I/O).

The same scale and seed give the same rows, in the same order, on every
machine and for every backend: all randomness comes from one
``random.Random(seed)`` consumed in a fixed order. Rows are produced in
batches so that the ``large`` scale streams instead of building millions of
tuples in memory.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from dbprobe.data.scales import Scale, read_seed_file
from dbprobe.domain.planning import DAY_TYPES, REST_CHOICES_S, TYPE_REGIONS, estimated_minutes

__all__ = [
    "Checksum",
    "RowBatch",
    "generate",
]

_EPOCH = dt.datetime(2026, 1, 1)
_YEAR_S = 365 * 24 * 3600
_FIRST_NAMES = (
    "Ada",
    "Brook",
    "Cyd",
    "Dana",
    "Eli",
    "Fay",
    "Gus",
    "Hana",
    "Ivo",
    "Jo",
    "Kai",
    "Lea",
)
_LAST_NAMES = ("Moreau", "Okafor", "Petrov", "Quist", "Rossi", "Sato", "Tran", "Ueda", "Vance")
_PROGRAMS_PER_BATCH = 500
_FLAT_BATCH_ROWS = 10_000

# Column order of every generated table; the loaders insert in this order.
COLUMNS: dict[str, tuple[str, ...]] = {
    "users": ("id", "email", "name", "created_at"),
    "movements": (
        "id", "name", "pattern", "primary_muscle", "primary_region",
        "skill_level", "cns_load", "is_compound", "is_active",
    ),
    "programs": ("id", "user_id", "name", "weeks", "days_per_week", "is_active", "created_at"),
    "microcycles": ("id", "program_id", "week_index"),
    "sessions": ("id", "microcycle_id", "day_index", "session_type", "estimated_minutes"),
    "session_exercises": ("id", "session_id", "movement_id", "position", "sets", "reps", "rest_s"),
    "accounts": ("id", "owner_id", "balance"),
}  # fmt: skip

#: Tables in the order they are loaded (parents before children).
TABLE_ORDER: tuple[str, ...] = tuple(COLUMNS)


@dataclass(frozen=True)
class RowBatch:
    """Rows for one table, as tuples in :data:`COLUMNS` order."""

    table: str
    rows: list[tuple[Any, ...]]

    @property
    def columns(self) -> tuple[str, ...]:
        return COLUMNS[self.table]


@dataclass(frozen=True)
class _CatalogueEntry:
    name: str
    pattern: str
    muscle: str
    region: str


def _catalogue() -> tuple[list[str], list[_CatalogueEntry]]:
    data = read_seed_file("catalogue.toml")
    entries = [
        _CatalogueEntry(name, p["name"], muscle, p["region"])
        for p in data["pattern"]
        for name, muscle in p["movements"]
    ]
    return list(data["variants"]), entries


def generate(scale: Scale, seed: int) -> Iterator[RowBatch]:
    """Every row of the reference domain at ``scale`` for ``seed``, parents first."""
    rng = random.Random(seed)
    yield from _chunks("users", _users(scale, rng))
    movements = list(_movements(scale, rng))
    yield from _chunks("movements", iter(movements))
    by_region: dict[str, list[int]] = {}
    for row in movements:
        if row[8]:  # only active movements are programmed
            by_region.setdefault(row[4], []).append(row[0])
    yield from _programs(scale, rng, by_region)
    yield from _chunks("accounts", _accounts(scale))


def _chunks(table: str, rows: Iterator[tuple[Any, ...]]) -> Iterator[RowBatch]:
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == _FLAT_BATCH_ROWS:
            yield RowBatch(table, batch)
            batch = []
    if batch:
        yield RowBatch(table, batch)


def _timestamp(rng: random.Random) -> dt.datetime:
    return _EPOCH + dt.timedelta(seconds=rng.randrange(_YEAR_S))


def _users(scale: Scale, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    for i in range(1, scale.users + 1):
        name = f"{rng.choice(_FIRST_NAMES)} {rng.choice(_LAST_NAMES)}"
        yield (i, f"user{i}@example.test", name, _timestamp(rng))


def _movements(scale: Scale, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    variants, entries = _catalogue()
    for i in range(scale.movements):
        base = entries[i % len(entries)]
        variant = variants[(i // len(entries)) % len(variants)]
        lap = i // (len(entries) * len(variants))
        name = " ".join(part for part in (variant, base.name) if part)
        if lap:
            name = f"{name} {lap + 1}"
        yield (
            i + 1,
            name,
            base.pattern,
            base.muscle,
            base.region,
            rng.randint(1, 5),  # skill_level
            rng.randint(1, 5),  # cns_load
            base.region in ("lower", "upper") and base.pattern not in ("core",),
            rng.random() < 0.9,  # is_active
        )


def _programs(
    scale: Scale, rng: random.Random, by_region: dict[str, list[int]]
) -> Iterator[RowBatch]:
    # 80 % of a seed's rows are made here, ~7 draws a row: the draws are
    # random's own algorithm (see _Draws) and the loop keeps its counters in
    # locals, which made ``medium`` generate in half the time with the same rows.
    draw = _Draws(rng)
    below = draw.below
    programs: list[tuple[Any, ...]] = []
    microcycles: list[tuple[Any, ...]] = []
    sessions: list[tuple[Any, ...]] = []
    exercises: list[tuple[Any, ...]] = []
    microcycle_id = session_id = exercise_id = 0
    pools = {
        kind: [m for region in regions for m in by_region.get(region, ())]
        for kind, regions in TYPE_REGIONS.items()
    }
    exercises_low, exercises_high = scale.exercises_per_session
    exercise_counts = exercises_high - exercises_low + 1
    rests = len(REST_CHOICES_S)
    for program_id in range(1, scale.programs + 1):
        weeks = draw.between(*scale.weeks)
        days = draw.between(*scale.days_per_week)
        programs.append((
            program_id,
            draw.between(1, scale.users),
            f"Program {program_id}: {weeks}x{days}",
            weeks,
            days,
            rng.random() < 0.7,
            _timestamp(rng),
        ))  # fmt: skip
        day_types = DAY_TYPES[days]
        for week in range(weeks):
            microcycle_id += 1
            microcycles.append((microcycle_id, program_id, week))
            for day in range(days):
                session_id += 1
                session_type = day_types[day]
                pool = pools[session_type]
                pool_size = len(pool)
                prescriptions = []
                for position in range(exercises_low + below(exercise_counts)):
                    exercise_id += 1
                    sets = 2 + below(4)
                    reps = 3 + below(10)
                    rest_s = REST_CHOICES_S[below(rests)]
                    prescriptions.append((sets, reps, rest_s))
                    exercises.append((
                        exercise_id, session_id, pool[below(pool_size)],
                        position, sets, reps, rest_s,
                    ))  # fmt: skip
                minutes = estimated_minutes(prescriptions)
                sessions.append((session_id, microcycle_id, day, session_type, minutes))
        if len(programs) == _PROGRAMS_PER_BATCH or program_id == scale.programs:
            yield RowBatch("programs", programs)
            yield RowBatch("microcycles", microcycles)
            yield RowBatch("sessions", sessions)
            yield RowBatch("session_exercises", exercises)
            programs, microcycles, sessions, exercises = [], [], [], []


class _Draws:
    """``random.Random``'s integer draws, with its Python-level layers taken out.

    ``randint(a, b)``, ``randrange(n)`` and ``choice(seq)`` all come down to
    ``_randbelow(n)``: draw ``n.bit_length()`` random bits until the number is
    below ``n``. Doing that here consumes the generator exactly as they do, so
    the seeded rows are those of every earlier dbprobe (a test pins their
    checksums), at a third of the cost per draw.
    """

    def __init__(self, rng: random.Random) -> None:
        self._bits = rng.getrandbits

    def below(self, n: int) -> int:
        k = n.bit_length()
        bits = self._bits
        r = bits(k)
        while r >= n:
            r = bits(k)
        return r

    def between(self, low: int, high: int) -> int:
        """``randint(low, high)``."""
        return low + self.below(high - low + 1)


def _accounts(scale: Scale) -> Iterator[tuple[Any, ...]]:
    for i in range(1, scale.accounts + 1):
        yield (i, (i - 1) % scale.users + 1, scale.initial_balance_cents)


class Checksum:
    """SHA-256 of the seeded rows in a canonical text form that both backends read back alike.

    Each table is hashed on its own, its rows in id order, and the checksum is
    the hash of the tables' digests in :data:`TABLE_ORDER`. So the rows can be
    added as the generator makes them (its batches interleave the program
    tables) and compared with a read-back that goes table by table.

    SQLite returns booleans as integers and both return naive datetimes, so
    each value is folded to text the same way whatever the driver gave. The
    text function is chosen once per column, not per value: the fold ran for
    each of the 3.7 million values of a ``medium`` seed, a third of its time.
    """

    def __init__(self) -> None:
        self._tables: dict[str, Any] = {}
        self.rows = 0

    def add_rows(self, table: str, rows: Sequence[Sequence[Any]]) -> None:
        """Add ``rows`` of ``table`` (tuples in :data:`COLUMNS` order, ids ascending)."""
        if not rows:
            return
        texts = _COLUMN_TEXTS[table]
        digest = self._tables.get(table)
        if digest is None:
            digest = self._tables[table] = hashlib.sha256()
        columns = [
            map(text, values) for text, values in zip(texts, zip(*rows, strict=True), strict=True)
        ]
        digest.update("\n".join(map("\x1f".join, zip(*columns, strict=True))).encode())
        digest.update(b"\n")
        self.rows += len(rows)

    def hexdigest(self) -> str:
        whole = hashlib.sha256()
        for table in TABLE_ORDER:
            part = self._tables.get(table) or hashlib.sha256()
            whole.update(f"\x1e{table}\x1e{part.hexdigest()}".encode())
        return whole.hexdigest()


def _bool_text(value: Any) -> str:
    return "1" if value else "0"


def _datetime_text(value: dt.datetime) -> str:
    return value.replace(tzinfo=None).isoformat(sep=" ")


_BOOL_COLUMNS = frozenset({"is_compound", "is_active"})
_DATETIME_COLUMNS = frozenset({"created_at"})

# Integers and text are their own str(); only booleans (integers on SQLite)
# and datetimes need folding.
_COLUMN_TEXTS: dict[str, tuple[Any, ...]] = {
    table: tuple(
        _bool_text if c in _BOOL_COLUMNS else _datetime_text if c in _DATETIME_COLUMNS else str
        for c in columns
    )
    for table, columns in COLUMNS.items()
}
