"""Lifecycle concern: runs, their outcome, the editor lock and the stall watchdog (behaviour §3).

* ``run_start`` → the run is ``running`` and active; the editor is locked. A ``run_start``
  delivered after its run's ``run_end`` (reordered frames) is late and changes nothing.
* ``run_end``/``resume_end`` → the run's outcome, derived from its nodes (``error`` if any node
  ended ``error``, else ``killed`` if any ``killed``, else ``success``); if it is the active run
  the editor unlocks at once (hooks run after, never before). A protocol that states the outcome
  (``ExecutionEvent.outcome``, AG-UI) is taken at its word; ``paused`` leaves the run ``paused``
  with the editor unlocked (its stream is over; a ``resume_start`` continues it).
* ``AgentPaused``/``RunPaused`` → ``paused`` (editor stays locked); ``resume_start`` →
  ``running`` again and active; ``RunContinued`` → ``running``.
* Watchdog: a ``running`` run with no frame for ``stall_after`` (120 s) is ``stalled`` and
  unlocks the editor if active; any later frame of it revives it. One timer per run, re-armed
  lazily from the last frame's time, so a busy run costs no timer churn.
* A frame nobody understands (:class:`~flowrx.messages.Unknown`) is a sign of life for a run
  already held, and nothing for any other: it never creates a run, locks the editor or arms a
  watchdog (so no phantom run shows ``stalled`` later).
* Host side effects are :class:`~flowrx.concerns.effects.Hook` requests emitted after the state
  change; the hook runner isolates them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from flowrx._records import assoc, dissoc, evolve
from flowrx.concerns.effects import (
    TIME_RESOLUTION,
    CancelTimer,
    Change,
    Concern,
    Effect,
    Hook,
    Input,
    StartTimer,
    TimerFired,
)
from flowrx.config import Config
from flowrx.messages import (
    AgentPaused,
    AgnoEvent,
    Background,
    ClearRun,
    Evict,
    ExecutionEvent,
    Foreground,
    Message,
    ResolveInteraction,
    Unknown,
)

__all__ = [
    "LifecycleState",
    "RunRecord",
    "lifecycle_concern",
    "lifecycle_section",
    "reduce_lifecycle",
]

NAME = "lifecycle"
_PAUSED = frozenset({"RunPaused", "TeamRunPaused"})
_CONTINUED = frozenset({"RunContinued", "TeamRunContinued"})
_ENDED = frozenset({"success", "error", "killed"})
_SEEN_GRANULARITY = 1.0
"""How fresh ``last_seen`` is kept (s): the 120 s watchdog may fire up to this much late."""


@attrs.frozen
class RunRecord:
    """One run as the lifecycle concern tracks it."""

    status: str
    started_at: float | None
    ended_at: float | None = None
    resumes: int = 0
    last_seen: float = 0.0
    has_error: bool = False
    has_killed: bool = False

    @property
    def outcome(self) -> str:
        """The run's outcome derived from its nodes."""
        return "error" if self.has_error else "killed" if self.has_killed else "success"

    def as_json(self) -> dict[str, Any]:
        """The run as ``snapshot/1`` lists it."""
        return {
            "status": self.status,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "resumes": self.resumes,
        }


@attrs.frozen
class LifecycleState:
    """All runs held, the active run and the editor lock."""

    runs: Mapping[str, RunRecord] = attrs.field(factory=dict)
    active_run_id: str | None = None
    editor_locked: bool = False


Step = tuple[LifecycleState, tuple[Effect, ...]]


def _lock(state: LifecycleState, run_id: str | None, locked: bool) -> tuple[Effect, ...]:
    if state.editor_locked == locked:
        return ()
    return (Change(NAME, "editor", run_id, None, "locked" if locked else "unlocked"),)


def _set_run(
    state: LifecycleState,
    run_id: str,
    record: RunRecord,
    *,
    active: str | None,
    locked: bool,
) -> Step:
    new = LifecycleState(
        runs=assoc(state.runs, run_id, record), active_run_id=active, editor_locked=locked
    )
    effects: tuple[Effect, ...] = ()
    old = state.runs.get(run_id)
    if old is None or old.status != record.status:
        effects = (Change(NAME, "run", run_id, None, record.status),)
    return new, effects + _lock(state, run_id, locked)


def _start(state: LifecycleState, run_id: str, now: float, config: Config, resume: bool) -> Step:
    old = state.runs.get(run_id)
    if not resume and old is not None and old.status in _ENDED:
        return state, ()  # a run_start delivered after its run_end: late, it must not re-lock
    if resume and old is not None:
        record = evolve(
            old, status="running", ended_at=None, resumes=old.resumes + 1, last_seen=now
        )
    else:
        record = RunRecord(
            status="running", started_at=now, last_seen=now, resumes=1 if resume else 0
        )
    new, effects = _set_run(state, run_id, record, active=run_id, locked=True)
    hook: tuple[Effect, ...] = () if resume else (Hook("run_start", run_id),)
    return new, (*effects, StartTimer(("watchdog", run_id), config.stall_after), *hook)


def _end(state: LifecycleState, run_id: str, now: float, hook: str, outcome: str | None) -> Step:
    old = state.runs.get(run_id) or RunRecord(status="running", started_at=None)
    if outcome == "paused":  # the leg is over; the run waits for a person and its resume
        record = evolve(old, status="paused", last_seen=now)
    else:
        status = old.outcome if outcome not in _ENDED else outcome
        record = evolve(old, status=status, ended_at=now, last_seen=now)
    is_active = state.active_run_id == run_id
    new, effects = _set_run(
        state,
        run_id,
        record,
        active=None if is_active else state.active_run_id,
        locked=False if is_active else state.editor_locked,
    )
    return new, (*effects, CancelTimer(("watchdog", run_id)), Hook(hook, run_id))


def _seen(state: LifecycleState, run_id: str, now: float, config: Config) -> Step:
    """Any frame of a run: note the time; revive a stalled run; adopt a run seen mid-way."""
    old = state.runs.get(run_id)
    if old is None:
        record = RunRecord(status="running", started_at=now, last_seen=now)
        adopt = state.active_run_id is None
        new, effects = _set_run(
            state,
            run_id,
            record,
            active=run_id if adopt else state.active_run_id,
            locked=True if adopt else state.editor_locked,
        )
        return new, (*effects, StartTimer(("watchdog", run_id), config.stall_after))
    if old.status == "stalled":
        is_active = state.active_run_id == run_id
        new, effects = _set_run(
            state,
            run_id,
            evolve(old, status="running", last_seen=now),
            active=state.active_run_id,
            locked=True if is_active else state.editor_locked,
        )
        return new, (*effects, StartTimer(("watchdog", run_id), config.stall_after))
    if old.status == "running" and now - old.last_seen < _SEEN_GRANULARITY:
        return state, ()  # the watchdog needs seconds, not every chunk: no copy per frame
    return evolve(state, runs=assoc(state.runs, run_id, evolve(old, last_seen=now))), ()


def _watchdog(state: LifecycleState, run_id: str, now: float, config: Config) -> Step:
    record = state.runs.get(run_id)
    if record is None or record.status != "running":
        return state, ()
    quiet_until = record.last_seen + config.stall_after
    if now + TIME_RESOLUTION < quiet_until:
        return state, (StartTimer(("watchdog", run_id), quiet_until - now),)
    is_active = state.active_run_id == run_id
    return _set_run(
        state,
        run_id,
        evolve(record, status="stalled"),
        active=state.active_run_id,
        locked=False if is_active else state.editor_locked,
    )


def _switch(
    state: LifecycleState, run_id: str, now: float, config: Config, status: str, came_from: str
) -> tuple[Step, bool]:
    """A sign of life of the run, and its status set to ``status`` if it is ``came_from``
    (``"live"``: running or stalled); the step, and whether the status changed."""
    state, effects = _seen(state, run_id, now, config)
    record = state.runs[run_id]
    live = record.status not in _ENDED and record.status != "paused"
    if not (live if came_from == "live" else record.status == came_from):
        return (state, effects), False
    new, more = _set_run(
        state,
        run_id,
        evolve(record, status=status),
        active=state.active_run_id,
        locked=state.editor_locked,
    )
    return (new, effects + more), True


def _pause(state: LifecycleState, run_id: str, now: float, config: Config) -> Step:
    return _switch(state, run_id, now, config, "paused", came_from="live")[0]


def reduce_lifecycle(
    state: LifecycleState, msg: Input, now: float, config: Config = Config()
) -> Step:
    """Apply one message (or fired timer) to the run records and the editor lock."""
    if isinstance(msg, TimerFired):
        return _watchdog(state, msg.key[1], now, config)  # type: ignore[index]
    if isinstance(msg, Evict):
        if msg.run_id not in state.runs:
            return state, ()
        is_active = state.active_run_id == msg.run_id
        new = LifecycleState(
            runs=dissoc(state.runs, msg.run_id),
            active_run_id=None if is_active else state.active_run_id,
            editor_locked=False if is_active else state.editor_locked,
        )
        return new, (CancelTimer(("watchdog", msg.run_id)), *_lock(state, None, new.editor_locked))
    run_id = getattr(msg, "run_id", None)
    if not isinstance(run_id, str):
        return state, ()
    if isinstance(msg, ExecutionEvent):
        event = msg.event
        if event == "run_start":
            return _start(state, run_id, now, config, resume=False)
        if event == "resume_start":
            return _start(state, run_id, now, config, resume=True)
        if event == "run_end" or event == "resume_end":
            return _end(state, run_id, now, event, msg.outcome)
        state, effects = _seen(state, run_id, now, config)
        if event == "end_node" and msg.status in ("error", "killed"):
            record = state.runs[run_id]
            if msg.status == "error":
                record = evolve(record, has_error=True)
            else:
                record = evolve(record, has_killed=True)
            runs = assoc(state.runs, run_id, record)
            state = evolve(state, runs=runs)
        return state, effects
    if isinstance(msg, AgentPaused) or (isinstance(msg, AgnoEvent) and msg.event in _PAUSED):
        return _pause(state, run_id, now, config)
    if isinstance(msg, AgnoEvent) and msg.event in _CONTINUED:
        (state, effects), resumed = _switch(state, run_id, now, config, "running", "paused")
        if resumed:
            effects = (*effects, StartTimer(("watchdog", run_id), config.stall_after))
        return state, effects
    known = state.runs.get(run_id)
    if known is None and isinstance(msg, Unknown):
        return state, ()  # a frame nobody understands makes no run, lock or watchdog
    if known is not None and known.status in _ENDED:
        return state, ()
    return _seen(state, run_id, now, config)


def lifecycle_section(state: LifecycleState) -> dict[str, Any]:
    """The snapshot's ``lifecycle`` section."""
    return {
        "editor_locked": state.editor_locked,
        "active_run_id": state.active_run_id,
        "runs": {run_id: r.as_json() for run_id, r in sorted(state.runs.items())},
    }


def _accepts(msg: Message) -> bool:
    """Every message but the host's controls (a message without a run changes nothing: the
    reducer says so; asking here would make the routing depend on more than the kind)."""
    return not isinstance(msg, Background | Foreground | ResolveInteraction | ClearRun)


def lifecycle_concern(config: Config = Config()) -> Concern[LifecycleState]:
    """The lifecycle concern's card for the pipeline."""
    return Concern(
        name=NAME,
        initial=LifecycleState(),
        reduce=lambda s, m, now: reduce_lifecycle(s, m, now, config),
        accepts=_accepts,
        section=lifecycle_section,
    )
