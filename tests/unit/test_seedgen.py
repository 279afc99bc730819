from __future__ import annotations

import random

import pytest

from dbprobe.data.rows import COLUMNS, TABLE_ORDER, Checksum, generate
from dbprobe.data.scales import load_scale
from dbprobe.domain.planning import DAY_TYPES
from dbprobe.errors import ConfigError


def _checksum(scale: str, seed: int) -> tuple[str, dict[str, int]]:
    checksum, rows = Checksum(), dict.fromkeys(TABLE_ORDER, 0)
    for batch in generate(load_scale(scale), seed):
        checksum.add_rows(batch.table, batch.rows)
        rows[batch.table] += len(batch.rows)
    return checksum.hexdigest(), rows


def test_same_scale_and_seed_generate_the_same_rows() -> None:
    assert _checksum("tiny", 1) == _checksum("tiny", 1)


def test_another_seed_generates_other_rows_of_the_same_fixed_tables() -> None:
    (a, rows_a), (b, rows_b) = _checksum("tiny", 1), _checksum("tiny", 2)
    assert a != b
    scale = load_scale("tiny")
    for rows in (rows_a, rows_b):
        assert (rows["users"], rows["movements"], rows["programs"], rows["accounts"]) == (
            scale.users, scale.movements, scale.programs, scale.accounts,
        )  # fmt: skip


def test_programs_follow_the_shape_of_the_scale() -> None:
    scale = load_scale("tiny")
    batches = list(generate(scale, 3))
    programs = [r for b in batches if b.table == "programs" for r in b.rows]
    cycles = [r for b in batches if b.table == "microcycles" for r in b.rows]
    sessions = [r for b in batches if b.table == "sessions" for r in b.rows]
    exercises = [r for b in batches if b.table == "session_exercises" for r in b.rows]
    assert sum(p[3] for p in programs) == len(cycles)  # weeks
    assert sum(p[3] * p[4] for p in programs) == len(sessions)  # weeks x days
    for p in programs:
        assert scale.weeks[0] <= p[3] <= scale.weeks[1]
        assert p[4] in DAY_TYPES
    per_session: dict[int, int] = {}
    for e in exercises:
        per_session[e[1]] = per_session.get(e[1], 0) + 1
    assert set(per_session) == {s[0] for s in sessions}
    low, high = scale.exercises_per_session
    assert all(low <= n <= high for n in per_session.values())


def test_ids_are_dense_and_foreign_keys_point_at_earlier_rows() -> None:
    seen: dict[str, set[int]] = {t: set() for t in TABLE_ORDER}
    parents = {"programs": ("users", 1), "microcycles": ("programs", 1),
               "sessions": ("microcycles", 1), "session_exercises": ("sessions", 1),
               "accounts": ("users", 1)}  # fmt: skip
    for batch in generate(load_scale("tiny"), 5):
        assert all(len(row) == len(COLUMNS[batch.table]) for row in batch.rows)
        for row in batch.rows:
            if batch.table in parents:
                parent, column = parents[batch.table]
                assert row[column] in seen[parent]
            seen[batch.table].add(row[0])
    for ids in seen.values():
        assert ids == set(range(1, len(ids) + 1))


def test_unknown_scale_lists_the_known_ones() -> None:
    with pytest.raises(
        ConfigError, match="unknown scale 'huge': choose one of tiny, small, medium, large"
    ):
        load_scale("huge")


def test_checksum_folds_booleans_and_datetimes_as_both_backends_read_them_back() -> None:
    import datetime as dt

    a, b, c = Checksum(), Checksum(), Checksum()
    at = dt.datetime(2026, 1, 2, 3, 4, 5)
    a.add_rows("programs", [(1, 2, "P", 8, 4, True, at)])
    b.add_rows("programs", [(1, 2, "P", 8, 4, 1, at.replace(tzinfo=dt.UTC))])
    c.add_rows("programs", [(1, 2, "P", 8, 4, 0, at)])
    assert a.hexdigest() == b.hexdigest() != c.hexdigest()


def test_the_checksum_is_the_same_whether_rows_come_table_by_table_or_interleaved() -> None:
    # The seed hashes batches as generated (the program tables interleave);
    # the read-back (seed --verify) goes table by table, in parts of its own.
    batches = list(generate(load_scale("tiny"), 7))
    interleaved, by_table = Checksum(), Checksum()
    for batch in batches:
        interleaved.add_rows(batch.table, batch.rows)
    for table in reversed(TABLE_ORDER):
        rows = [r for b in batches if b.table == table for r in b.rows]
        for start in range(0, len(rows), 3):
            by_table.add_rows(table, rows[start : start + 3])
    assert interleaved.hexdigest() == by_table.hexdigest()
    assert interleaved.rows == by_table.rows == sum(len(b.rows) for b in batches)


def test_the_checksum_tells_which_table_a_row_is_in() -> None:
    a, b = Checksum(), Checksum()
    a.add_rows("microcycles", [(1, 1, 0)])
    b.add_rows("accounts", [(1, 1, 0)])
    assert a.hexdigest() != b.hexdigest()


# The seeded data itself, pinned: the rows of every dbprobe since the seed
# format was fixed (the generator was made faster twice without changing a
# row; these were computed before and after). A change here changes what
# every baseline was measured on: it needs a data version recorded in the
# reports and refused by compare, not a new expected value.
@pytest.mark.parametrize(
    ("scale", "seed", "rows", "checksum"),
    [
        ("tiny", 1, 1_715, "5fb39aad9567abb8a2c83a67f486044abf509d406a705ef5f740218c6b1d8b48"),
        ("tiny", 42, 1_897, "9f802fa5676aedfab71d1cfcf34d91b436be93510d93920005dd59c76ee39ccd"),
        ("small", 1, 42_778, "560d149388e78268428f67b32b11b84fef84918192247c5f1efefebf29fccde5"),
        ("small", 7, 43_127, "c0f3f220b87d28c68a617b4ef77b138a9d98707d0da142aeee6fb5105ded1742"),
        ("medium", 1, 565_877, "168179bf22ca95d3e47c2335157569b1640f95c80266db0780cae0ac598909ec"),
    ],
)
def test_the_seeded_rows_are_those_of_every_earlier_dbprobe(
    scale: str, seed: int, rows: int, checksum: str
) -> None:
    got, per_table = _checksum(scale, seed)
    assert (got, sum(per_table.values())) == (checksum, rows)


def test_the_generators_draws_are_randoms_own_for_every_bound() -> None:
    # _Draws consumes the generator as randint and choice do, bound by bound:
    # the same rows as random's own calls would give (what the pinned
    # checksums above rest on), whatever bounds a scale uses.
    from dbprobe.data.rows import _Draws

    ours, theirs = random.Random(2026), random.Random(2026)
    draws = _Draws(ours)
    for n in [*range(1, 300), 1_000, 4_096, 40_000, 2**31 - 1]:
        for _ in range(20):
            assert draws.below(n) == theirs.randrange(n)
            assert draws.between(3, n + 3) == theirs.randint(3, n + 3)
    assert ours.random() == theirs.random()  # and both streams are at the same place
