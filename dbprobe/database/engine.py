"""Engines per backend: a :class:`~dbprobe.database.url.Target` into a connected :class:`Database`.

Nothing else in dbprobe builds an engine for a target: the pool, the
isolation level, SQLite's tuning (WAL, busy timeout, BEGIN IMMEDIATE for
writers) and PostgreSQL's ``search_path`` are decided here.
"""

from __future__ import annotations

import asyncio
import enum
import socket
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import AsyncAdaptedQueuePool

from dbprobe.database.sqlite_close import bound_graceful_close
from dbprobe.database.url import Backend, Target, mask_secret
from dbprobe.errors import ConfigError, ConnectError
from dbprobe.instrument.statements import note_lock_wait

__all__ = [
    "PG_SCHEMA",
    "Database",
    "Isolation",
    "PoolOptions",
    "build_engine",
    "open_database",
    "writing",
]

#: The PostgreSQL schema that holds every table dbprobe creates.
PG_SCHEMA = "dbprobe"

# A BEGIN IMMEDIATE that took this long waited for another writer's lock.
_LOCK_WAIT_NS = 1_000_000

#: The execution option that marks a write transaction (SQLite: BEGIN IMMEDIATE).
_WRITE_OPTION = "dbprobe_write"


class Isolation(enum.StrEnum):
    """Isolation levels a probe can ask for; SQLite offers only SERIALIZABLE."""

    READ_COMMITTED = "read_committed"
    REPEATABLE_READ = "repeatable_read"
    SERIALIZABLE = "serializable"

    @property
    def sql_name(self) -> str:
        return self.value.replace("_", " ").upper()


@dataclass(frozen=True)
class PoolOptions:
    """Connection-pool settings; ``size`` is the number of connections kept open."""

    size: int = 5
    max_overflow: int = 0
    timeout_s: float = 30.0
    connect_timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ConfigError(f"pool size must be at least 1, got {self.size}")
        if self.max_overflow < 0:
            raise ConfigError(f"pool max overflow must be 0 or more, got {self.max_overflow}")
        if self.timeout_s <= 0:
            raise ConfigError(f"pool timeout must be positive, got {self.timeout_s}")
        if self.connect_timeout_s <= 0:
            raise ConfigError(f"connect timeout must be positive, got {self.connect_timeout_s}")


@dataclass(frozen=True)
class Database:
    """A connected target: the engine, and session factories for read and write work."""

    target: Target
    engine: AsyncEngine
    server_version: str
    isolation: Isolation
    read_sessions: async_sessionmaker[Any]
    write_sessions: async_sessionmaker[Any]

    @property
    def backend(self) -> Backend:
        return self.target.backend

    async def dispose(self) -> None:
        await self.engine.dispose()


def _sqlite_tuning(engine: AsyncEngine, busy_timeout_ms: int) -> None:
    # pysqlite's own transaction handling defers BEGIN until the first write and
    # never emits BEGIN IMMEDIATE; take it over, as SQLAlchemy's docs recommend
    # (dialects/sqlite "Serializable isolation / Savepoints / Transactional DDL").
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # WAL lets readers run beside the single writer; NORMAL sync is the
        # setting WAL users pick (durable across application crashes).
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # A write transaction takes the write lock up front, so a concurrent
        # writer waits on busy_timeout instead of failing later with
        # SQLITE_BUSY_SNAPSHOT when it tries to upgrade a stale read snapshot.
        immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
        if not immediate:
            conn.exec_driver_sql("BEGIN")
            return
        started = time.perf_counter_ns()
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        waited = time.perf_counter_ns() - started
        if waited >= _LOCK_WAIT_NS:
            note_lock_wait(waited)


def build_engine(
    target: Target,
    pool: PoolOptions,
    isolation: Isolation,
    *,
    sqlite_busy_timeout_ms: int = 5000,
    own_schema: bool = True,
) -> AsyncEngine:
    """An AsyncEngine for ``target`` with dbprobe's per-backend settings; no I/O yet.

    ``own_schema=False`` leaves PostgreSQL's ``search_path`` as the server sets
    it: an engine for the user's own tables (the pytest plugin's default
    ``dbprobe_engine``), which must land where the user expects, not in dbprobe's schema.
    """
    kwargs: dict[str, Any] = {
        "pool_size": pool.size,
        "max_overflow": pool.max_overflow,
        "pool_timeout": pool.timeout_s,
        "pool_pre_ping": False,  # a ping per checkout would be counted in every latency
    }
    if target.backend is Backend.SQLITE:
        if isolation is not Isolation.SERIALIZABLE:
            raise ConfigError(
                f"--isolation {isolation.value} is not available on SQLite: its transactions "
                "are always serializable; use --isolation serializable or omit it"
            )
        path = target.sqlite_path
        assert path is not None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConnectError(
                f"cannot open {target.where}: its directory cannot be made "
                f"({exc.strerror or exc}); give a path in a writable directory"
            ) from None
        bound_graceful_close()
        kwargs["connect_args"] = {"timeout": sqlite_busy_timeout_ms / 1000}
        # Named, not left to the dialect: before SQLAlchemy 2.0.38 aiosqlite
        # files got a NullPool (a connection per checkout, and pool_size refused).
        kwargs["poolclass"] = AsyncAdaptedQueuePool
        engine = create_async_engine(target.url, **kwargs)
        _sqlite_tuning(engine, sqlite_busy_timeout_ms)
        return engine
    kwargs["isolation_level"] = isolation.sql_name
    settings = {"application_name": "dbprobe"}
    if own_schema:
        # Every unqualified name resolves in dbprobe's own schema, so probes can
        # never read or write a user's table of the same name in public.
        settings["search_path"] = PG_SCHEMA
    kwargs["connect_args"] = {"timeout": pool.connect_timeout_s, "server_settings": settings}
    return create_async_engine(target.url, **kwargs)


def writing(engine: AsyncEngine) -> AsyncEngine:
    """``engine`` whose transactions take SQLite's write lock when they begin
    (``BEGIN IMMEDIATE``); the same pool. No effect on PostgreSQL."""
    return engine.execution_options(**{_WRITE_OPTION: True})


async def open_database(
    target: Target,
    pool: PoolOptions | None = None,
    isolation: Isolation | None = None,
) -> Database:
    """Create the engine and make one connection, turning failures into ConnectError."""
    pool = pool or PoolOptions()
    if isolation is None:
        isolation = (
            Isolation.SERIALIZABLE if target.backend is Backend.SQLITE else Isolation.READ_COMMITTED
        )
    engine = build_engine(target, pool, isolation)
    try:
        version = await asyncio.wait_for(
            _server_version(engine, target), timeout=pool.connect_timeout_s + 1
        )
    except BaseException as exc:
        await engine.dispose()
        if isinstance(exc, Exception):
            raise ConnectError(_connect_failure_message(exc, target, pool)) from None
        raise
    write_engine = writing(engine)
    return Database(
        target=target,
        engine=engine,
        server_version=version,
        isolation=isolation,
        read_sessions=async_sessionmaker(engine, expire_on_commit=False),
        write_sessions=async_sessionmaker(write_engine, expire_on_commit=False),
    )


async def _server_version(engine: AsyncEngine, target: Target) -> str:
    async with engine.connect() as conn:
        if target.backend is Backend.SQLITE:
            version = (await conn.execute(text("select sqlite_version()"))).scalar_one()
            return f"SQLite {version}"
        version = (await conn.execute(text("show server_version"))).scalar_one()
        await conn.rollback()
        return f"PostgreSQL {version}"


def _connect_failure_message(exc: Exception, target: Target, pool: PoolOptions) -> str:
    where = f"{target.where} ({target.masked})"
    orig: BaseException = exc.orig if isinstance(exc, sa_exc.DBAPIError) and exc.orig else exc
    cause = orig.__cause__ or orig
    sqlstate = getattr(orig, "sqlstate", None) or getattr(cause, "sqlstate", None)
    user = target.url.username or "(none)"
    if sqlstate in ("28P01", "28000"):  # invalid_password, invalid_authorization_specification
        return (
            f"authentication failed for user {user!r} at {where}: "
            "check the user and password in --db or DBPROBE_DB_URL"
        )
    if sqlstate == "3D000":  # invalid_catalog_name
        return (
            f"database {target.url.database!r} does not exist at {target.where}: "
            f"create it (createdb {target.url.database}) or name another one in --db"
        )
    if isinstance(cause, socket.gaierror):
        return f"unknown host {target.url.host!r} in --db: check the host name"
    if isinstance(cause, ConnectionRefusedError) or (
        isinstance(cause, OSError) and cause.errno in (111, 61)
    ):
        return f"connection refused by {where}: is the server running and listening on that port?"
    # asyncio.wait_for (asyncpg's connect timeout, and ours) raises TimeoutError
    # *from* the CancelledError of the abandoned attempt: look at both links.
    if isinstance(orig, TimeoutError) or isinstance(cause, TimeoutError):
        return (
            f"no answer from {where} within {pool.connect_timeout_s:g} s: "
            "check the host, the port and any firewall"
        )
    if target.backend is Backend.SQLITE:
        return f"cannot open {where}: {mask_secret(str(cause), target)}"
    detail = mask_secret(str(cause).splitlines()[0] if str(cause) else type(cause).__name__, target)
    return f"cannot connect to {where}: {detail}"
