"""Small helpers for updating immutable reducer state: mappings and frozen attrs records.

``evolve`` is ``attrs.evolve`` for the reducers' plain frozen classes (every field in
``__init__``, under its own name), without attrs' per-call field introspection: it is the
reducers' hottest call, made several times per frame.
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
def _field_names(cls: type) -> tuple[str, ...]:
    """The init arguments of an attrs class, in order (checked to be plain fields)."""
    names = []
    for field in attrs.fields(cls):
        if not field.init or field.alias != field.name:
            raise TypeError(f"{cls.__name__}.{field.name} is not a plain init field")
        names.append(field.name)
    return tuple(names)


def evolve(inst: R, **changes: Any) -> R:
    """A copy of the frozen attrs record ``inst`` with ``changes`` applied."""
    cls: Any = type(inst)
    new: R = cls(*[changes[n] if n in changes else getattr(inst, n) for n in _field_names(cls)])
    return new
