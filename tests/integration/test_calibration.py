"""The machine's references on real databases: every round gets its own."""

from __future__ import annotations

import asyncio

import pytest

from dbprobe.database.engine import Database
from dbprobe.load.calibration import Calibrator

pytestmark = pytest.mark.asyncio


async def test_a_round_trip_cut_short_does_not_cost_the_later_rounds_theirs(
    tiny_db: Database,
) -> None:
    # A phase ends by cancelling its helpers, the reference's round trips
    # among them: cancelled inside SELECT 1, the connection was left with a
    # transaction to roll back, and every later round of a SQLite repo run
    # measured no round trip at all.
    calibrator = await Calibrator.open(tiny_db)
    try:
        cut = asyncio.create_task(calibrator.measure(0))
        await asyncio.sleep(0)  # it runs its CPU loop and starts its first round trip
        cut.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cut
        later = [await calibrator.measure(r) for r in (1, 2)]
    finally:
        await calibrator.aclose()
    assert all(c.select_1_ms is not None and c.select_1_ms > 0 for c in later)
    assert [c.select_1_ms is not None for c in calibrator.rounds] == [True, True]
