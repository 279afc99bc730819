"""Two queries on dbprobe's reference domain whose cost grows differently with the data.

    python -m dbprobe run examples/growth.py --scales tiny,small,medium --threads 1 --transactions 200

``by_primary_key`` stays constant; ``unindexed_filter`` filters on a column
no index serves, reads every row, and is reported as ``scales_with_data``.
"""

from sqlalchemy import text

import dbprobe

# Seed dbprobe's reference domain at each --scale (or each of --scales).
REFERENCE_DOMAIN = True


@dbprobe.scenario
async def by_primary_key(ctx):
    async with ctx.session_factory() as session:
        await session.execute(
            text("SELECT reps FROM session_exercises WHERE id = :id"),
            {"id": 1 + ctx.rng.randrange(1000)},  # ids every scale holds
        )


@dbprobe.scenario
async def unindexed_filter(ctx):
    async with ctx.session_factory() as session:
        await session.execute(
            text("SELECT COUNT(*) FROM session_exercises WHERE rest_s = :rest"), {"rest": 90}
        )
