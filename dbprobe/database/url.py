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
from urllib.parse import quote

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url

from dbprobe.errors import DatabaseUrlError

__all__ = [
    "KEPT_MESSAGE_CHARS",
    "Backend",
    "Target",
    "cut",
    "data_dir",
    "error_line",
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
        return _shown(self.url)

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
    if "@" in (url.host or ""):
        # SQLAlchemy ends the password at its first '@': the rest of it would
        # be read, and shown, as the host. The URL is not echoed for that reason.
        raise DatabaseUrlError(
            "malformed database URL: the host name holds an '@': an '@' in the password "
            "must be percent-encoded as %40"
        )
    if "passwd" in url.query:
        raise DatabaseUrlError(
            "unsupported parameter passwd in --db: PostgreSQL (libpq, asyncpg) takes "
            "the password as ?password=... or before the host (user:password@host)"
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
            f"no database name in --db {_shown(url)}: "
            "add one, e.g. postgresql+asyncpg://postgres@127.0.0.1:5432/test"
        )
    return Target(url, backend)


#: How much of an error's first line a report keeps; the rest is cut, with a marker.
KEPT_MESSAGE_CHARS = 500

_WHITESPACE = re.compile(r"\s")
# password=/passwd= as a URL's query parameter or a libpq key=value DSN, and its
# value: quoted (libpq: 'a b', 'it\'s') or up to a space or '&'. No nested
# quantifier, so a search is linear in the text.
_PASSWORD_PARAM = re.compile(
    r"(passw(?:or)?d\s*=\s*)('(?:[^'\\]|\\.)*'?|[^\s&'\"]*)", re.IGNORECASE
)


def _shown(url: URL) -> str:
    """A URL as it may be shown anywhere: every password, in userinfo or query, ``***``."""
    return mask_url_text(url.render_as_string(hide_password=True))


def mask_url_text(text: str) -> str:
    """Replace every password in ``text`` with ``***``.

    Of ``scheme://user:password@host``, and of ``password=``/``passwd=``, as a
    URL's query parameter or in a libpq key=value DSN.

    Linear in the text, whatever it holds: a scan for ``://``, then for the
    end of that URL (whitespace) and the last ``@`` before it. (A regex with
    nested quantifiers took 61 s on a 100 kB error message.) Everything
    between the first ``:`` after the scheme and that last ``@`` is the
    password, so a password holding an unencoded ``@`` or ``/`` is hidden
    whole; text after the URL that holds an ``@`` may be hidden too, which is
    the safe way to be wrong.
    """
    parts: list[str] = []
    pos = 0
    while (mark := text.find("://", pos)) >= 0:
        start = mark + 3
        space = _WHITESPACE.search(text, start)
        end = space.start() if space else len(text)
        at = text.rfind("@", start, end)
        colon = text.find(":", start, at) if at >= 0 else -1
        if colon >= 0:
            parts += (text[pos : colon + 1], "***")
            pos = at
        parts.append(text[pos:end])
        pos = end
    parts.append(text[pos:])
    return _PASSWORD_PARAM.sub(r"\1***", "".join(parts))


def mask_secret(message: str, target: Target) -> str:
    """Remove the target's password from an arbitrary message (e.g. a driver's)."""
    password = target.url.password
    if password:
        # As given, and as it is written in a URL (percent-encoded).
        for form in {str(password), quote(str(password), safe="")}:
            message = message.replace(form, "***")
    return mask_url_text(message)


def error_line(
    exc: BaseException, target: Target | None = None, limit: int = KEPT_MESSAGE_CHARS
) -> str:
    """An error as a report keeps it: ``Type: first line``, password masked, cut at ``limit``.

    Masked before it is cut, so the cut never leaves part of a password that
    the whole text would have hidden. Without a target, only the passwords
    written in URLs and ``password=`` are found. Callers make it only for the messages
    they keep (the first few per error class), not on every failed attempt.
    """
    lines = str(exc).strip().splitlines()
    line = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return cut(mask_url_text(line) if target is None else mask_secret(line, target), limit)


def cut(text: str, limit: int = KEPT_MESSAGE_CHARS) -> str:
    """``text`` if it is at most ``limit`` characters, else its start and how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... [cut: {len(text):,} chars]"
