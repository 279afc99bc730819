"""dbprobe's exceptions, and the classification of database errors.

The exception tree::

    DbprobeError                     root of everything dbprobe raises on purpose
    ├── UsageError                   the user asked for something that cannot be done (CLI exit 2)
    │   ├── ConfigError              an option value is out of range or malformed
    │   ├── DatabaseUrlError         a database URL is malformed or names an unsupported driver
    │   ├── ReportFileError          a report file cannot be read or is of a foreign schema
    │   ├── HistoryFileError         the history store is unreadable, corrupt or not dbprobe's
    │   ├── UnknownBaselineError     no saved baseline has the name asked for
    │   ├── ComparisonMismatchError  two runs of different probes, scales or backends compared
    │   ├── HtmlUnavailableError     an HTML report asked for without matplotlib
    │   └── OutputFileError          an output file or directory cannot be written where asked
    └── TargetError                  the target database refused us (CLI exit 2)
        ├── ConnectError             no connection: refused, unreachable, bad password, no database
        └── SeedStateError           the target holds a half-seeded or foreign dbprobe namespace

    Interrupted                      Ctrl-C or SIGTERM before measuring began (CLI exit 130)

The assertions of :mod:`dbprobe.assertions` (``QueryBudgetError``,
``NPlusOneError``) are ``AssertionError`` s, failures of the user's test rather
than errors of dbprobe, and live beside the checks that raise them.

Errors that happen *during* a measured operation are not raised to the user: they
are classified by :func:`classify_error` and counted in the report. The
classification reads SQLSTATE codes (PostgreSQL) and extended result codes
(SQLite), never message text, because messages are localised and change between
versions.
"""

from __future__ import annotations

import enum
import sqlite3

from sqlalchemy import exc as sa_exc

__all__ = [
    "ComparisonMismatchError",
    "ConfigError",
    "ConnectError",
    "DatabaseUrlError",
    "DbprobeError",
    "ErrorClass",
    "HistoryFileError",
    "HtmlUnavailableError",
    "Interrupted",
    "OutputFileError",
    "ReportFileError",
    "SeedStateError",
    "TargetError",
    "UnknownBaselineError",
    "UsageError",
    "classify_error",
    "error_code",
]


class DbprobeError(Exception):
    """Root of the errors dbprobe raises on purpose; its message is one line for the user."""


class UsageError(DbprobeError):
    """Raised when the user asked for something that cannot be done as asked."""


class ConfigError(UsageError):
    """Raised by option objects whose values are out of range or malformed."""


class DatabaseUrlError(UsageError):
    """Raised by URL resolution for a malformed URL or an unsupported dialect/driver."""


class ReportFileError(UsageError):
    """Raised when a report file is unreadable, truncated or of a foreign schema."""


class HistoryFileError(UsageError):
    """Raised by the history store when its file is unreadable, corrupt or not dbprobe's."""


class UnknownBaselineError(UsageError):
    """Raised by the history store when no baseline has the name asked for."""


class ComparisonMismatchError(UsageError):
    """Raised by the comparison for runs of different probes, scales or backends."""


class HtmlUnavailableError(UsageError):
    """Raised by the HTML renderer when matplotlib is not installed."""


class OutputFileError(UsageError):
    """Raised by the command line's check of the files it will write, before a run starts."""


class TargetError(DbprobeError):
    """Raised when the target database cannot be used."""


class ConnectError(TargetError):
    """Raised when the first connection to the target fails; the message says what to fix."""


class SeedStateError(TargetError):
    """Raised when the target's dbprobe namespace is in a state dbprobe will not touch."""


class Interrupted(Exception):
    """Raised when ``stop`` was set before any measurement began (e.g. while seeding)."""


class ErrorClass(enum.StrEnum):
    """What kind of failure a database error is; the key of ``error_classes`` in reports."""

    DEADLOCK = "deadlock"
    SERIALIZATION = "serialization"
    LOCK_TIMEOUT = "lock_timeout"
    STATEMENT_TIMEOUT = "statement_timeout"
    POOL_TIMEOUT = "pool_timeout"
    CONNECTION = "connection"
    OTHER = "other"

    @property
    def retryable(self) -> bool:
        """Whether running the transaction again can succeed without any change."""
        return self in _RETRYABLE


_RETRYABLE = frozenset({ErrorClass.DEADLOCK, ErrorClass.SERIALIZATION, ErrorClass.LOCK_TIMEOUT})

# https://www.postgresql.org/docs/current/errcodes-appendix.html
_SQLSTATE_CLASSES = {
    "40P01": ErrorClass.DEADLOCK,  # deadlock_detected
    "40001": ErrorClass.SERIALIZATION,  # serialization_failure
    "55P03": ErrorClass.LOCK_TIMEOUT,  # lock_not_available (lock_timeout, NOWAIT)
    "57014": ErrorClass.STATEMENT_TIMEOUT,  # query_canceled (statement_timeout)
    # too_many_connections (max_connections, a role's or database's CONNECTION LIMIT):
    # no connection was had, as with a refused one.
    "53300": ErrorClass.CONNECTION,
    "57P01": ErrorClass.CONNECTION,  # admin_shutdown (pg_terminate_backend, server stop)
    "57P02": ErrorClass.CONNECTION,  # crash_shutdown
    "57P03": ErrorClass.CONNECTION,  # cannot_connect_now (server starting up)
}

# https://www.sqlite.org/rescode.html: the primary code is the low byte.
_SQLITE_BUSY = 5
_SQLITE_LOCKED = 6
_SQLITE_CANTOPEN = 14
_SQLITE_BUSY_SNAPSHOT = 517  # a WAL reader tried to write over a newer snapshot


def error_code(exc: BaseException) -> str | None:
    """The SQLSTATE (PostgreSQL) or ``SQLITE_<n>`` extended code carried by ``exc``, if any."""
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        return sqlstate
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        return f"SQLITE_{sqlite_code}"
    return None


def classify_error(exc: BaseException) -> ErrorClass:
    """Classify an error raised by an operation, by SQLSTATE or SQLite result code."""
    # SQLAlchemy's pool timeout subclasses its own TimeoutError, not the builtin one.
    if isinstance(exc, sa_exc.TimeoutError):
        return ErrorClass.POOL_TIMEOUT
    orig = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    sqlstate = getattr(orig, "sqlstate", None)
    if isinstance(sqlstate, str):
        if sqlstate in _SQLSTATE_CLASSES:
            return _SQLSTATE_CLASSES[sqlstate]
        if sqlstate.startswith("08"):  # connection_exception class
            return ErrorClass.CONNECTION
        return ErrorClass.OTHER
    sqlite_code = getattr(orig, "sqlite_errorcode", None)
    if isinstance(sqlite_code, int):
        if sqlite_code == _SQLITE_BUSY_SNAPSHOT:
            return ErrorClass.SERIALIZATION
        if sqlite_code & 0xFF in (_SQLITE_BUSY, _SQLITE_LOCKED):
            return ErrorClass.LOCK_TIMEOUT
        if sqlite_code & 0xFF == _SQLITE_CANTOPEN:
            return ErrorClass.CONNECTION
        return ErrorClass.OTHER
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return ErrorClass.CONNECTION
    if isinstance(orig, (ConnectionError, OSError)) and not isinstance(orig, sqlite3.Error):
        return ErrorClass.CONNECTION
    if _is_asyncpg_connection_error(orig):
        return ErrorClass.CONNECTION
    return ErrorClass.OTHER


def _is_asyncpg_connection_error(exc: BaseException | None) -> bool:
    # asyncpg raises InterfaceError subclasses without a SQLSTATE when the socket
    # is gone (ConnectionDoesNotExistError carries 08003, but "connection was
    # closed in the middle of operation" does not); both mean the link is lost.
    try:
        import asyncpg
    except ImportError:  # pragma: no cover - asyncpg is a hard dependency
        return False
    cause = exc.__cause__ if exc is not None else None
    return isinstance(exc, asyncpg.exceptions.ConnectionDoesNotExistError) or isinstance(
        cause, (asyncpg.exceptions.ConnectionDoesNotExistError, ConnectionError)
    )
