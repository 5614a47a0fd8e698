"""State concern: each run's shared agent state document (AG-UI ``STATE_SNAPSHOT``/``STATE_DELTA``).

An agent and its user interface share one JSON document per run (a plan, a form, a shopping
cart). The protocol sends it whole or as RFC 6902 patches; this concern keeps the result.

Rules, as a pure reducer:

* :class:`~flowrx.messages.StateSnapshot` → the run's document is the snapshot, whatever was
  there (some producers send partial snapshots inside a step and the full one after it: the
  last snapshot wins).
* :class:`~flowrx.messages.StateDelta` → its RFC 6902 operations (``add``, ``remove``,
  ``replace``, ``move``, ``copy``, ``test``) are applied to the run's document by ``jsonpatch``;
  a run without a document starts from ``{}``, as ``@ag-ui/client`` does. A patch applies whole
  or not at all: one that does not apply (a failed ``test``, a path that is not there, an
  unknown operation, a delta that is not a list of operation objects) leaves the document as it
  was and counts ``patch_failed``. So does an update that would leave a document that is not
  JSON data, that nests deeper than :data:`~flowrx.messages.MAX_DEPTH` levels or whose JSON
  text is longer than ``Config.max_state_size`` characters (a snapshot too: only a broken
  protocol could send such a one, and it is refused the same way).
* :class:`~flowrx.messages.Evict` drops the run's document. It is kept after the run ends, like
  the store's badges.
* A change of a run's document emits ``Change("state", "document", run_id, None, document)``
  (a fresh copy of the new document); an update that changes nothing emits nothing. An evicted
  run's document emits ``Change("state", "cleared", run_id)``.

Documents are held as their JSON text: a ``str`` nobody can change, so no caller (the message's
sender, a sink, a host reading the section) shares a mutable object with the state. Each patch
works on a private copy decoded from that text, the snapshot section and each change get copies
of their own.

Timeline of one run (``s`` snapshot, ``d`` delta, ``x`` a delta whose ``test`` fails)::

    messages   s{"n":1}--d[replace /n 2]--x[test /n 5]--s{"n":7}
    document   {"n":1}---{"n":2}----------{"n":2}-------{"n":7}
    changes    c---------c------------------------------c
    patch_failed                          1
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

import attrs
import jsonpatch

from flowrx._records import assoc, dissoc, evolve
from flowrx.concerns.effects import Change, Concern, Effect, Input
from flowrx.config import Config
from flowrx.messages import MAX_DEPTH, Evict, Message, StateDelta, StateSnapshot, loads

__all__ = ["SharedState", "reduce_state", "state_concern", "state_section"]

NAME: Final = "state"
_EMPTY: Final = "{}"
"""The document of a run that has none yet, as a patch finds it (``@ag-ui/client``'s start)."""
_UNBOUNDED: Final = 1 << 62
"""No size bound (a delta's operations are as large as their frame, no larger)."""
_FAILED: Final = (
    jsonpatch.JsonPatchException,
    jsonpatch.JsonPointerException,  # jsonpointer's, raised through jsonpatch
    TypeError,  # jsonpatch on a value of the wrong type (a scalar where a container is needed)
    ValueError,  # not JSON data, nested too deep, too large (ours), integers too long
    LookupError,
    RecursionError,
)
"""What applying an update may raise: each means the update does not apply."""


@attrs.frozen
class SharedState:
    """Every held run's shared agent state document (as JSON text), and the patches refused."""

    runs: Mapping[str, str] = attrs.field(factory=dict)
    """Run id -> the run's document as compact JSON text (read it with :meth:`document`)."""
    patch_failed: int = 0
    """Updates that did not apply (the document stayed as it was)."""

    def document(self, run_id: str) -> Any:
        """A fresh copy of the run's document (``None`` when the run has none)."""
        text = self.runs.get(run_id)
        return None if text is None else loads(text)


Step = tuple[SharedState, tuple[Effect, ...]]


class _Refused(ValueError):
    """An update whose result may not be held (nested too deep, or too large)."""


def _encode(value: Any, limit: int) -> str:
    """``value`` as compact JSON text; ``ValueError`` (or ``TypeError``, ``RecursionError``)
    when it is not JSON data or its text is longer than ``limit`` characters."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if len(text) > limit:
        raise _Refused(f"a document of {len(text)} characters (at most {limit})")
    return text


def _held(value: Any, limit: int) -> tuple[str, Any]:
    """The text a document is held as and a fresh copy of it for the change; raises (one of
    :data:`_FAILED`) when it may not be held."""
    text = _encode(value, limit)
    return text, loads(text, MAX_DEPTH)  # ValueError when nested deeper than MAX_DEPTH


def _set(state: SharedState, run_id: str, text: str, document: Any) -> Step:
    """Hold ``text`` as the run's document; a change when it differs from what was held."""
    if state.runs.get(run_id) == text:
        return state, ()
    state = evolve(state, runs=assoc(state.runs, run_id, text))
    return state, (Change(NAME, "document", run_id, None, document),)


def _failed(state: SharedState) -> Step:
    return evolve(state, patch_failed=state.patch_failed + 1), ()


def _patched(before: str, delta: Any, limit: int) -> Any:
    """The document ``before`` (JSON text) with ``delta`` applied; raises when it does not apply.

    The patch works on a copy decoded from the text (``in_place`` on a copy of our own, so the
    document is copied once, not twice) and on a copy of the operations (the values it adds are
    not the sender's objects). Operations are applied one by one, so that a ``copy`` that would
    make the document too large stops the patch before the next one can double it again; a
    failure anywhere discards the copy, so the patch still applies whole or not at all.
    """
    if not isinstance(delta, list | tuple) or not all(isinstance(op, Mapping) for op in delta):
        raise _Refused("a delta is a list of operation objects")
    operations = loads(_encode(delta, _UNBOUNDED), MAX_DEPTH)
    document = loads(before)
    for operation in operations:
        document = jsonpatch.apply_patch(document, [operation], in_place=True)
        if operation.get("op") == "copy":
            _encode(document, limit)
    return document


def reduce_state(state: SharedState, msg: Input, now: float, config: Config = Config()) -> Step:
    """Apply one message to the runs' shared state documents.

    ``now`` is unused (the concern has no timers); it keeps the reducer signature of every
    concern.
    """
    limit = config.max_state_size
    if isinstance(msg, StateSnapshot):
        try:
            text, document = _held(msg.snapshot, limit)
        except _FAILED:
            return _failed(state)
        return _set(state, msg.run_id, text, document)
    if isinstance(msg, StateDelta):
        before = state.runs.get(msg.run_id, _EMPTY)
        try:
            text, document = _held(_patched(before, msg.delta, limit), limit)
        except _FAILED:
            return _failed(state)
        return _set(state, msg.run_id, text, document)
    if isinstance(msg, Evict):
        if msg.run_id not in state.runs:
            return state, ()
        state = evolve(state, runs=dissoc(state.runs, msg.run_id))
        return state, (Change(NAME, "cleared", msg.run_id),)
    return state, ()


def state_section(state: SharedState) -> dict[str, Any]:
    """The snapshot's ``state`` section: each run's document (a fresh copy), by run id."""
    return {run_id: loads(text) for run_id, text in sorted(state.runs.items())}


def _accepts(msg: Message) -> bool:
    return isinstance(msg, StateSnapshot | StateDelta | Evict)


def state_concern(config: Config = Config()) -> Concern[SharedState]:
    """The state concern's card for the pipeline."""
    return Concern(
        name=NAME,
        initial=SharedState(),
        reduce=lambda s, m, now: reduce_state(s, m, now, config),
        accepts=_accepts,
        section=state_section,
        counters=lambda s: {"patch_failed": s.patch_failed},
    )
