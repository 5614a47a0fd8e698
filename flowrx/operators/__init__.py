"""The concerns: one pure reducer per concern, plus the generic operators that run them.

Each concern module (``visual``, ``store``, ``lifecycle``, ...) holds a pure
``reduce_<concern>(state, message, now) -> (state, effects)`` over frozen attrs state and a
``<concern>_concern()`` card. ``concern`` runs a card as an isolated Rx pipeline, ``route``
feeds it its messages. Reducers import no Rx: their rules are tested without any I/O.
"""

__all__: list[str] = []
