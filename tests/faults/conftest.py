from __future__ import annotations

from collections.abc import Iterator

import pytest

from dbprobe.database.url import Target


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/faults/" in str(item.path):
            item.add_marker(pytest.mark.faults)


@pytest.fixture
def fault_db(pg_target: Target) -> Iterator[Target]:
    """A PostgreSQL database of the test's own, whose server settings the test may change."""
    import asyncio

    import asyncpg

    admin = pg_target.url.set(drivername="postgresql", database="postgres")
    dsn = admin.render_as_string(hide_password=False)

    async def run(*sql: str) -> None:
        conn = await asyncpg.connect(dsn)
        try:
            for statement in sql:
                await conn.execute(statement)
        finally:
            await conn.close()

    name = f"{pg_target.url.database}_faults"
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'))
    target = Target(pg_target.url.set(database=name), pg_target.backend)
    yield target
    asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
