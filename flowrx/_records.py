"""Small helpers for updating immutable reducer state: mappings and frozen attrs records.

``evolve`` is ``attrs.evolve`` for the reducers' plain frozen classes (every field in
``__init__``, under its own name, with no validator or converter), without attrs' per-call
field introspection: it is the reducers' hottest call, made several times per frame.

The reducers' records are frozen attrs classes *without* slots: a changed copy is then a copy
of the instance's ``__dict__`` put into a new instance, about three times cheaper than calling
``__init__``, which sets each field of a frozen class through its own ``object.__setattr__``
call (slotted records are copied by ``attrs.evolve``). Nothing is skipped by this: the classes
are checked, once each, to have no validators, converters, renamed or non-init fields. Without
slots, attrs' own ``__init__`` is cheaper too (it stores the fields straight into the new
``__dict__``).
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


_new = object.__new__
_set = object.__setattr__


@functools.cache
def _fields(cls: type) -> tuple[frozenset[str], bool]:
    """An attrs class's field names, checked to be plain init fields with no validator or
    converter, and whether its instances keep them in a ``__dict__`` (no slots)."""
    names = []
    for field in attrs.fields(cls):
        if (
            not field.init
            or field.alias != field.name
            or field.validator is not None
            or field.converter is not None
        ):
            raise TypeError(f"{cls.__name__}.{field.name} is not a plain init field")
        names.append(field.name)
    return frozenset(names), "__slots__" not in cls.__dict__


def evolve(inst: R, **changes: Any) -> R:
    """A copy of the frozen attrs record ``inst`` with ``changes`` applied (a name that is not
    a field raises ``TypeError``, as with ``attrs.evolve``)."""
    cls: Any = type(inst)
    names, by_dict = _fields(cls)
    if not by_dict:
        slotted: Any = inst
        copy: R = attrs.evolve(slotted, **changes)
        return copy
    fields = inst.__dict__.copy()
    fields.update(changes)
    if len(fields) != len(names):
        raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(set(changes) - names))}")
    new: R = _new(cls)
    _set(new, "__dict__", fields)
    return new
