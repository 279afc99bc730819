"""Statement fingerprints: one text for every execution of the same query shape (pure).

Literals and bound parameters become ``?``, IN-lists and VALUES rows of any
length collapse to one, casts that asyncpg's dialect adds to parameters
(``$1::INTEGER``) are dropped and whitespace is folded, so that the same ORM
query has the same fingerprint on SQLite (``?``) and PostgreSQL (``$n``), and
whatever the number of ids in its IN-list (SQLAlchemy renders ``IN (?, ?, ?)``
with one placeholder per item).
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["fingerprint", "is_select"]

_STRING = re.compile(r"'(?:[^']|'')*'")
_CAST = (
    r"::(?:(?:TIMESTAMP|TIME)\s+WITH(?:OUT)?\s+TIME\s+ZONE|DOUBLE\s+PRECISION"
    r"|CHARACTER\s+VARYING|[A-Za-z_]\w*)(?:\(\d+(?:,\s*\d+)?\))?(?:\[\])?"
)
_PLACEHOLDER = re.compile(
    rf"\$\d+(?:{_CAST})?"  # $1, $1::INTEGER, $2::VARCHAR(20), $3::TIMESTAMP WITHOUT TIME ZONE
    r"|%\(\w+\)s|%s"  # pyformat / format
    r"|(?<![:\w]):\w+"  # :name (not ::cast)
    r"|\?"
)
_NUMBER = re.compile(r"(?<![\w$.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?\b")
_SPACE = re.compile(r"\s+")
_PLACEHOLDER_LIST = re.compile(r"\(\s*\?(?:\s*,\s*\?)*\s*\)")
_ROW_LIST = re.compile(r"\(\?\)(?:\s*,\s*\(\?\))+")


@lru_cache(maxsize=4096)
def fingerprint(sql: str) -> str:
    """The shape of ``sql``: what stays the same across executions of one query."""
    text = _STRING.sub("?", sql)
    text = _PLACEHOLDER.sub("?", text)
    text = _NUMBER.sub("?", text)
    text = _SPACE.sub(" ", text).strip()
    text = text.replace("( ", "(").replace(" )", ")")
    text = _PLACEHOLDER_LIST.sub("(?)", text)  # IN (?, ?, ?) -> IN (?); VALUES (?, ?) -> (?)
    return _ROW_LIST.sub("(?)", text)  # VALUES (?), (?), (?) -> VALUES (?)


def is_select(sql: str) -> bool:
    """Whether ``sql`` reads rows (a SELECT, or a WITH ... SELECT)."""
    head = sql.lstrip()[:6].upper()
    return head == "SELECT" or (head.startswith("WITH") and "INSERT" not in sql.upper())
