"""Small helpers for updating immutable state: mappings and frozen attrs records.

``evolve`` is ``attrs.evolve`` for flowrx's records (frozen attrs classes whose fields are all
plain ``__init__`` fields, under their own names), without attrs' per-call field
introspection: the field names are read once per class. It is the reducers' most frequent
call, made about once per frame. This module is the one place for such per-record speed work;
the records themselves are ordinary ``@attrs.frozen`` classes.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, TypeVar

import attrs

__all__ = ["assoc", "dissoc", "evolve"]

K = TypeVar("K")
R = TypeVar("R")
V = TypeVar("V")


def assoc(mapping: Mapping[K, V], key: K, value: V) -> dict[K, V]:
    """A copy of ``mapping`` with ``key`` set to ``value``."""
    out = dict(mapping)
    out[key] = value
    return out


def dissoc(mapping: Mapping[K, V], key: K) -> Mapping[K, V]:
    """A copy of ``mapping`` without ``key`` (the same object when the key is absent)."""
    if key not in mapping:
        return mapping
    out = dict(mapping)
    del out[key]
    return out


@functools.cache
def _fields(cls: type) -> dict[str, str]:
    """An attrs class's init fields, name to ``__init__`` argument (read once per class: a
    bounded cache, one entry per record class)."""
    fields = {}
    for field in attrs.fields(cls):
        if not field.init:
            raise TypeError(f"{cls.__name__}.{field.name} is not an init field")
        fields[field.name] = field.alias or field.name
    return fields


def evolve(inst: R, **changes: Any) -> R:
    """A copy of the frozen attrs record ``inst`` with ``changes`` (by field name) applied,
    made by its own ``__init__``; a name that is not a field raises ``TypeError``, as with
    ``attrs.evolve``."""
    cls: Any = type(inst)
    fields = _fields(cls)
    if not changes.keys() <= fields.keys():
        raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(changes - fields.keys()))}")
    args = {
        alias: changes[name] if name in changes else getattr(inst, name)
        for name, alias in fields.items()
    }
    new: R = cls(**args)
    return new
