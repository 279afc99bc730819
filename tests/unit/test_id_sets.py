"""Drawing ids among those that exist: the same draws as before on a dense table (pure)."""

from __future__ import annotations

import random

import pytest

from dbprobe.data.ids import IdSet


def test_a_dense_set_draws_exactly_what_randint_draws() -> None:
    # A freshly seeded table gives a seed the same ids as 1..max(id) always did.
    ids = IdSet.dense(150)
    picked, drawn = random.Random(3), random.Random(3)
    assert [ids.pick(picked) for _ in range(200)] == [drawn.randint(1, 150) for _ in range(200)]
    sampled, drawn = random.Random(4), random.Random(4)
    assert ids.sample(sampled, 10) == drawn.sample(range(1, 151), 10)


def test_a_set_with_gaps_draws_only_its_members_and_the_same_ones_for_a_seed() -> None:
    ids = IdSet.of([2, 3, 4, 9, 10, 40])
    assert ids.runs == ((2, 4), (9, 10), (40, 40))
    assert (ids.count, ids.first(4)) == (6, IdSet.of([2, 3, 4, 9]))
    rng = random.Random(11)
    draws = [ids.pick(rng) for _ in range(300)]
    assert set(draws) == {2, 3, 4, 9, 10, 40}
    again = random.Random(11)
    assert draws == [ids.pick(again) for _ in range(300)]
    assert sorted(ids.sample(random.Random(1), 6)) == [2, 3, 4, 9, 10, 40]
    with pytest.raises(LookupError, match="no ids"):
        IdSet(()).pick(random.Random(1))
