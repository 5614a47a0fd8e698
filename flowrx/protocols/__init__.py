"""Wire formats: one pure module per protocol, turning its frames into flowrx's messages.

A protocol module decodes frames and keeps the per-run accounting its format needs (dedupe,
counting, eviction) as a pure reducer over frozen state, and exposes it as one
:class:`~flowrx.protocols.card.Protocol` card; it imports no Rx and no I/O. ``platform`` reads
the flow editor's own execution stream. :data:`PROTOCOLS` names every card
(``connect(frames, protocol="platform")``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from flowrx.protocols.card import Protocol
from flowrx.protocols.platform import PLATFORM

__all__ = ["PROTOCOLS", "protocol_named"]

PROTOCOLS: Mapping[str, Protocol[Any]] = MappingProxyType({PLATFORM.name: PLATFORM})
"""Every protocol flowrx reads, by name."""


def protocol_named(name: str | Protocol[Any]) -> Protocol[Any]:
    """The card of protocol ``name`` (a card is returned as it is); ``ValueError`` names the
    known ones for any other name."""
    if isinstance(name, Protocol):
        return name
    try:
        return PROTOCOLS[name]
    except KeyError:
        known = ", ".join(sorted(PROTOCOLS))
        raise ValueError(f"no such protocol: {name!r} (known: {known})") from None
