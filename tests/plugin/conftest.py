from __future__ import annotations

from pathlib import Path

import pytest

from dbprobe.database.url import Target


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The --dbprobe-db of a generated suite: a fresh SQLite file, or the test PostgreSQL.

    Request it before `pytester` in a test's arguments: pytester unloads the
    modules first imported during its test, and a second import of asyncpg's
    compiled protocol and ssl in one process crashes it. Set up first, the
    PostgreSQL check imports them outside pytester's snapshot.
    """
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'plugin.sqlite3'}"
    target: Target = request.getfixturevalue("pg_target")
    return target.url.render_as_string(hide_password=False)
