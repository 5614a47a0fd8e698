"""Wire formats: one pure module per protocol, turning its frames into flowrx's messages.

A protocol module decodes frames and keeps the per-run accounting its format needs (dedupe,
counting, eviction) as a pure reducer over frozen state, and exposes it as one
:class:`~flowrx.protocols.card.Protocol` card; it imports no Rx and no I/O. ``platform`` reads
the flow editor's own execution stream; ``agui`` the Agent-User Interaction protocol;
``agno`` Agno's own workflow, agent and team events (in process and from AgentOS).
:data:`PROTOCOLS` names every card
(``connect(frames, protocol="platform")``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from flowrx.messages import MAX_DEPTH, loads
from flowrx.protocols.agno import AGNO, frame_data, is_agno_frame
from flowrx.protocols.agui import AGUI, is_agui_frame
from flowrx.protocols.card import Protocol
from flowrx.protocols.platform import PLATFORM

__all__ = ["PROTOCOLS", "detect_protocol", "protocol_named"]

PROTOCOLS: Mapping[str, Protocol[Any]] = MappingProxyType(
    {PLATFORM.name: PLATFORM, AGUI.name: AGUI, AGNO.name: AGNO}
)
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


def detect_protocol(header: Mapping[str, Any] | None, first: object) -> str:
    """The protocol of a recording: its header's ``"protocol"`` when it names one, else
    ``agui`` when the first frame is a JSON object whose ``type`` names an AG-UI event,
    ``agno`` when it is Agno's own event (a workflow event, or an agent or team event without
    the keys the platform adds when it relays one; JSON or SSE-formatted text), else
    ``platform``. A header naming an unknown protocol raises ``ValueError`` (which names the
    known ones)."""
    named = header.get("protocol") if header is not None else None
    if named is not None:
        if not isinstance(named, str):
            raise ValueError(f"the header's protocol is a {type(named).__name__}, not a name")
        return protocol_named(named).name
    data: object = first
    if isinstance(first, str | bytes):
        text = first if isinstance(first, str) else first.decode("utf-8", "replace")
        if text.lstrip().startswith(("event:", "data:")):  # an SSE-formatted frame
            data = frame_data(text)
        else:
            try:
                data = loads(first, MAX_DEPTH)
            except (ValueError, UnicodeDecodeError):
                return PLATFORM.name
    if is_agui_frame(data):
        return AGUI.name
    if is_agno_frame(data):
        return AGNO.name
    return PLATFORM.name
