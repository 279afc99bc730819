"""Names read from the catalog are quoted as identifiers, whatever they hold."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from dbprobe.data.scales import load_scale
from dbprobe.data.seeding import seed
from dbprobe.database.engine import open_database
from dbprobe.database.url import Target

pytestmark = pytest.mark.asyncio

ODD = 'fk "user" of; program'


async def test_a_constraint_name_with_a_double_quote_survives_a_reseed(
    private_pg: Target,
) -> None:
    db = await open_database(private_pg)
    try:
        first = await seed(db, load_scale("tiny"), 1)
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    "ALTER TABLE dbprobe.programs RENAME CONSTRAINT programs_user_id_fkey "
                    'TO "fk ""user"" of; program"'
                )
            )
        # The load drops the foreign keys and adds them back by their catalog names.
        second = await seed(db, load_scale("tiny"), 1)
        async with db.engine.connect() as conn:
            names = (
                (
                    await conn.execute(
                        text(
                            "SELECT conname FROM pg_constraint "
                            "WHERE conrelid = 'dbprobe.programs'::regclass AND contype = 'f'"
                        )
                    )
                )
                .scalars()
                .all()
            )
    finally:
        await db.dispose()
    assert second.checksum == first.checksum
    assert list(names) == [ODD]
