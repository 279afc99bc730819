"""The Hermitage anomaly tests, kept as data.

Martin Kleppmann's Hermitage (https://github.com/ept/hermitage) probes an
isolation level with scripted interleavings of two or three transactions on a
two-row table ``test (id int primary key, value int)`` holding ``1 => 10`` and
``2 => 20``. Each test below is written as in its ``postgres.md``: the steps in
the order they are run, each on a named transaction (``T1``, ``T2``, ``T3``;
``after`` is a fresh transaction begun once all the others have ended, to read
the final state), with the results a read may show.

A test declares its anomaly as observations: labelled reads that, seen together,
show the anomaly happened (T2 read the value T1 rolled back; the final state
holds only one of two increments...); :mod:`dbprobe.probes.isolation.verdicts`
judges a run of one. Standard library only: the CLI lists the test names
without importing SQLAlchemy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = [
    "AFTER",
    "CATALOGUE",
    "TABLE",
    "TEST_NAMES",
    "Anomaly",
    "HermitageTest",
    "Rows",
    "Step",
    "format_rows",
    "parse_rows",
    "script_text",
    "select_tests",
]

#: The probe's own table; Hermitage calls it ``test``. Nothing else is touched.
TABLE = "isolation_test"

#: A transaction begun after all the scripted ones ended: it reads the final state.
AFTER = "after"

#: Rows as ``((id, value), ...)`` sorted by id; ``()`` is "returns nothing".
Rows = tuple[tuple[int, int], ...]

_ROW = re.compile(r"\s*(-?\d+)\s*=>\s*(-?\d+)\s*")


def parse_rows(text: str) -> Rows:
    """Hermitage's notation ``"1 => 10, 2 => 20"`` (``""``: no rows) as sorted Rows."""
    if not text.strip():
        return ()
    rows = []
    for part in text.split(","):
        m = _ROW.fullmatch(part)
        if m is None:
            raise ValueError(f"cannot read {part!r} in {text!r}: expected 'id => value'")
        rows.append((int(m[1]), int(m[2])))
    return tuple(sorted(rows))


def format_rows(rows: Rows) -> str:
    """Rows in Hermitage's notation; ``nothing`` for no rows."""
    return ", ".join(f"{i} => {v}" for i, v in rows) if rows else "nothing"


_WRITE_SQL = re.compile(r"^\s*(insert|update|delete)\b", re.IGNORECASE)
_END_SQL = frozenset({"commit", "abort", "rollback"})


@dataclass(frozen=True)
class Step:
    """One statement of the script, run by transaction ``tx``.

    ``sql`` is a statement, or ``commit`` / ``abort`` (``rollback``). A read
    whose result the verdict looks at has a ``label`` and lists in ``shows``
    every result a correct database may return there (the anomalous ones
    included); ``note`` is what Hermitage says happens on PostgreSQL.
    """

    tx: str
    sql: str
    label: str | None = None
    shows: tuple[str, ...] = ()
    note: str = ""

    @property
    def is_commit(self) -> bool:
        return self.sql.strip().lower() == "commit"

    @property
    def is_end(self) -> bool:
        return self.sql.strip().lower() in _END_SQL

    @property
    def is_write(self) -> bool:
        return _WRITE_SQL.match(self.sql) is not None

    @property
    def possible_rows(self) -> tuple[Rows, ...]:
        return tuple(parse_rows(s) for s in self.shows)


@dataclass(frozen=True)
class Anomaly:
    """Observations that, all seen, show the anomaly: ``{label: rows}``, and what it means."""

    seen: Mapping[str, str]
    meaning: str


@dataclass(frozen=True)
class HermitageTest:
    """One Hermitage test: the anomaly it looks for, and the script that would show it."""

    name: str
    title: str
    description: str
    steps: tuple[Step, ...]
    anomalies: tuple[Anomaly, ...]

    def __post_init__(self) -> None:
        # A test that names a read it lacks, or a result the read cannot show,
        # could never be judged allowed: refuse it where it is written.
        labels = [s.label for s in self.steps if s.label is not None]
        if len(labels) != len(set(labels)):
            raise ValueError(f"{self.name}: a label names two reads")
        if not self.anomalies or not all(a.seen for a in self.anomalies):
            raise ValueError(f"{self.name}: every anomaly needs at least one observation")
        for anomaly in self.anomalies:
            for label, rows in anomaly.seen.items():
                if label not in labels:
                    raise ValueError(f"{self.name}: the anomaly reads {label!r}, no step has it")
                if parse_rows(rows) not in self.steps[self.step_of(label)].possible_rows:
                    raise ValueError(f"{self.name}: {label!r} does not list {rows!r} in shows")

    @property
    def transactions(self) -> tuple[str, ...]:
        """The transactions in the order they first appear (``after`` last)."""
        return tuple(dict.fromkeys(s.tx for s in self.steps))

    def writes(self, tx: str) -> bool:
        """Whether ``tx`` writes: SQLite's ``immediate`` mode begins those with BEGIN IMMEDIATE."""
        return any(s.is_write for s in self.steps if s.tx == tx)

    def step_of(self, label: str) -> int:
        for index, step in enumerate(self.steps):
            if step.label == label:
                return index
        raise KeyError(label)


# --------------------------------------------------------------------------- the tests


def _s(tx: str, sql: str, note: str = "") -> Step:
    return Step(tx, sql, note=note)


def _read(tx: str, sql: str, label: str, *shows: str, note: str = "") -> Step:
    return Step(tx, sql, label=label, shows=shows, note=note)


_ALL = "1 => 10, 2 => 20"

# The steps are laid out one to a line, as in Hermitage's write-up; the formatter
# would spread each over five.
# fmt: off
CATALOGUE: tuple[HermitageTest, ...] = (
    HermitageTest(
        name="G0",
        title="Write Cycles (dirty writes)",
        description=(
            "T1 and T2 both update rows 1 and 2, interleaved; the final state must be "
            "all T1's or all T2's writes, never a mix."
        ),
        steps=(
            _s("T1", f"update {TABLE} set value = 11 where id = 1"),
            _s("T2", f"update {TABLE} set value = 12 where id = 1", "BLOCKS"),
            _s("T1", f"update {TABLE} set value = 21 where id = 2"),
            _s("T1", "commit", "This unblocks T2"),
            _s("T2", f"update {TABLE} set value = 22 where id = 2"),
            _s("T2", "commit"),
            _read(AFTER, f"select * from {TABLE}", "final",
                  "1 => 12, 2 => 22",  # T2 after T1
                  "1 => 11, 2 => 21",  # T2 aborted
                  "1 => 11, 2 => 22", "1 => 12, 2 => 21",  # a mix
                  note="Shows 1 => 12, 2 => 22"),
        ),
        anomalies=(
            Anomaly({"final": "1 => 11, 2 => 22"}, "the final state mixes T1's and T2's writes"),
            Anomaly({"final": "1 => 12, 2 => 21"}, "the final state mixes T1's and T2's writes"),
        ),
    ),
    HermitageTest(
        name="G1a",
        title="Aborted Reads (dirty reads, cascaded aborts)",
        description="T2 must never see the value T1 wrote and then rolled back.",
        steps=(
            _s("T1", f"update {TABLE} set value = 101 where id = 1"),
            _read("T2", f"select * from {TABLE}", "t2_before_abort",
                  _ALL, "1 => 101, 2 => 20", note="Still shows 1 => 10"),
            _s("T1", "abort"),
            _read("T2", f"select * from {TABLE}", "t2_after_abort",
                  _ALL, "1 => 101, 2 => 20", note="Still shows 1 => 10"),
            _s("T2", "commit"),
        ),
        anomalies=(
            Anomaly({"t2_before_abort": "1 => 101, 2 => 20"}, "T2 read T1's aborted write 101"),
            Anomaly({"t2_after_abort": "1 => 101, 2 => 20"}, "T2 read T1's aborted write 101"),
        ),
    ),
    HermitageTest(
        name="G1b",
        title="Intermediate Reads (dirty reads)",
        description="T2 must never see 101, a value T1 overwrote before it committed.",
        steps=(
            _s("T1", f"update {TABLE} set value = 101 where id = 1"),
            _read("T2", f"select * from {TABLE}", "t2_before_commit",
                  _ALL, "1 => 101, 2 => 20", note="Still shows 1 => 10"),
            _s("T1", f"update {TABLE} set value = 11 where id = 1"),
            _s("T1", "commit"),
            _read("T2", f"select * from {TABLE}", "t2_after_commit",
                  "1 => 11, 2 => 20",  # read committed: a fresh snapshot per statement
                  _ALL,  # snapshot isolation: the transaction's first snapshot
                  "1 => 101, 2 => 20", note="Now shows 1 => 11"),
            _s("T2", "commit"),
        ),
        anomalies=(
            Anomaly({"t2_before_commit": "1 => 101, 2 => 20"}, "T2 read T1's intermediate 101"),
            Anomaly({"t2_after_commit": "1 => 101, 2 => 20"}, "T2 read T1's intermediate 101"),
        ),
    ),
    HermitageTest(
        name="G1c",
        title="Circular Information Flow (dirty reads)",
        description=(
            "T1 and T2 each update one row, then read the other's row before either "
            "commits; each seeing the other's write would be a cycle."
        ),
        steps=(
            _s("T1", f"update {TABLE} set value = 11 where id = 1"),
            _s("T2", f"update {TABLE} set value = 22 where id = 2"),
            _read("T1", f"select * from {TABLE} where id = 2", "t1_reads_2",
                  "2 => 20", "2 => 22", note="Still shows 2 => 20"),
            _read("T2", f"select * from {TABLE} where id = 1", "t2_reads_1",
                  "1 => 10", "1 => 11", note="Still shows 1 => 10"),
            _s("T1", "commit"),
            _s("T2", "commit"),
        ),
        anomalies=(
            Anomaly({"t1_reads_2": "2 => 22", "t2_reads_1": "1 => 11"},
                    "T1 read T2's uncommitted write and T2 read T1's"),
        ),
    ),
    HermitageTest(
        name="OTV",
        title="Observed Transaction Vanishes",
        description=(
            "T3 reads while T1 and T2 update both rows in turn; once T3 has seen T2's "
            "write to row 2 it must not then see row 1 without T2's write."
        ),
        steps=(
            _s("T1", f"update {TABLE} set value = 11 where id = 1"),
            _s("T1", f"update {TABLE} set value = 19 where id = 2"),
            _s("T2", f"update {TABLE} set value = 12 where id = 1", "BLOCKS"),
            _s("T1", "commit", "This unblocks T2"),
            _read("T3", f"select * from {TABLE} where id = 1", "t3_row1_first",
                  "1 => 11", note="Shows 1 => 11"),
            _s("T2", f"update {TABLE} set value = 18 where id = 2"),
            _read("T3", f"select * from {TABLE} where id = 2", "t3_row2_first",
                  "2 => 19", note="Shows 2 => 19"),
            _s("T2", "commit"),
            _read("T3", f"select * from {TABLE} where id = 2", "t3_row2_second",
                  "2 => 19", "2 => 18", note="Shows 2 => 18"),
            _read("T3", f"select * from {TABLE} where id = 1", "t3_row1_second",
                  "1 => 11", "1 => 12", note="Shows 1 => 12"),
            _s("T3", "commit"),
        ),
        anomalies=(
            Anomaly({"t3_row2_second": "2 => 18", "t3_row1_second": "1 => 11"},
                    "T3 saw T2's write to row 2, then row 1 without T2's write: T2 vanished"),
        ),
    ),
    HermitageTest(
        name="PMP",
        title="Predicate-Many-Preceders",
        description=(
            "T1 reads by a predicate twice; a row T2 inserts and commits in between "
            "must not appear in T1's second read."
        ),
        steps=(
            _read("T1", f"select * from {TABLE} where value = 30", "t1_first",
                  "", note="Returns nothing"),
            _s("T2", f"insert into {TABLE} (id, value) values (3, 30)"),
            _s("T2", "commit"),
            _read("T1", f"select * from {TABLE} where value % 3 = 0", "t1_second",
                  "", "3 => 30", note="Returns the newly inserted row"),
            _s("T1", "commit"),
        ),
        anomalies=(
            Anomaly({"t1_second": "3 => 30"}, "T1's second predicate read saw T2's new row"),
        ),
    ),
    HermitageTest(
        name="P4",
        title="Lost Update",
        description=(
            "T1 and T2 both read row 1 (10) and write 10 + 1; if both commit, the "
            "final 11 has lost one increment."
        ),
        steps=(
            _read("T1", f"select * from {TABLE} where id = 1", "t1_reads", "1 => 10"),
            _read("T2", f"select * from {TABLE} where id = 1", "t2_reads", "1 => 10"),
            _s("T1", f"update {TABLE} set value = 11 where id = 1"),
            _s("T2", f"update {TABLE} set value = 11 where id = 1", "BLOCKS"),
            _s("T1", "commit", "This unblocks T2, so T1's update is overwritten"),
            _s("T2", "commit"),
            _read(AFTER, f"select * from {TABLE} where id = 1", "final", "1 => 11"),
        ),
        anomalies=(
            Anomaly({"final": "1 => 11"}, "both committed 10 + 1: one increment was lost"),
        ),
    ),
    HermitageTest(
        name="G-single",
        title="Single Anti-dependency Cycles (read skew)",
        description=(
            "T1 reads row 1, T2 moves value between rows 1 and 2 and commits, T1 reads "
            "row 2: T1 must not see row 1 before T2 and row 2 after it."
        ),
        steps=(
            _read("T1", f"select * from {TABLE} where id = 1", "t1_reads_1",
                  "1 => 10", note="Shows 1 => 10"),
            _read("T2", f"select * from {TABLE} where id = 1", "t2_reads_1", "1 => 10"),
            _read("T2", f"select * from {TABLE} where id = 2", "t2_reads_2", "2 => 20"),
            _s("T2", f"update {TABLE} set value = 12 where id = 1"),
            _s("T2", f"update {TABLE} set value = 18 where id = 2"),
            _s("T2", "commit"),
            _read("T1", f"select * from {TABLE} where id = 2", "t1_reads_2",
                  "2 => 20", "2 => 18", note="Shows 2 => 18"),
            _s("T1", "commit"),
        ),
        anomalies=(
            Anomaly({"t1_reads_1": "1 => 10", "t1_reads_2": "2 => 18"},
                    "T1 saw row 1 before T2 and row 2 after it (10 + 18, a sum that never was)"),
        ),
    ),
    HermitageTest(
        name="G2-item",
        title="Item Anti-dependency Cycles (write skew on disjoint read)",
        description=(
            "T1 and T2 both read rows 1 and 2, then each updates a different one; both "
            "committing means each acted on a value the other changed."
        ),
        steps=(
            _read("T1", f"select * from {TABLE} where id in (1, 2)", "t1_reads", _ALL),
            _read("T2", f"select * from {TABLE} where id in (1, 2)", "t2_reads", _ALL),
            _s("T1", f"update {TABLE} set value = 11 where id = 1"),
            _s("T2", f"update {TABLE} set value = 21 where id = 2"),
            _s("T1", "commit"),
            _s("T2", "commit"),
            _read(AFTER, f"select * from {TABLE}", "final",
                  "1 => 11, 2 => 21", "1 => 11, 2 => 20", "1 => 10, 2 => 21"),
        ),
        anomalies=(
            Anomaly({"final": "1 => 11, 2 => 21"},
                    "both committed, each having read the row the other changed"),
        ),
    ),
    HermitageTest(
        name="G2",
        title="Anti-Dependency Cycles (write skew on predicate read)",
        description=(
            "T1 and T2 both read the rows with value % 3 = 0 (none), then each inserts "
            "one; both committing means neither saw the other's row."
        ),
        steps=(
            _read("T1", f"select * from {TABLE} where value % 3 = 0", "t1_reads", ""),
            _read("T2", f"select * from {TABLE} where value % 3 = 0", "t2_reads", ""),
            _s("T1", f"insert into {TABLE} (id, value) values (3, 30)"),
            _s("T2", f"insert into {TABLE} (id, value) values (4, 42)"),
            _s("T1", "commit"),
            _s("T2", "commit"),
            _read(AFTER, f"select * from {TABLE} where value % 3 = 0", "final",
                  "3 => 30, 4 => 42", "3 => 30", "4 => 42"),
        ),
        anomalies=(
            Anomaly({"final": "3 => 30, 4 => 42"},
                    "both inserts committed, each after a predicate read that missed the other"),
        ),
    ),
)
# fmt: on


TEST_NAMES: tuple[str, ...] = tuple(t.name for t in CATALOGUE)


def script_text(test: HermitageTest) -> str:
    """The test as Hermitage writes it: one statement a line, ``-- T1`` and what it shows.

    For ``dbprobe isolation --list`` and for reading the catalogue without its code.
    """
    width = max(len(s.sql) for s in test.steps) + 1
    lines = [f"{test.name}: {test.title}", f"  {test.description}"]
    for step in test.steps:
        comment = f"-- {step.tx}" + (f". {step.note}" if step.note else "")
        lines.append(f"  {step.sql + ';':<{width}} {comment}")
    return "\n".join(lines)


def select_tests(names: Sequence[str]) -> tuple[HermitageTest, ...]:
    """The tests named (in catalogue order), all of them for no names; ValueError on unknown."""
    unknown = [n for n in names if n not in TEST_NAMES]
    if unknown:
        raise ValueError(f"unknown test {unknown[0]!r}: choose from {', '.join(TEST_NAMES)}")
    return tuple(t for t in CATALOGUE if not names or t.name in names)
