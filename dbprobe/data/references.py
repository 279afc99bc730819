"""Foreign keys from tables dbprobe did not create into the tables it did.

Emptying or dropping a table reaches every table that references it: SQLite's
DELETE (and the implicit DELETE that DROP TABLE runs) fires the referencing
table's ON DELETE CASCADE / SET NULL actions, PostgreSQL's DELETE does too, and
its TRUNCATE / DROP refuse (with CASCADE, TRUNCATE empties the other table and
DROP removes its foreign key).
So before dbprobe empties or drops its tables it looks for such references and
refuses, naming each one, even with ``--force``: whatever the action, emptying
the referenced table would delete or change rows dbprobe does not own (or
fail halfway on RESTRICT). The user drops the foreign key or points ``--db``
elsewhere. See https://www.sqlite.org/foreignkeys.html#fk_actions and
https://www.postgresql.org/docs/current/sql-truncate.html.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.ext.asyncio import AsyncConnection

from dbprobe.database.engine import PG_SCHEMA
from dbprobe.database.url import Backend
from dbprobe.errors import SeedStateError

__all__ = ["ForeignReference", "find_foreign_references", "refuse_foreign_references"]

# pg_constraint.confdeltype: https://www.postgresql.org/docs/current/catalog-pg-constraint.html
_PG_ON_DELETE = {
    "a": "NO ACTION",
    "r": "RESTRICT",
    "c": "CASCADE",
    "n": "SET NULL",
    "d": "SET DEFAULT",
}


@dataclass(frozen=True)
class ForeignReference:
    """A foreign key of a table dbprobe did not create, into one of dbprobe's tables."""

    table: str  # the referencing table (schema-qualified on PostgreSQL)
    columns: tuple[str, ...]
    referenced: str  # dbprobe's table (schema-qualified on PostgreSQL)
    on_delete: str  # CASCADE, SET NULL, NO ACTION, ...

    def __str__(self) -> str:
        return (
            f"{self.table}.{','.join(self.columns)} -> {self.referenced} ON DELETE {self.on_delete}"
        )


async def find_foreign_references(
    conn: AsyncConnection, backend: Backend, tables: Collection[str], own: Collection[str]
) -> list[ForeignReference]:
    """Foreign keys into ``tables`` from every table not in ``own`` (dbprobe's, by name).

    On PostgreSQL ``tables`` and ``own`` live in dbprobe's schema; a table of
    the same name in another schema is somebody else's.
    """
    if not tables:
        return []
    if backend is Backend.POSTGRESQL:
        return await _pg_references(conn, tables, own)
    return await _sqlite_references(conn, tables, own)


async def _sqlite_references(
    conn: AsyncConnection, tables: Collection[str], own: Collection[str]
) -> list[ForeignReference]:
    # SQLite compares table names case-insensitively.
    targets = {t.lower(): t for t in tables}
    mine = {t.lower() for t in own}
    names = [
        str(r[0])
        for r in await conn.exec_driver_sql(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "ORDER BY name"
        )
    ]
    quote = conn.dialect.identifier_preparer.quote_identifier
    found: list[ForeignReference] = []
    for name in names:
        if name.lower() in mine:
            continue
        # foreign_key_list rows: id, seq, table, from, to, on_update, on_delete, match;
        # a key of several columns is several rows sharing an id.
        keys: dict[int, list[tuple[str, str, str]]] = {}
        pragma = await conn.exec_driver_sql(f"PRAGMA foreign_key_list({quote(name)})")
        rows: Sequence[Sequence[Any]] = pragma.all()
        for row in rows:
            keys.setdefault(int(row[0]), []).append((str(row[2]), str(row[3]), str(row[6])))
        for parts in keys.values():
            referenced = parts[0][0]
            if referenced.lower() in targets:
                found.append(
                    ForeignReference(
                        name,
                        tuple(p[1] for p in parts),
                        targets[referenced.lower()],
                        parts[0][2],
                    )
                )
    return found


async def _pg_references(
    conn: AsyncConnection, tables: Collection[str], own: Collection[str]
) -> list[ForeignReference]:
    query = text(
        "SELECT sn.nspname, s.relname, "
        "  (SELECT array_agg(a.attname ORDER BY k.n) FROM unnest(c.conkey) WITH ORDINALITY "
        "   AS k(attnum, n) JOIN pg_attribute a ON a.attrelid = c.conrelid "
        "   AND a.attnum = k.attnum), "
        "  t.relname, c.confdeltype "
        "FROM pg_constraint c "
        "JOIN pg_class t ON t.oid = c.confrelid "
        "JOIN pg_namespace tn ON tn.oid = t.relnamespace "
        "JOIN pg_class s ON s.oid = c.conrelid "
        "JOIN pg_namespace sn ON sn.oid = s.relnamespace "
        "WHERE c.contype = 'f' AND tn.nspname = :schema AND t.relname IN :tables "
        "AND NOT (sn.nspname = :schema AND s.relname IN :own) "
        "ORDER BY sn.nspname, s.relname, c.conname"
    ).bindparams(bindparam("tables", expanding=True), bindparam("own", expanding=True))
    rows = await conn.execute(
        query, {"schema": PG_SCHEMA, "tables": list(tables), "own": list(own) or [""]}
    )
    return [
        ForeignReference(
            f"{schema}.{table}",
            tuple(columns),
            f"{PG_SCHEMA}.{referenced}",
            _PG_ON_DELETE.get(str(action), str(action)),
        )
        for schema, table, columns, referenced, action in rows
    ]


def _refusal(references: Sequence[ForeignReference], where: str, action: str) -> SeedStateError:
    """The one line that says what was found and what the user can do (pure)."""
    shown = "; ".join(str(r) for r in references[:5]) + ("; ..." if len(references) > 5 else "")
    return SeedStateError(
        f"{where} holds tables dbprobe did not create with a foreign key to dbprobe's tables "
        f"({shown}): {action} would delete or change their rows, so dbprobe refuses even "
        "with --force; drop those foreign keys or point --db at another database or file"
    )


async def refuse_foreign_references(
    conn: AsyncConnection,
    backend: Backend,
    tables: Collection[str],
    own: Collection[str],
    *,
    where: str,
    action: str,
) -> None:
    """Raise SeedStateError if any table outside ``own`` references one of ``tables``."""
    references = await find_foreign_references(conn, backend, tables, own)
    if references:
        raise _refusal(references, where, action)
