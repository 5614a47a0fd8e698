"""The Rx operators that wire the pure parts together (reactivex's own, composed).

``intake`` runs a protocol's decoder and accounting over the input; ``concern`` runs one
concern's card (``route`` → ``scan`` over the guarded reducer → ``do_action(timers)`` →
``retry_with_backoff``); ``clock`` is the virtual-time scheduler. Operators reactivex lacks
are written as reactivex writes its own, one per private module with a marble docstring
(``_route``, ``_timers``, ``_retry_backoff``).
"""

__all__: list[str] = []
