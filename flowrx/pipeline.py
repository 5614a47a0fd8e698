"""The composition root: source → intake → share → one branch per concern → sinks.

:func:`connect` is the public entry point for embedding flowrx in a larger Rx pipeline: give it
any observable of frames (text, bytes or decoded mappings; a ``list`` of frames is a burst,
taken as one batch) and the scheduler that its timers must run on; it returns the state handle
and a disposable that tears everything down (every concern's subscription and every pending
timer).

Read top to bottom, this is the whole system::

    frames ─┐
    host controls ─┴─ merge ─ intake (decode, dedupe, count, evict) ─ partition_by(accepts)
        ├─ concern(visual):  merge(timers) ─ scan(guarded reduce) ─ timers ─ retry ─┐
        ├─ concern(store):   …                                                     ├─ FlowState
        ├─ …                                                                       │ (store,
        └─ concern(state):   …                                                   ──┘  snapshot,
                                                                           log, hooks, sinks)

``partition_by`` is ``publish()`` and one ``filter`` per concern read in one pass: each message
is offered once to each card's ``accepts``, and only the concerns that take it see it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import reactivex
from reactivex import Observable, abc
from reactivex import operators as ops
from reactivex.disposable import CompositeDisposable, Disposable

from flowrx.concerns.chat import chat_concern
from flowrx.concerns.effects import Change, Concern
from flowrx.concerns.group import group_concern
from flowrx.concerns.interaction import interaction_concern
from flowrx.concerns.lifecycle import lifecycle_concern
from flowrx.concerns.state import state_concern
from flowrx.concerns.store import store_concern
from flowrx.concerns.tool import tool_concern
from flowrx.concerns.visual import visual_concern
from flowrx.config import Config
from flowrx.graph import FlowGraph
from flowrx.operators._partition import partition_by
from flowrx.operators.clock import VirtualClock
from flowrx.operators.concern import concern, inject_fault
from flowrx.operators.intake import intake
from flowrx.protocols import protocol_named
from flowrx.protocols.card import Protocol
from flowrx.sinks.hooks import HookFn, HookRunner
from flowrx.sinks.log import log_graph_problems
from flowrx.sinks.state import FlowState

__all__ = ["connect", "default_concerns", "track"]


def default_concerns(graph: FlowGraph, config: Config) -> list[Concern[Any]]:
    """The concerns flowrx runs, in pipeline order."""
    return [
        visual_concern(config),
        store_concern(graph),
        lifecycle_concern(config),
        tool_concern(config),
        chat_concern(graph),
        interaction_concern(graph),
        group_concern(config, graph),
        state_concern(config),
    ]


def _seconds(scheduler: abc.SchedulerBase) -> Callable[[], float]:
    """The pipeline's clock: seconds since connect, read once per frame and per timer."""
    if isinstance(scheduler, VirtualClock):  # its float clock, without datetime conversions
        begin = scheduler.seconds
        return lambda: scheduler.seconds - begin
    to_seconds = scheduler.to_seconds
    start = to_seconds(scheduler.now)
    return lambda: float(to_seconds(scheduler.now) - start)


def connect(
    frames: Observable[Any],
    *,
    scheduler: abc.SchedulerBase,
    graph: FlowGraph | None = None,
    config: Config | None = None,
    hooks: Mapping[str, Sequence[HookFn]] | HookRunner | None = None,
    faults: Mapping[str, float] | None = None,
    sinks: Iterable[Callable[[Change], None]] = (),
    concerns: Sequence[Concern[Any]] | None = None,
    protocol: str | Protocol[Any] = "platform",
) -> tuple[FlowState, abc.DisposableBase]:
    """Wire the pipeline over ``frames`` and start it; return the state handle and disposable.

    ``scheduler`` runs every timer (a virtual clock in tests and replay, the asyncio scheduler
    when live). ``faults`` maps a concern name to the fraction of its events whose reducer must
    raise (fault injection, to show isolation). ``hooks`` maps ``run_start``/``run_end``/
    ``resume_end`` to host callables, run isolated (or is a configured
    :class:`~flowrx.sinks.hooks.HookRunner`). ``sinks`` receive every visible change.
    ``protocol`` names the wire format of ``frames`` (or is its card): ``"platform"``.
    """
    reader = protocol_named(protocol)
    graph = graph or FlowGraph.empty()
    log_graph_problems(graph.problems)  # once per pipeline; lookups never follow a cycle
    config = config or Config()
    clock = _seconds(scheduler)
    cards = list(concerns) if concerns is not None else default_concerns(graph, config)
    names = [c.name for c in cards]
    if len(set(names)) != len(names):
        raise ValueError(f"two concerns share a name: {names}")
    unknown = set(faults or ()) - set(names)
    if unknown:
        raise ValueError(f"no such concern to fault: {', '.join(sorted(unknown))}")
    faults = faults or {}
    cards = [inject_fault(c, faults[c.name]) if c.name in faults else c for c in cards]
    runner = hooks if isinstance(hooks, HookRunner) else HookRunner(hooks) if hooks else None
    state = FlowState(
        cards, graph=graph, config=config, clock=clock, on_hook=runner, protocol=reader
    )
    for sink in sinks:
        state.add_sink(sink)

    partition = reactivex.merge(frames, state.controls).pipe(
        intake(reader, config, clock, on_state=state.set_intake, on_notice=state.note),
        # one branch per concern, each item offered once to each card's ``accepts``; read only
        # once every concern listens (below), as publish().connect() does: a cold source
        # would otherwise play to the first concern that subscribes, alone
        partition_by(
            [card.accepts for card in cards], [state.route_failed(card.name) for card in cards]
        ),
    )
    subscriptions = CompositeDisposable(
        [
            branch.pipe(
                concern(
                    card,
                    scheduler,
                    clock,
                    degraded_after=config.degraded_after,
                    timers_seen=state.watch_timers(card.name),
                )
            ).subscribe(state.apply)
            for card, branch in zip(cards, partition.branches, strict=True)
        ]
    )
    connection = partition.connect()  # every concern listens: start
    if connection is not None:
        subscriptions.add(connection)
    if runner is not None:
        subscriptions.add(Disposable(runner.close))
        state.hooks = runner
    return state, subscriptions


def track(
    *, scheduler: abc.SchedulerBase, **options: Any
) -> Callable[[Observable[Any]], Observable[Change]]:
    """The whole pipeline as one pipeable operator: frames in, every visible change out.

    ``frames.pipe(track(scheduler=s, graph=g), ops.filter(...), ...)``: each subscription wires
    its own pipeline with :func:`connect` (``options`` are its keyword arguments) and disposing
    it tears everything down. The output completes once the frames have completed and no
    display timer is pending any more (the last glow has shown its status), checked every
    100 ms of the scheduler's time; an error of the frames is passed on.
    """

    def _track(frames: Observable[Any]) -> Observable[Change]:
        def subscribe(
            observer: abc.ObserverBase[Change], _: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            ending = CompositeDisposable()

            def ended() -> None:  # the frames are done: complete once everything has shown
                ending.add(
                    reactivex.interval(0.1, scheduler=scheduler)
                    .pipe(ops.start_with(0), ops.filter(lambda _: state.settled()), ops.take(1))
                    .subscribe(on_completed=observer.on_completed)
                )

            source = frames.pipe(ops.do_action(on_error=observer.on_error, on_completed=ended))
            extra = {k: v for k, v in options.items() if k != "sinks"}
            sinks = [*options.get("sinks", ()), observer.on_next]
            state, subscription = connect(source, scheduler=scheduler, sinks=sinks, **extra)
            return CompositeDisposable(subscription, ending)

        return Observable(subscribe)

    return _track
