"""The concerns: one pure module per concern, its reducer and its card.

Each module (``visual``, ``store``, ``lifecycle``, ``tool``, ``chat``, ``interaction``,
``group``, ``state``) holds a pure ``reduce_<concern>(state, message, now) -> (state,
effects)`` over frozen attrs state and a ``<concern>_concern()`` card
(:class:`~flowrx.concerns.effects.Concern`: name, initial state, routing, snapshot section,
counters, surface). They import no Rx and no
I/O: their rules are tested without either, like h11's state machine. ``effects`` holds what a
reducer may return (changes, timer requests, hooks) and the card itself.
"""

__all__: list[str] = []
