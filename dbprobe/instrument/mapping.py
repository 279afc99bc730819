"""What the mapping and a query's options say about relationships, looked up once per mapper.

The recorder asks these for every ORM select of a measured run: which
relationships a mapper loads with a JOIN by default, which write-only (or
dynamic) relationships point at a mapper, and which loader strategy a
statement's options choose for each relationship they name.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Mapper, RelationshipProperty

__all__ = [
    "WriteOnlyLink",
    "mapped_joined",
    "option_strategies",
    "relationship_name",
    "write_only_links",
]


@dataclass(frozen=True)
class WriteOnlyLink:
    """A write-only (or dynamic) relationship whose ``select()`` filters on ``table.column``."""

    relationship: str
    table: str
    column: str
    target: str
    loader: str = "write_only"  # or "dynamic": named as the mapping names it


def relationship_name(prop: RelationshipProperty[Any]) -> str:
    return f"{prop.parent.class_.__name__}.{prop.key}"


def option_strategies(statement: Any) -> Iterator[tuple[RelationshipProperty[Any], str]]:
    """(relationship, loader strategy) for each relationship a statement's loader options name.

    Read from the options' load paths; if a later SQLAlchemy changes those
    internals, this yields nothing and only unused-eager-load findings are lost.
    """
    try:
        for option in getattr(statement, "_with_options", ()):
            for element in getattr(option, "context", ()):
                lazy = dict(getattr(element, "strategy", None) or ()).get("lazy")
                props = [p for p in element.path.path if isinstance(p, RelationshipProperty)]
                if props and isinstance(lazy, str):
                    yield props[-1], lazy
    except (AttributeError, TypeError, ValueError):
        return


_joined_cache: dict[Mapper[Any], tuple[RelationshipProperty[Any], ...]] = {}


def mapped_joined(mapper: Mapper[Any]) -> tuple[RelationshipProperty[Any], ...]:
    """The relationships ``mapper`` loads with a JOIN by default (``lazy="joined"``).

    Looked up once per mapper: this runs for every ORM select of a measured run.
    """
    found = _joined_cache.get(mapper)
    if found is None:
        found = tuple(p for p in mapper.relationships if p.lazy == "joined")
        _joined_cache[mapper] = found
    return found


_write_only_cache: dict[Mapper[Any], tuple[WriteOnlyLink, ...]] = {}


def write_only_links(target: Mapper[Any]) -> tuple[WriteOnlyLink, ...]:
    """Write-only/dynamic relationships of any mapper of the registry that point at ``target``."""
    links = _write_only_cache.get(target)
    if links is None:
        found = []
        for mapper in target.registry.mappers:
            for prop in mapper.relationships:
                if prop.mapper is target and prop.lazy in ("write_only", "dynamic"):
                    for _local, remote in prop.local_remote_pairs or ():
                        if getattr(remote, "table", None) is target.local_table:
                            found.append(
                                WriteOnlyLink(
                                    relationship_name(prop),
                                    str(getattr(target.local_table, "name", "")),
                                    str(remote.name),
                                    target.class_.__name__,
                                    str(prop.lazy),
                                )
                            )
        links = _write_only_cache[target] = tuple(found)
    return links
