"""The database a user names: ``--db`` text into a validated :class:`Target`, and passwords masked.

Everything that turns a user's ``--db`` (or ``$DBPROBE_DB_URL``, or the
default SQLite file in dbprobe's data directory) into a Target lives here,
and so does the masking that keeps a password out of every output. No I/O.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

from dbprobe.errors import DatabaseUrlError

__all__ = [
    "Backend",
    "Target",
    "data_dir",
    "mask_secret",
    "mask_url_text",
    "resolve_target",
]


class Backend(enum.StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


_DRIVERS = {
    # dialect -> (driver dbprobe uses, drivers accepted as spelled by the user)
    "sqlite": ("aiosqlite", {None, "aiosqlite"}),
    "postgresql": ("asyncpg", {None, "asyncpg"}),
}


def data_dir(env: Mapping[str, str] | None = None) -> Path:
    """dbprobe's data directory: ``$DBPROBE_DATA_DIR``, else the XDG data home.

    The default SQLite file lives here, never in the current directory, so that
    ``python -m dbprobe`` behaves the same wherever it is started.
    """
    env = os.environ if env is None else env
    if env.get("DBPROBE_DATA_DIR"):
        return Path(env["DBPROBE_DATA_DIR"]).expanduser()
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base).expanduser() / "dbprobe"


@dataclass(frozen=True)
class Target:
    """A validated database URL with the async driver dbprobe uses for it."""

    url: URL
    backend: Backend

    @property
    def masked(self) -> str:
        """The URL as it may be shown anywhere: the password replaced by ``***``."""
        return self.url.render_as_string(hide_password=True)

    @property
    def sqlite_path(self) -> Path | None:
        return (
            Path(self.url.database)
            if self.backend is Backend.SQLITE and self.url.database
            else None
        )

    @property
    def where(self) -> str:
        """A short name of the place we connect to, for messages."""
        if self.backend is Backend.SQLITE:
            return f"SQLite file {self.url.database}"
        return f"{self.url.host or 'localhost'}:{self.url.port or 5432}"


def resolve_target(text: str | None, env: Mapping[str, str] | None = None) -> Target:
    """Turn ``--db`` (or ``$DBPROBE_DB_URL``, or the default SQLite file) into a Target.

    ``postgresql://`` and ``sqlite://`` get their async drivers; any other dialect or
    driver is refused with a message naming the ones dbprobe supports.
    """
    env = os.environ if env is None else env
    raw = text or env.get("DBPROBE_DB_URL") or ""
    if not raw:
        path = data_dir(env) / "dbprobe.sqlite3"
        return Target(URL.create("sqlite+aiosqlite", database=str(path)), Backend.SQLITE)
    example = (
        "expected e.g. postgresql+asyncpg://user@host:5432/dbname "
        "or sqlite+aiosqlite:///path/to/file.sqlite3"
    )
    try:
        url = make_url(raw)
    except sa_exc.ArgumentError:
        raise DatabaseUrlError(f"malformed database URL: {example}") from None
    except ValueError:
        # make_url parses the port with int() and lets its ValueError escape
        # (e.g. host:notaport, or an unclosed [IPv6 bracket); the message is
        # int()'s, not ours, so it is not shown.
        raise DatabaseUrlError(
            f"malformed database URL: the port after the host must be a number; {example}"
        ) from None
    if url.port is not None and not 1 <= url.port <= 65535:
        raise DatabaseUrlError(
            f"malformed database URL: port {url.port} is not between 1 and 65535; {example}"
        )
    dialect, _, driver = url.drivername.partition("+")
    if dialect == "postgres":  # Heroku-style spelling, accepted by most tools
        dialect = "postgresql"
    if dialect not in _DRIVERS:
        raise DatabaseUrlError(
            f"unsupported database {dialect!r} in --db: dbprobe supports "
            "postgresql+asyncpg://... and sqlite+aiosqlite:///path"
        )
    wanted, accepted = _DRIVERS[dialect]
    if (driver or None) not in accepted:
        raise DatabaseUrlError(
            f"unsupported driver {dialect}+{driver} in --db: dbprobe drives {dialect} "
            f"through {wanted}; use {dialect}+{wanted}://..."
        )
    url = url.set(drivername=f"{dialect}+{wanted}")
    backend = Backend(dialect)
    if backend is Backend.SQLITE:
        if not url.database or url.database == ":memory:":
            raise DatabaseUrlError(
                "an in-memory SQLite database cannot be shared by concurrent workers: "
                "give a file, e.g. sqlite+aiosqlite:///probe.sqlite3"
            )
        url = url.set(database=str(Path(url.database).expanduser().resolve()))
    elif not url.database:
        raise DatabaseUrlError(
            f"no database name in --db {url.render_as_string(hide_password=True)}: "
            "add one, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        )
    return Target(url, backend)


_URL_IN_TEXT = re.compile(
    r"(?P<scheme>[A-Za-z][\w+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@\s]*)@"
)


def mask_url_text(text: str) -> str:
    """Replace the password of any ``scheme://user:password@`` in ``text`` with ``***``."""
    return _URL_IN_TEXT.sub(lambda m: f"{m['scheme']}{m['user']}:***@", text)


def mask_secret(message: str, target: Target) -> str:
    """Remove the target's password from an arbitrary message (e.g. a driver's)."""
    password = target.url.password
    if password:
        message = message.replace(str(password), "***")
    return mask_url_text(message)
