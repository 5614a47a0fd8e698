"""Small helpers for updating immutable mappings inside frozen reducer state (private)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

__all__ = ["assoc", "dissoc"]

K = TypeVar("K")
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
