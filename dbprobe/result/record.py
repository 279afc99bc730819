"""Frozen records with a JSON form: field by field, in field order, at the JSON edge only.

The evidence of a finding and a run's config are such records: typed
fields inside dbprobe, plain JSON objects in a report file. A field listed in
``_OPTIONAL`` is written only when it is not None (reports written before it
existed lack the key); every other field is always written, null included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, Self

__all__ = ["Record"]


def _to_json(value: Any) -> Any:
    if isinstance(value, Record):
        return value.to_json()
    if isinstance(value, tuple | list):
        return [_to_json(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _to_json(v) for k, v in value.items()}
    return value


def _from_json(value: Any) -> Any:
    # JSON arrays become tuples: records are frozen all the way down.
    if isinstance(value, list):
        return tuple(_from_json(v) for v in value)
    return value


@dataclass(frozen=True)
class Record:
    """Base of the records: ``to_json`` and ``from_json``, exact both ways."""

    #: Fields written to JSON only when they are not None.
    _OPTIONAL: ClassVar[frozenset[str]] = frozenset()

    def to_json(self) -> dict[str, Any]:
        return {
            f.name: _to_json(value)
            for f in fields(self)
            if (value := getattr(self, f.name)) is not None or f.name not in self._OPTIONAL
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """The record as a report file holds it; keys this version does not know are ignored.

        Raises TypeError when a key the record needs is missing.
        """
        return cls(**{f.name: _from_json(data[f.name]) for f in fields(cls) if f.name in data})

    @classmethod
    def keys(cls) -> frozenset[str]:
        """The JSON keys of this record."""
        return frozenset(f.name for f in fields(cls))
