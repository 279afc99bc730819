"""Why SQLAlchemy loaded columns of an object it had already loaded, and the fix for each cause.

Reading an attribute whose value an object lacks makes SQLAlchemy issue a
*column load* (``ORMExecuteState.is_column_load``): one SELECT for that one
row. In a loop over rows that is an N+1, and its fix depends on why the value
was missing:

- the column is deferred (``mapped_column(deferred=True)``, a deferred
  ``column_property``, left out of ``load_only()``): ``undefer()`` it, or
  ``undefer_group()`` its group, on the query that loaded the rows; deferred
  by the query's own ``defer()`` option: drop that option (``undefer()`` beside
  it is a conflict SQLAlchemy refuses);
- the row is of a joined-inheritance subclass and was loaded by a query of its
  base class, which selects only the base table: ``selectin_polymorphic(Base,
  [Sub])`` (or ``with_polymorphic``) loads every subclass row's own columns at once;
- every attribute was expired, which a commit does while the session's
  ``expire_on_commit`` is true (the default): ``expire_on_commit=False``.

A column load for any other reason (``session.refresh()``, one attribute
expired on its own) is not classified: it keeps the generic advice.

What the load fetched is read from the execute state's load options
(``_refresh_state``, ``_only_load_props``, ``_is_user_refresh``), SQLAlchemy
internals unchanged from 2.0 to 2.1; if a later release changes them, loads
are simply not classified.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import ColumnProperty, Mapper

__all__ = [
    "ColumnLoad",
    "ColumnLoadCause",
    "classify_column_load",
    "column_load_fix",
    "column_load_what",
]


class ColumnLoadCause(enum.StrEnum):
    """Why a loaded object lacked the columns a column load fetched."""

    DEFERRED = "deferred"
    SUBCLASS = "subclass"
    EXPIRED = "expired"


@dataclass(frozen=True)
class ColumnLoad:
    """The columns one column load fetched for one object, and why they were missing.

    ``columns`` are ``Class.attribute`` names (the class that maps the
    attribute first), sorted. ``group`` is the deferred group they all belong
    to, if any; ``base`` the class whose query loaded a subclass row and
    ``entity`` the object's own class.
    """

    cause: ColumnLoadCause
    columns: tuple[str, ...]
    entity: str
    group: str | None = None
    base: str | None = None
    #: DEFERRED: the query's own ``defer()`` option named the columns.
    by_defer_option: bool = False


def column_load_fix(load: ColumnLoad) -> str:
    """The code that removes the loads: a loader option for the query, or the session's keyword."""
    if load.cause is ColumnLoadCause.DEFERRED:
        if load.by_defer_option:
            options = ", ".join(f"defer({c})" for c in load.columns)
            return f"remove {options} from the query's options"
        if load.group is not None:
            return f'.options(undefer_group("{load.group}"))'
        return ".options(" + ", ".join(f"undefer({c})" for c in load.columns) + ")"
    if load.cause is ColumnLoadCause.SUBCLASS:
        return f".options(selectin_polymorphic({load.base}, [{load.entity}]))"
    return "expire_on_commit=False"


def column_load_what(load: ColumnLoad) -> str:
    """The loads named for a message: ``deferred column Writer.bio``, ``columns of ...``."""
    names = ", ".join(load.columns)
    plural = "s" if len(load.columns) > 1 else ""
    if load.cause is ColumnLoadCause.DEFERRED:
        return f"deferred column{plural} {names}"
    if load.cause is ColumnLoadCause.SUBCLASS:
        return f"subclass column{plural} {names} (rows of {load.base} loaded as {load.entity})"
    return f"{load.entity} rows expired by a commit ({names})"


def classify_column_load(state: Any) -> ColumnLoad | None:
    """The :class:`ColumnLoad` an ``ORMExecuteState`` that is a column load makes, if classified."""
    try:
        refreshed = state.load_options._refresh_state
        if refreshed is None or state.load_options._is_user_refresh:
            return None  # session.refresh(): the caller asked for this very load
        mapper: Mapper[Any] = refreshed.mapper
        keys = state._orm_compile_options()._only_load_props
        props = [mapper.get_property(key) for key in sorted(keys or ())]
    except (AttributeError, sa_exc.InvalidRequestError):
        return None
    columns = [p for p in props if isinstance(p, ColumnProperty)]
    if not columns:
        return None
    names = tuple(sorted(_qualified(mapper, p.key) for p in columns))
    entity = mapper.class_.__name__
    # Deferred on the mapping (prop.deferred), or by an option on the query that
    # loaded the row: then the object carries the column's deferred loader itself.
    if all(p.deferred or p.key in refreshed.callables for p in columns):
        groups = {p.group for p in columns}
        group = groups.pop() if len(groups) == 1 else None
        by_option = all(_deferred_by_name(refreshed, p.key) for p in columns)
        return ColumnLoad(
            ColumnLoadCause.DEFERRED, names, entity, group=group, by_defer_option=by_option
        )
    base = _queried_base(mapper, columns)
    if base is not None and not refreshed.expired:
        return ColumnLoad(ColumnLoadCause.SUBCLASS, names, entity, base=base.class_.__name__)
    # Expired as a whole (not one attribute): what a commit does while the
    # session expires on commit; a session that does not was expired otherwise.
    if refreshed.expired and getattr(refreshed.session, "expire_on_commit", False):
        return ColumnLoad(ColumnLoadCause.EXPIRED, names, entity)
    return None


def _deferred_by_name(refreshed: Any, key: str) -> bool:
    """Whether the query that loaded the object deferred ``key`` by name (``defer(X.key)``).

    Its loader options travel with the object: ``defer()`` names the column's
    own path, ``load_only()`` defers the rest through a wildcard.
    """
    try:
        for option in refreshed.load_options or ():
            for element in getattr(option, "context", ()):
                deferred = dict(getattr(element, "strategy", None) or ()).get("deferred")
                last = element.path.path[-1] if element.path.path else None
                if deferred is True and getattr(last, "key", None) == key:
                    return True
    except (AttributeError, TypeError, ValueError):
        return False
    return False


def _qualified(mapper: Mapper[Any], key: str) -> str:
    """``Class.key``, named after the class that maps ``key`` first (a base class's column)."""
    owner = mapper
    for ancestor in mapper.iterate_to_root():
        if ancestor.has_property(key):
            owner = ancestor
    return f"{owner.class_.__name__}.{key}"


def _queried_base(mapper: Mapper[Any], columns: list[ColumnProperty[Any]]) -> Mapper[Any] | None:
    """The nearest base class of a joined-inheritance ``mapper`` with none of ``columns``' tables.

    A query of that class selected the row without them: its subclass columns
    come afterwards, one row at a time. None when ``mapper`` is no such subclass.
    """
    if mapper.inherits is None or mapper.concrete:
        return None
    tables = {c.table for p in columns for c in p.columns if getattr(c, "table", None) is not None}
    if not tables:
        return None
    ancestor: Mapper[Any] | None = mapper.inherits
    while ancestor is not None:
        if not tables.intersection(ancestor.tables):
            return ancestor
        ancestor = ancestor.inherits
    return None
