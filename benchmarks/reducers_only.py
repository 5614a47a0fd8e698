"""The design's own cost: flowrx's parse, intake and eight pure reducers in a plain loop.

No Rx, no guard, no steps, no sinks: each frame is parsed and accounted for by
:func:`~flowrx.protocols.platform.reduce_intake`, every message goes to each concern that accepts
it, and the reducers' timers sit in a heap driven by the frames' times. What this loop costs
per frame is what the design itself costs (typed messages, immutable state, eight reducers),
before any of the wiring that makes flowrx isolated, observable and embeddable; flowrx's full
pipeline minus this is the cost of that wiring. A measuring device for ``bench.py``, not a
product: the pipeline (``flowrx.connect``) is the only supported way to run the concerns.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Hashable
from typing import Any

from flowrx.concerns.effects import CancelTimer, StartTimer, TimerFired
from flowrx.config import Config
from flowrx.graph import FlowGraph
from flowrx.pipeline import default_concerns
from flowrx.protocols.card import Notice
from flowrx.protocols.platform import IntakeState, reduce_intake

__all__ = ["ReducersOnly"]


class ReducersOnly:
    """Parse, intake and the eight reducers, called directly, frame by frame."""

    def __init__(self, graph: FlowGraph, config: Config | None = None) -> None:
        self.config = config or Config()
        self.cards = default_concerns(graph, self.config)
        self.states: list[Any] = [card.initial for card in self.cards]
        self.intake = IntakeState()
        self._heap: list[tuple[float, int, int, Hashable, Any]] = []
        self._live: dict[tuple[int, Hashable], int] = {}
        self._tokens = itertools.count()
        self._routes = [(i, card.accepts) for i, card in enumerate(self.cards)]

    def _feed(self, i: int, msg: Any, now: float) -> None:
        state, effects = self.cards[i].reduce(self.states[i], msg, now)
        self.states[i] = state
        effect: Any
        for effect in effects:  # dispatched on the exact type, as the pipeline does
            kind = type(effect)
            if kind is StartTimer:
                token = next(self._tokens)
                self._live[(i, effect.key)] = token
                due = now + max(effect.delay, 0.0)
                heapq.heappush(self._heap, (due, token, i, effect.key, effect.payload))
            elif kind is CancelTimer:
                self._live.pop((i, effect.key), None)

    def advance(self, until: float) -> None:
        """Fire every timer due by ``until`` (and those they start)."""
        heap, live = self._heap, self._live
        while heap and heap[0][0] <= until:
            due, token, i, key, payload = heapq.heappop(heap)
            if live.get((i, key)) != token:
                continue  # cancelled or replaced
            del live[(i, key)]
            run_id = key[1] if isinstance(key, tuple) and len(key) > 1 else None
            fired = TimerFired(key, payload, run_id if isinstance(run_id, str) else None)
            self._feed(i, fired, due)

    def handle(self, frame: object, now: float) -> None:
        """Apply one frame received at ``now``."""
        self.advance(now)
        self.intake, outputs = reduce_intake(self.intake, frame, now, self.config)
        for msg in outputs:
            if isinstance(msg, Notice):
                continue
            for i, accepts in self._routes:  # every concern's predicate, as the pipeline asks
                if accepts(msg):
                    self._feed(i, msg, now)

    def sections(self) -> dict[str, Any]:
        """Each concern's ``snapshot/1`` section of the state now."""
        return {card.name: card.section(s) for card, s in zip(self.cards, self.states, strict=True)}
