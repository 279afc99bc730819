"""An engine of a test's own models, as a user's project makes it: not one dbprobe built."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from dbprobe.database.url import Backend, Target


@asynccontextmanager
async def user_engine(
    target: Target, schema: str, metadata: MetaData
) -> AsyncIterator[AsyncEngine]:
    """A plain engine on ``target`` with ``metadata``'s tables created, disposed after.

    On PostgreSQL the tables live in a fresh ``schema`` of their own (the
    connections' search_path), so modules never see each other's tables.
    """
    if target.backend is Backend.POSTGRESQL:
        admin = create_async_engine(target.url)
        async with admin.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
            await conn.execute(text(f"CREATE SCHEMA {schema}"))
        await admin.dispose()
        engine = create_async_engine(
            target.url, connect_args={"server_settings": {"search_path": schema}}
        )
    else:
        engine = create_async_engine(target.url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield engine
    finally:
        await engine.dispose()
