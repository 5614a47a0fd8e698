"""A protocol's card: what the pipeline needs to read one wire format.

A protocol is a pure state machine over the input: ``reduce(state, item, now, config)`` takes
one frame (text, bytes or a decoded mapping) or a host control message and returns its new
state and what to forward: flowrx's messages for the concerns and :class:`Notice` records for
the log. Its state is the pipeline's intake accumulator; ``counters`` reads the diagnostics
it keeps (every frame counted once). A new wire format is one module that builds one card.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Generic, TypeVar

import attrs

from flowrx.config import Config
from flowrx.messages import Message

__all__ = ["Counters", "Notice", "Protocol"]

P = TypeVar("P")


@attrs.frozen
class Counters:
    """What a protocol's decoder has seen, in the terms of ``snapshot/1``'s diagnostics (the
    same nine for every protocol): ``frames == messages + heartbeats + rejected +
    duplicates``; ``unknown`` and ``late`` are messages counted besides."""

    frames: int = 0
    messages: int = 0
    heartbeats: int = 0
    rejected: int = 0
    duplicates: int = 0
    unknown: int = 0
    late: int = 0
    unknown_status: int = 0
    violations: int = 0
    """Messages breaking the protocol's rules (always 0 for the platform, whose stream states
    none)."""

    def plus(self, delta: Mapping[str, int]) -> Counters:
        """The counters with ``delta`` (counter name → increment) added."""
        get = delta.get
        return Counters(
            self.frames + get("frames", 0),
            self.messages + get("messages", 0),
            self.heartbeats + get("heartbeats", 0),
            self.rejected + get("rejected", 0),
            self.duplicates + get("duplicates", 0),
            self.unknown + get("unknown", 0),
            self.late + get("late", 0),
            self.unknown_status + get("unknown_status", 0),
            self.violations + get("violations", 0),
        )

    def as_json(self) -> dict[str, int]:
        """The counters as a plain dict."""
        return attrs.asdict(self)


@attrs.frozen
class Notice:
    """Something the log should say about a frame: ``rejected``, ``duplicate``, ``late``,
    ``unknown_event`` (once per name) or ``evicted``."""

    kind: str
    detail: str
    run_id: str | None = None


@attrs.frozen
class Protocol(Generic[P]):
    """One wire format's card: its name, initial state, pure reducer and counters."""

    name: str
    initial: P
    reduce: Callable[[P, object, float, Config], tuple[P, tuple[Message | Notice, ...]]]
    counters: Callable[[P], Mapping[str, int]]
    """The diagnostics counters in ``state`` (``frames``, ``messages``, ``rejected``, ...)."""
    rejected: Callable[[P], P]
    """``state`` with one more frame counted as rejected (when ``reduce`` itself failed on it:
    the frame is accounted for, and nothing else of the state changes)."""
    talks_back: bool = False
    """Whether the host's answers to pending interactions go back to the producer (AG-UI: a
    resume run): ``FlowState.resolve`` then gathers them into a ``Reply`` per paused run
    instead of resolving the item at once."""
