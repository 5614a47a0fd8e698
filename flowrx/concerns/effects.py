"""The data a pure reducer returns: state changes for sinks, timers as data, and the concern card.

Every concern is a pure function ``reduce(state, message, now) -> (state, effects)``. It never
touches a clock or a scheduler: it *asks* for timers with :class:`StartTimer` and
:class:`CancelTimer`, and the Rx wiring (:mod:`flowrx.operators.concern`) schedules them and feeds
a :class:`TimerFired` back into the same reducer. Visible changes are :class:`Change` records
(one per thing a view would redraw), and lifecycle side effects for the host are :class:`Hook`
requests. This keeps every rule testable without Rx, like h11's state machine.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Generic, TypeAlias, TypeVar

import attrs

from flowrx.messages import Message

__all__ = [
    "TIME_RESOLUTION",
    "CancelTimer",
    "Change",
    "Concern",
    "Effect",
    "Hook",
    "Input",
    "Reduce",
    "StartTimer",
    "TimerFired",
]

S = TypeVar("S")


TIME_RESOLUTION = 1e-6
"""Schedulers keep time in microseconds (datetime): a reducer that compares ``now`` with a
deadline must allow this much, or a sub-microsecond remainder re-arms a zero-delay timer
forever."""


@attrs.frozen
class StartTimer:
    """Ask for ``TimerFired(key, payload)`` after ``delay`` seconds (replaces one of that key)."""

    key: Hashable
    delay: float
    payload: Any = None


@attrs.frozen
class CancelTimer:
    """Cancel the timer of ``key`` if it is pending."""

    key: Hashable


@attrs.frozen
class TimerFired:
    """A timer the reducer asked for has fired (fed back through the concern's own scan)."""

    key: Hashable
    payload: Any = None
    run_id: str | None = None
    event: str = "timer"


@attrs.frozen
class Change:
    """One visible change: what a view would redraw, and what the plain log prints.

    ``what`` names the change (``glow``, ``badge``, ``run``, ``editor``, ...), ``value`` its new
    value (classes, a record, a status).
    """

    concern: str
    what: str
    run_id: str | None
    node_id: str | None = None
    value: Any = None

    def describe(self) -> str:
        """One log line for this change."""
        where = " ".join(
            part
            for part in (
                f"run={self.run_id}" if self.run_id else "",
                f"node={self.node_id}" if self.node_id else "",
            )
            if part
        )
        describe = getattr(self.value, "describe", None)
        if callable(describe):
            value = describe()
        elif isinstance(self.value, Mapping | list):  # a document (state): its start, its size
            value = _document(self.value)
        else:
            value = repr(self.value)
        return f"{self.concern:<11} {self.what:<8} {where} {value}".rstrip()


_DOCUMENT_SHOWN = 200
"""Characters of a document a change's line shows (a state document may be a megabyte)."""


def _document(value: Mapping[str, Any] | list[Any]) -> str:
    """A document as compact JSON, cut to its first characters with its size said."""
    text = json.dumps(
        value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=repr
    )
    if len(text) <= _DOCUMENT_SHOWN:
        return text
    return f"{text[:_DOCUMENT_SHOWN]}… ({len(text):,} characters)"


@attrs.frozen
class Hook:
    """Ask the host's hooks of ``name`` (``run_start``, ``run_end``, ``resume_end``) to run."""

    name: str
    run_id: str


Effect: TypeAlias = StartTimer | CancelTimer | Change | Hook
Input: TypeAlias = Message | TimerFired
Reduce: TypeAlias = Callable[[S, Input, float], tuple[S, tuple[Effect, ...]]]


@attrs.frozen
class Concern(Generic[S]):
    """One concern's card: its name, pure reducer, start state and snapshot section.

    ``accepts`` says which messages the router sends it (timers always come back to it).
    ``section`` renders its state as the JSON-ready section of ``snapshot/1``.
    """

    name: str
    initial: S
    reduce: Reduce[S]
    accepts: Callable[[Message], bool]
    section: Callable[[S], Mapping[str, Any] | Any]
    counters: Callable[[S], Mapping[str, int]] = lambda _: {}
    """Diagnostics counters the concern keeps (``orphan_tool_end``, ``final_text_differs``);
    every key it returns for the initial state is always in the snapshot's diagnostics."""
    surface: Callable[[S], Mapping[str, Any]] = lambda _: {}
    """Classes per node this concern adds to the view's surface (visual, tool, group)."""
    surface_over: tuple[str, ...] = ()
    """Concerns whose surface classes this one's replace on the nodes it covers (the group
    concern's derived status replaces a group node's own glow)."""
