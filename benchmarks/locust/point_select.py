"""The select probe's driver layer as a scenario file, for Locust (benchmarks/locust_bridge.py).

One bare asyncpg connection per user, the point select prepared once on it,
as ``dbprobe select --via driver`` does: what is left to compare is the way
each operation is driven (Locust's greenlet, the bridge to the event loop,
the request event) against dbprobe's own workers.
"""

from __future__ import annotations

from typing import Any

from dbprobe.database.engine import PG_SCHEMA
from dbprobe.probes.select.driver import ACCOUNT_BY_ID_PG
from dbprobe.scenarios import ScenarioContext, scenario

REFERENCE_DOMAIN = True  # the accounts the select reads: seeded at --dbprobe-scale
ACCOUNTS_AT_EVERY_SCALE = 16  # scale tiny has 16

_prepared: dict[int, Any] = {}  # the user's prepared statement, by user number
_connections: list[Any] = []


async def _statement(ctx: ScenarioContext) -> Any:
    import asyncpg

    statement = _prepared.get(ctx.worker)
    if statement is None:
        url = ctx.engine.url.set(drivername="postgresql")
        conn = await asyncpg.connect(
            url.render_as_string(hide_password=False), server_settings={"search_path": PG_SCHEMA}
        )
        _connections.append(conn)
        statement = _prepared[ctx.worker] = await conn.prepare(ACCOUNT_BY_ID_PG)
    return statement


@scenario
async def point_select(ctx: ScenarioContext) -> None:
    statement = await _statement(ctx)
    await statement.fetchrow(ctx.rng.randint(1, ACCOUNTS_AT_EVERY_SCALE))


async def teardown(engine: Any) -> None:
    """Close the users' connections (run once, by the master or the only process: a
    worker's are closed with its process)."""
    for conn in _connections:
        await conn.close(timeout=1)
