"""Small helpers for updating immutable state: mappings and frozen attrs records.

``evolve`` is ``attrs.evolve`` for flowrx's records, without attrs' per-call field
introspection: each record class gets one copier, made on first use. For plain fields it is
generated as attrs generates ``__init__`` (a keyword argument and one slot store per field);
a class whose ``__init__`` checks or converts a field is copied through ``__init__``. It is
the reducers' most frequent call, about twice a frame. This module is the one place for such
per-record speed work; the records themselves are ordinary ``@attrs.frozen`` classes.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
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


_MISSING: Any = object()
_new = object.__new__
_set = object.__setattr__


def _by_init(cls: Any) -> Callable[..., Any]:
    """The copier of a record whose fields ``__init__`` checks or converts: through
    ``__init__``, so that nothing is skipped."""
    fields = {f.name: f.alias or f.name for f in attrs.fields(cls)}

    def copy(inst: Any, **changes: Any) -> Any:
        if not changes.keys() <= fields.keys():
            unknown = ", ".join(sorted(changes.keys() - fields.keys()))
            raise TypeError(f"{cls.__name__} has no field {unknown}")
        return cls(
            **{
                alias: changes[name] if name in changes else getattr(inst, name)
                for name, alias in fields.items()
            }
        )

    return copy


@functools.cache
def _copier(cls: Any) -> Callable[..., Any]:
    """The copier of one record class, made once (a bounded cache: one entry per class).

    For plain fields (no validator, converter or post-init hook: nothing ``__init__`` would
    check) it is generated, as attrs generates ``__init__``: a keyword argument per field and
    one slot store per field, so a copy costs no dictionary and no ``__init__`` call."""
    fields = attrs.fields(cls)
    if (
        any(f.validator or f.converter or not f.init for f in fields)
        or hasattr(cls, "__attrs_post_init__")
        or "__slots__" not in cls.__dict__
    ):
        return _by_init(cls)
    names = [f.name for f in fields]
    if any(n.startswith("_fx_") for n in names):  # the generated code's own names
        return _by_init(cls)
    prefix = f"{cls.__name__} has no field "
    params = ", ".join(f"{n}=_fx_MISSING" for n in names)
    stores = "".join(
        f"    _fx_set(_fx_new_inst, {n!r}, _fx_inst.{n} if {n} is _fx_MISSING else {n})\n"
        for n in names
    )
    source = (
        f"def _fx_copy(_fx_inst, *, {params}, **_fx_unknown):\n"
        "    if _fx_unknown:\n"
        f"        raise TypeError({prefix!r} + ', '.join(sorted(_fx_unknown)))\n"
        "    _fx_new_inst = _fx_new(_fx_cls)\n"
        f"{stores}"
        "    return _fx_new_inst\n"
    )
    scope: dict[str, Any] = {
        "_fx_MISSING": _MISSING,
        "_fx_new": _new,
        "_fx_set": _set,
        "_fx_cls": cls,
    }
    exec(compile(source, f"<flowrx copier of {cls.__qualname__}>", "exec"), scope)
    copier: Callable[..., Any] = scope["_fx_copy"]
    return copier


def evolve(inst: R, /, **changes: Any) -> R:
    """A copy of the frozen attrs record ``inst`` with ``changes`` (by field name) applied; a
    name that is not a field raises ``TypeError``, as with ``attrs.evolve``. Fields that
    ``__init__`` would check or convert are copied through ``__init__``."""
    cls: Any = type(inst)
    new: R = _copier(cls)(inst, **changes)
    return new
