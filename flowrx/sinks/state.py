"""The state handle: the latest state of every concern, diagnostics, health, and host sinks.

:class:`FlowState` is what :func:`flowrx.connect` returns. It is the pipeline's state store:
each concern's steps land here (``apply``), intake's counters too. A host reads it (``state``,
``snapshot()``, ``diagnostics``), subscribes to visible changes (``changes``, an observable of
:class:`~flowrx.concerns.effects.Change`), adds sinks (``add_sink``), and talks back to the
pipeline with control messages (``background``, ``foreground``, ``resolve``, ``clear``).

Sinks cannot hurt the pipeline: a host sink that raises is logged, counted against the
concern whose change it was handling, and the other sinks and concerns carry on.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from reactivex import Observable
from reactivex import operators as ops
from reactivex.subject import Subject

from flowrx.concerns.effects import Change, Concern, Hook
from flowrx.config import Config
from flowrx.graph import FlowGraph, Node
from flowrx.messages import (
    Answer,
    Background,
    ClearRun,
    Control,
    Foreground,
    Reply,
    ResolveInteraction,
)
from flowrx.operators.concern import Step
from flowrx.protocols.card import Notice, Protocol
from flowrx.protocols.platform import PLATFORM
from flowrx.sinks.log import log_failure, log_notice, log_sink_failure

if TYPE_CHECKING:
    from flowrx.sinks.snapshot import Snapshot

__all__ = ["FlowState", "Sink"]

Sink = Callable[[Change], None]


class FlowState:
    """Live state of one pipeline (never shared between pipelines)."""

    def __init__(
        self,
        concerns: Sequence[Concern[Any]],
        *,
        graph: FlowGraph,
        config: Config,
        clock: Callable[[], float],
        on_hook: Callable[[Hook], None] | None = None,
        protocol: Protocol[Any] = PLATFORM,
    ) -> None:
        self.graph = graph
        self.config = config
        self._clock = clock
        self._cards = {c.name: c for c in concerns}
        self._steps: dict[str, Step[Any]] = {c.name: Step(c.name, c.initial) for c in concerns}
        self._sink_failures = dict.fromkeys(self._cards, 0)
        self._timers: dict[str, Mapping[Hashable, object]] = {}
        self._sinks: list[tuple[str, Sink]] = []
        self._changes: Subject[Change] = Subject()
        self._steps_out: Subject[Step[Any]] = Subject()
        self._controls: Subject[Control] = Subject()
        self._replies: Subject[Reply] = Subject()
        self._answers: dict[str, dict[str, Answer]] = {}
        self._on_hook = on_hook
        self.protocol = protocol
        """The wire format the pipeline reads (its card)."""
        self.intake: Any = protocol.initial
        """The protocol's intake state now (dedupe memory and counters)."""
        self.connection: Any = None
        """The live source's latest ConnectionStatus, when a host sets it (shown in snapshots)."""
        self.hooks: Any = None
        """The hook runner, when hooks were given (its ``stats`` and ``wait``)."""

    def set_intake(self, intake: Any) -> None:
        """Store intake's latest state (its counters feed the diagnostics)."""
        self.intake = intake

    # --- what the pipeline writes -----------------------------------------------------------

    def apply(self, step: Step[Any]) -> None:
        """Store a concern's step; log its failures; hand its changes to the sinks.

        Never raises: it is the end of every concern's pipeline, and an error there would end
        that concern's subscription."""
        self._steps[step.concern] = step
        if self._steps_out.observers:  # nobody watches the states: skip the Subject's lock
            try:
                self._steps_out.on_next(step)
            except Exception as exc:  # an observer of `states` that raises is a failing sink
                self._sink_failures[step.concern] = self._sink_failures.get(step.concern, 0) + 1
                log_sink_failure(step.concern, "states", exc)
        for failure in step.failed:
            try:
                log_failure(failure)
            except Exception as exc:  # a broken log sink is a failing sink, no more
                self._sink_failures[step.concern] = self._sink_failures.get(step.concern, 0) + 1
                log_sink_failure(step.concern, "log", exc)
        for effect in step.effects:
            if isinstance(effect, Change):
                self._emit(step.concern, effect)
            elif isinstance(effect, Hook) and self._on_hook is not None:
                try:
                    self._on_hook(effect)
                except Exception as exc:  # the runner itself must not break the concern
                    log_sink_failure(step.concern, "hooks", exc)

    def route_failed(self, concern: str) -> Callable[[BaseException, object], None]:
        """A callback for a concern's routing: its predicate raised on an item. Counted as
        that concern's sink failure and logged; the item is not taken, and the other concerns
        got it all the same."""

        def failed(error: BaseException, item: object) -> None:
            self._sink_failures[concern] = self._sink_failures.get(concern, 0) + 1
            log_sink_failure(concern, "router", error)

        return failed

    def note(self, notice: Notice) -> None:
        """Log an intake notice."""
        log_notice(notice)

    def watch_timers(self, concern: str) -> Callable[[Mapping[Hashable, object]], None]:
        """A callback for :func:`~flowrx.operators.concern.concern` that lets health count a
        concern's timers."""

        def seen(timers: Mapping[Hashable, object]) -> None:
            self._timers[concern] = timers

        return seen

    def _emit(self, concern: str, change: Change) -> None:
        for name, sink in self._sinks:
            try:
                sink(change)
            except Exception as exc:
                self._sink_failures[concern] = self._sink_failures.get(concern, 0) + 1
                log_sink_failure(concern, name, exc)
        if not self._changes.observers:  # nobody watches `changes`: skip the Subject's lock
            return
        try:
            self._changes.on_next(change)
        except Exception as exc:  # an observer of `changes` that raises is a failing sink
            self._sink_failures[concern] = self._sink_failures.get(concern, 0) + 1
            log_sink_failure(concern, "changes", exc)

    # --- what a host reads ----------------------------------------------------------------

    @property
    def now(self) -> float:
        """The pipeline's clock: seconds since it was connected (recording time in replay)."""
        return self._clock()

    @property
    def concerns(self) -> tuple[str, ...]:
        """The concerns' names, in pipeline order."""
        return tuple(self._cards)

    @property
    def cards(self) -> tuple[Concern[Any], ...]:
        """The concerns' cards, in pipeline order (the one registry the snapshot, the views and
        the diagnostics iterate)."""
        return tuple(self._cards.values())

    def state(self, concern: str) -> Any:
        """The latest state of one concern (frozen attrs value)."""
        return self._steps[concern].state

    def step(self, concern: str) -> Step[Any]:
        """The latest step of one concern (state, last effects, failure counts)."""
        return self._steps[concern]

    def section(self, concern: str) -> Any:
        """One concern's ``snapshot/1`` section."""
        return self._cards[concern].section(self._steps[concern].state)

    def surface_of(self, concern: str) -> Mapping[str, Any]:
        """Classes per node that one concern adds to the surface."""
        return self._cards[concern].surface(self._steps[concern].state)

    @property
    def failed(self) -> dict[str, int]:
        """Failures per concern: its reducer's and its sinks'."""
        return {
            name: step.failures + self._sink_failures.get(name, 0)
            for name, step in self._steps.items()
        }

    @property
    def health(self) -> dict[str, str]:
        """``ok`` or ``degraded`` per concern."""
        return {name: "degraded" if s.degraded else "ok" for name, s in self._steps.items()}

    @property
    def pending_timers(self) -> dict[str, int]:
        """Timers each concern has pending now (none may be left for an evicted run)."""
        return {name: len(t) for name, t in self._timers.items()}

    def settled(self, ignore: tuple[str, ...] = ("watchdog",)) -> bool:
        """True when no display timer is pending (timers whose key starts with ``ignore``,
        such as the 120 s stall watchdog, do not count)."""
        for timers in self._timers.values():
            for key in list(timers):
                kind = key[0] if isinstance(key, tuple) and key else key
                if kind not in ignore:
                    return False
        return True

    @property
    def counters(self) -> dict[str, int]:
        """Intake counters plus each concern's own counters."""
        out = dict(self.protocol.counters(self.intake))
        for name, card in self._cards.items():
            out.update(card.counters(self._steps[name].state))
        return out

    def snapshot(self) -> Snapshot:
        """The ``flowrx/snapshot/1`` document of this moment (a ``dict`` that Jupyter shows as
        the HTML view)."""
        from flowrx.sinks.snapshot import Snapshot, build_snapshot

        return Snapshot(build_snapshot(self), graph=self.view_graph)

    def _repr_html_(self) -> str:
        """The HTML view of the state now (Jupyter shows a FlowState with it)."""
        from flowrx.sinks.html_view import render_html

        return render_html(self.snapshot(), self.view_graph)

    @property
    def view_graph(self) -> FlowGraph:
        """The graph the views draw: the pipeline's, or, when it was given none, the flow as
        its protocol announced it in the runs held (:class:`~flowrx.messages.NodeAnnounced`:
        Agno's steps with their handles, types and enclosing groups), so that a workflow
        watched without its definition still shows its groups nested. The snapshot document
        is the same either way."""
        if self.graph.nodes:
            return self.graph
        names: dict[str, tuple[str | None, str | None]] = {}
        parents: dict[str, str] = {}
        store, group = self._steps.get("store"), self._steps.get("group")
        for run in getattr(store.state, "runs", {}).values() if store is not None else ():
            names.update(getattr(run, "names", {}))
        for run in getattr(group.state, "runs", {}).values() if group is not None else ():
            parents.update(getattr(run, "parents", {}))
        if not names and not parents:
            return self.graph
        ids = list(dict.fromkeys([*names, *parents, *parents.values()]))
        return FlowGraph.build(
            Node(
                id=node_id,
                handle=names.get(node_id, (None, None))[0],
                path=names.get(node_id, (None, None))[1],
                group=parents.get(node_id),
            )
            for node_id in ids
        )

    @property
    def changes(self) -> Observable[Change]:
        """Every visible change, as it is applied (hot)."""
        return self._changes

    def states(self, concern: str) -> Observable[Any]:
        """Every new state of one concern, as it is applied (hot): compose with it as with
        any observable (``state.states("lifecycle").pipe(ops.map(...))``)."""
        if concern not in self._cards:
            raise ValueError(f"no such concern: {concern!r} (concerns: {', '.join(self._cards)})")

        def mine(step: Step[Any]) -> bool:
            return step.concern == concern

        def state_of(step: Step[Any]) -> Any:
            return step.state

        return self._steps_out.pipe(
            ops.filter(mine),
            ops.map(state_of),
            ops.distinct_until_changed(comparer=operator.is_),
        )

    def add_sink(self, sink: Sink, name: str | None = None) -> None:
        """Call ``sink`` with every visible change; a raising sink is isolated and counted."""
        self._sinks.append((name or str(getattr(sink, "__name__", "sink")), sink))

    # --- what a host says -------------------------------------------------------------------

    @property
    def controls(self) -> Observable[Control]:
        """The control messages the host has sent (merged into the pipeline's input)."""
        return self._controls

    def send(self, control: Control) -> None:
        """Send a control message into the pipeline."""
        self._controls.on_next(control)

    def background(self, run_id: str) -> None:
        """Send a run to the background: stores update, glow does not."""
        self.send(Background(run_id))

    def foreground(self, run_id: str) -> None:
        """Bring a run back: glow restored from the tracked state, live again."""
        self.send(Foreground(run_id))

    def resolve(
        self, interaction_id: str, payload: Any = None, *, status: str = "resolved"
    ) -> None:
        """Answer a pending interaction by id.

        For a protocol that talks back (AG-UI), the answer is kept until every pending item of
        its run is answered; then one :class:`~flowrx.messages.Reply` (the answers and the
        run's chat so far) goes out on :attr:`replies`, for the source to continue the run, and
        the items stay pending until the run resumes. For the platform, the item is resolved
        at once. An id that is not pending raises ``KeyError``."""
        if not self.protocol.talks_back:
            self.send(ResolveInteraction(interaction_id))
            return
        pending = self._pending()
        item = pending.get(interaction_id)
        if item is None:
            raise KeyError(f"no pending interaction {interaction_id!r}")
        if status not in ("resolved", "cancelled"):
            raise ValueError(f"status must be 'resolved' or 'cancelled', not {status!r}")
        run_id = item.run_id
        answers = dict(self._answers.get(run_id, {}))
        answers[interaction_id] = Answer(interaction_id, item.kind, item.detail, payload, status)
        self._answers[run_id] = answers
        waiting = [i for i in pending.values() if i.run_id == run_id and i.id not in answers]
        if waiting:
            return
        del self._answers[run_id]
        ordered = tuple(answers[i.id] for i in pending.values() if i.id in answers)
        chat = self._steps.get("chat")
        run = getattr(chat.state, "runs", {}).get(run_id) if chat is not None else None
        messages = tuple(run.messages.values()) if run is not None else ()
        self._replies.on_next(Reply(run_id, ordered, messages))

    def answer_pauses(self, decide: Callable[[Mapping[str, Any]], Any]) -> None:
        """Answer each pending interaction of a paused run once, with ``decide(item)`` as its
        payload (``item`` as the snapshot's ``interaction.pending`` shows it); ``decide``
        returning ``None`` leaves the item pending.

        It acts when a run is paused *and* its items are known, whichever of the two the
        pipeline applies first (one message at a time the items come first; in a burst the
        lifecycle concern may see the pause first): a sink on both concerns' changes."""
        answered: set[str] = set()

        def sink(change: Change) -> None:
            if change.concern not in ("lifecycle", "interaction"):
                return
            runs = self.section("lifecycle").get("runs", {})
            for item in self.section("interaction").get("pending", []):
                run = runs.get(item["run_id"])
                if item["id"] in answered or run is None or run["status"] != "paused":
                    continue
                payload = decide(item)
                if payload is not None:
                    answered.add(item["id"])
                    self.resolve(item["id"], payload)

        self.add_sink(sink, "answer_pauses")

    def _pending(self) -> Mapping[str, Any]:
        """The interaction concern's pending items by id (none without that concern)."""
        step = self._steps.get("interaction")
        pending = getattr(step.state, "pending", None) if step is not None else None
        return pending if isinstance(pending, Mapping) else {}

    @property
    def replies(self) -> Observable[Reply]:
        """A paused run's answers, once all its pending items are answered (hot): what a
        source that talks back (AG-UI) sends to continue the run."""
        return self._replies

    def clear(self, run_id: str) -> None:
        """Drop a run from every concern now."""
        self.send(ClearRun(run_id))
