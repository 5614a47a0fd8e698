"""Fault suite (behaviour §8): a fault in one concern, its sink or a host hook costs nothing else.

Every test replays the simulator's three runs of the demo flow (a paused and resumed run, a
failing run, a killed run: every concern the platform feeds has work) in virtual time, once
clean and once with a fault, and compares the two Jepsen style: the visible changes of each
concern, as a multiset of ``(time, concern, what, run, node, value)``, are diffed both ways.
What the clean run has and the faulty one lacks is *lost*; what the faulty one has beyond the
clean run is *duplicated*. Both must be zero for every concern that was not faulted.
"""

from __future__ import annotations

import functools
import json
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import attrs
import pytest
from helpers import flowrx_logs
from reactivex import abc

from flowrx import Config, VirtualClock, connect, replay
from flowrx.concerns.effects import Change
from flowrx.graph import FlowGraph
from flowrx.operators.concern import InjectedFault
from flowrx.pipeline import default_concerns
from flowrx.sinks.hooks import HookRunner
from flowrx.sinks.state import FlowState
from flowrx.streams.replay import RecordedFrame
from flowrx.streams.simulate import DEMO_NODE_IDS, demo_flow, simulate

ALL_CONCERNS = tuple(card.name for card in default_concerns(FlowGraph.empty(), Config()))
CONCERNS = tuple(name for name in ALL_CONCERNS if name != "state")
"""The concerns the platform's frames feed: every one but ``state``, which takes only the
shared agent state messages of protocols that have one (its isolation is tested on such
messages in ``tests/test_state.py``; that the platform feeds exactly these is tested below)."""

SEEDS = (0, 1)
#: every k-th event fails: k = 1, 3, 10
RATES = {1: 1.0, 3: 1 / 3, 10: 0.1}
GLOW = frozenset(
    {"executing", "executed-success", "executed-error", "executed-killed", "executed-provided"}
)
RUN_STATUSES = frozenset({"running", "paused", "stalled", "success", "error", "killed"})
GROUP_STATUSES = frozenset(
    {None, "executing", "success", "error", "killed", "provided", "unfinished"}
)
NODES = frozenset(DEMO_NODE_IDS.values())
GROUPS = frozenset({DEMO_NODE_IDS["research"], DEMO_NODE_IDS["cleanup"]})

Effect = tuple[float, str, str, str | None, str | None, Any]


@attrs.frozen
class Outcome:
    """One replay: the state handle, its final snapshot, and every change with its time."""

    state: FlowState
    snapshot: dict[str, Any]
    effects: tuple[Effect, ...]
    subscription: abc.DisposableBase
    applied: Counter[str] = attrs.field(factory=Counter)
    """Events each concern's reducer applied without failing (fault injection wraps outside)."""

    def of(self, concern: str) -> Counter[Effect]:
        """The changes of one concern, as a multiset."""
        return Counter(e for e in self.effects if e[1] == concern)


@functools.cache
def frames(seed: int) -> tuple[RecordedFrame, ...]:
    """The simulator's three runs (paused/resumed, error, killed) for ``seed``."""
    return tuple(simulate(3, seed=seed))


def play(
    seed: int,
    *,
    faults: dict[str, float] | None = None,
    sinks: Sequence[Callable[[Change], None]] = (),
    hooks: HookRunner | None = None,
    dispose: bool = True,
) -> Outcome:
    """Replay the seed's frames in virtual time to the end; ``sinks`` run before the recorder.

    Disposing closes a hook runner, so tests of hooks dispose only once their hooks are done.
    """
    clock = VirtualClock()
    effects: list[Effect] = []

    def record(c: Change) -> None:
        effects.append((clock.seconds, c.concern, c.what, c.run_id, c.node_id, c.value))

    applied: Counter[str] = Counter()

    def counted(card: Any) -> Any:
        inner = card.reduce

        def reduce(state: Any, msg: Any, now: float) -> Any:
            out = inner(state, msg, now)
            applied[card.name] += 1
            return out

        return attrs.evolve(card, reduce=reduce)

    state, subscription = connect(
        replay(frames(seed), clock),
        scheduler=clock,
        graph=demo_flow(),
        concerns=[counted(c) for c in default_concerns(demo_flow(), Config())],
        faults=faults,
        hooks=hooks,
        sinks=[*sinks, record],
    )
    clock.run()
    snapshot = state.snapshot()
    if dispose:
        subscription.dispose()
    return Outcome(state, snapshot, tuple(effects), subscription, applied)


@functools.cache
def clean(seed: int) -> Outcome:
    """The clean replay of a seed (shared: it is never mutated)."""
    return play(seed)


def lost_and_duplicated(clean_run: Outcome, faulty: Outcome, concern: str) -> tuple[int, int]:
    """Jepsen-style counts: changes the faulty run lost, and changes it added, for a concern."""
    a, b = clean_run.of(concern), faulty.of(concern)
    return sum((a - b).values()), sum((b - a).values())


@pytest.fixture
def errors() -> Iterator[list[Any]]:
    """Error lines flowrx logs during the test (loguru messages: text and ``.record``)."""
    with flowrx_logs("ERROR", keep=lambda m: m, backtrace=False, diagnose=False) as seen:
        yield seen


def injected(events: int, rate: float) -> set[int]:
    """The event numbers ``inject_fault`` makes fail among a concern's first ``events``."""
    return {n for n in range(events) if int((n + 1) * rate) > int(n * rate)}


# --- the failing concern's own state stays consistent -----------------------------------------


def _versions(outcome: Outcome) -> dict[tuple[str, str], set[str]]:
    """Every version each store record had in a run: ``(run, record id)`` → its JSON texts."""
    out: dict[tuple[str, str], set[str]] = {}
    for _, concern, what, run_id, _, value in outcome.effects:
        if concern == "store" and what == "badge" and run_id is not None:
            versions = out.setdefault((run_id, value.id), set())
            versions.add(json.dumps(value.as_json(), sort_keys=True))
            if value.status == "executing":  # its end lost, the run's end cut it short
                cut = attrs.evolve(value, status="unfinished")
                versions.add(json.dumps(cut.as_json(), sort_keys=True))
    return out


def assert_store_consistent(section: dict[str, Any], clean_run: Outcome) -> None:
    """No half-applied record: each is a version the clean run had (final or stale), whole.

    A stale ``executing`` record whose ``end_node`` was the injected event is turned
    ``unfinished`` by the run's end, exactly as a node cut short is; that is a whole record too.
    """
    versions = _versions(clean_run)
    for run_id, records in section.items():
        for record in records:
            text = json.dumps(record, sort_keys=True)
            assert text in versions.get((run_id, record["id"]), set()), record


def assert_consistent(name: str, section: Any, clean_run: Outcome) -> None:
    """The failing concern's section holds only legal, whole values."""
    runs = set(clean_run.snapshot["lifecycle"]["runs"])
    if name == "visual":
        assert set(section) <= NODES
        assert all(classes and set(classes) <= GLOW for classes in section.values()), section
    elif name == "store":
        assert set(section) <= runs
        assert_store_consistent(section, clean_run)
    elif name == "lifecycle":
        assert set(section["runs"]) <= runs
        assert all(r["status"] in RUN_STATUSES for r in section["runs"].values())
        active = section["active_run_id"]
        held = section["runs"].get(active, {}).get("status")
        assert section["editor_locked"] is (held in ("running", "paused"))
    elif name == "tool":
        assert set(section) <= NODES
        assert all(classes == ["executing-tool"] for classes in section.values())
    elif name == "chat":
        assert set(section) <= runs
        speakers = {
            (m["speaker"], m["kind"]) for ms in clean_run.snapshot["chat"].values() for m in ms
        }
        for messages in section.values():
            for m in messages:
                assert m["node_id"] in NODES, m
                assert (m["speaker"], m["kind"]) in speakers, m
                assert isinstance(m["text"], str)
    elif name == "interaction":
        ever = {e[5] for e in clean_run.effects if e[1] == "interaction" and e[2] == "pending"}
        assert {item["id"] for item in section["pending"]} <= ever
        assert section["resolved"] <= clean_run.snapshot["interaction"]["resolved"]
    else:  # group
        assert set(section) <= runs
        for groups in section.values():
            assert set(groups) <= GROUPS
            for g in groups.values():
                assert g["status"] in GROUP_STATUSES
                assert 0 <= g["ended"] <= g["started"]
    json.dumps(section)  # still a JSON-ready section


# --- 1. a fault injected into one concern's reducer -------------------------------------------


def test_the_simulated_runs_feed_every_concern_but_state() -> None:
    """The concerns faulted below are exactly those the platform's frames give work to."""
    applied = clean(0).applied
    assert {name for name in ALL_CONCERNS if applied[name] > 0} == set(CONCERNS)
    assert clean(0).snapshot["state"] == {}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", sorted(RATES))
@pytest.mark.parametrize("name", CONCERNS)
def test_a_concern_failing_on_every_kth_event_costs_nothing_elsewhere(
    name: str, k: int, seed: int
) -> None:
    """Every other concern's section and changes equal a clean run: 0 lost, 0 duplicated."""
    faulty = play(seed, faults={name: RATES[k]})
    reference = clean(seed)
    for other in ALL_CONCERNS:
        if other == name:
            continue
        assert faulty.snapshot[other] == reference.snapshot[other], other
        assert lost_and_duplicated(reference, faulty, other) == (0, 0), other
        assert faulty.state.failed[other] == 0, other
        assert faulty.state.health[other] == "ok", other
    assert faulty.snapshot["surface"].keys() <= NODES
    for key in ("frames", "messages", "rejected", "duplicates", "late", "unknown"):
        assert faulty.snapshot["diagnostics"][key] == reference.snapshot["diagnostics"][key]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", sorted(RATES))
@pytest.mark.parametrize("name", CONCERNS)
def test_the_failing_concern_loses_exactly_the_injected_events_and_stays_consistent(
    name: str, k: int, seed: int, errors: list[Any]
) -> None:
    """Failures = injected events (each logged once with concern, event, traceback); state whole."""
    rate = RATES[k]
    faulty = play(seed, faults={name: rate})
    step = faulty.state.step(name)
    events = faulty.applied[name] + step.failures  # every event reached the injector once
    expected = injected(events, rate)
    assert events > 0
    assert faulty.state.failed[name] == len(expected) == int(events * rate)
    assert step.failures == len(expected)
    assert step.restarts == 0  # every failure was caught per event, none broke the pipeline
    mine = [m for m in errors if m.record["extra"].get("concern") == name]
    assert len(mine) == len(expected) == len(errors)
    numbers = set()
    for m in mine:
        record = m.record
        assert record["exception"] is not None
        assert record["exception"].type is InjectedFault
        assert record["extra"]["event"]  # the event's type (or "timer" for a fired window)
        assert "Traceback" in str(m)
        assert "InjectedFault" in str(m)
        found = re.search(r"injected fault in (\w+) \(event (\d+)\)", str(m))
        assert found is not None
        assert found.group(1) == name
        numbers.add(int(found.group(2)))
    assert numbers == expected  # once each: no failure logged twice, none missing
    assert_consistent(name, faulty.snapshot[name], clean(seed))


@pytest.mark.parametrize("name", CONCERNS)
def test_a_concern_failing_on_every_event_ends_degraded_never_silently_complete(
    name: str,
) -> None:
    """Rate 1: nothing applied, every event counted as failed, health ``degraded`` at the end."""
    faulty = play(0, faults={name: 1.0})
    step = faulty.state.step(name)
    initial = next(c for c in default_concerns(demo_flow(), Config()) if c.name == name).initial
    assert faulty.state.state(name) == initial
    assert faulty.applied[name] == 0
    assert step.failures > 0
    assert faulty.state.health[name] == "degraded"
    assert faulty.snapshot["diagnostics"]["health"][name] == "degraded"
    assert step.failure is not None  # the last event failed too: it was still being fed
    assert faulty.of(name) == Counter()


@pytest.mark.parametrize("k", [3, 10])
@pytest.mark.parametrize("name", CONCERNS)
def test_a_concern_failing_now_and_then_stays_healthy(name: str, k: int) -> None:
    """A failure on every 3rd or 10th event is counted, but it is no streak: health ``ok``."""
    faulty = play(0, faults={name: RATES[k]})
    assert faulty.state.health[name] == "ok"


# --- 2. a failing sink of one concern ---------------------------------------------------------


def raising_sink(concern: str, k: int, raised: list[Change]) -> Callable[[Change], None]:
    """A host sink that raises on every k-th change of ``concern`` (and notes which)."""
    seen = [0]

    def sink(change: Change) -> None:
        if change.concern != concern:
            return
        seen[0] += 1
        if seen[0] % k == 1 % k:  # the 1st, (k+1)th, ... change: at least one per concern
            raised.append(change)
            raise RuntimeError(f"sink of {concern} broke on change {seen[0]}")

    return sink


@pytest.mark.parametrize("k", sorted(RATES))
@pytest.mark.parametrize("name", CONCERNS)
def test_a_raising_sink_of_one_concern_changes_no_state_and_counts_its_failures(
    name: str, k: int, errors: list[Any]
) -> None:
    """Every section and every change as in a clean run; failures counted for that concern."""
    raised: list[Change] = []
    faulty = play(0, sinks=[raising_sink(name, k, raised)])
    reference = clean(0)
    changes = sum(reference.of(name).values())
    assert len(raised) == -(-changes // k) > 0
    for section in (*ALL_CONCERNS, "surface"):
        assert faulty.snapshot[section] == reference.snapshot[section], section
    for concern in ALL_CONCERNS:  # the sink after the raising one still saw everything
        assert lost_and_duplicated(reference, faulty, concern) == (0, 0), concern
    assert faulty.state.failed == {c: len(raised) if c == name else 0 for c in ALL_CONCERNS}
    assert len(errors) == len(raised)
    for m in errors:
        assert m.record["extra"]["concern"] == name
        assert m.record["exception"] is not None
        assert m.record["exception"].type is RuntimeError
        assert "Traceback" in str(m)


def test_a_sink_added_with_add_sink_that_always_raises_is_isolated(errors: list[Any]) -> None:
    """``state.add_sink`` after connect: a sink raising on every change of chat hurts nothing."""
    clock = VirtualClock()
    state, subscription = connect(replay(frames(1), clock), scheduler=clock, graph=demo_flow())
    raised: list[Change] = []
    state.add_sink(raising_sink("chat", 1, raised), name="broken_chat_view")
    clock.run()
    reference = clean(1)
    snap = state.snapshot()
    for section in (*ALL_CONCERNS, "surface"):
        assert snap[section] == reference.snapshot[section], section
    assert len(raised) == sum(reference.of("chat").values())
    assert state.failed["chat"] == len(raised)
    assert all(state.failed[c] == 0 for c in ALL_CONCERNS if c != "chat")
    assert {m.record["extra"]["sink"] for m in errors} == {"broken_chat_view"}
    subscription.dispose()


# --- 3. host hooks that raise or hang ---------------------------------------------------------

HOOKS = ("run_start", "run_end", "resume_end")


def test_a_raising_host_hook_changes_nothing_but_its_own_log_lines(errors: list[Any]) -> None:
    """Every section and change as without hooks; only ``hooks`` lines, one per attempt."""
    calls: list[tuple[str, str]] = []
    lock = threading.Lock()

    def fetch_results(name: str, run_id: str) -> None:
        with lock:
            calls.append((name, run_id))
        raise ConnectionError("results service down")

    runner = HookRunner(  # retried at once; no attempt of a raising hook comes near the timeout
        {hook: [fetch_results] for hook in HOOKS}, retries=3, backoff=0.0, timeout=600
    )
    faulty = play(0, hooks=runner, dispose=False)
    assert runner.wait(10)
    faulty.subscription.dispose()
    reference = clean(0)
    assert faulty.snapshot == reference.snapshot
    assert faulty.effects == reference.effects
    requested = 3 + 3  # three run_start, and a run_end or resume_end per run
    assert runner.stats.calls == requested
    assert runner.stats.failed_attempts == len(calls) == 3 * requested
    assert runner.stats.gave_up == requested
    assert len(errors) == len(calls)
    for m in errors:
        assert m.record["extra"]["concern"] == "hooks"
        assert m.record["extra"]["event"] in HOOKS
        assert m.record["exception"].type is ConnectionError


def test_a_hanging_host_hook_changes_nothing_and_logs_nothing_while_it_hangs(
    errors: list[Any],
) -> None:
    """Hooks blocked on an event: the replay ends exactly as without hooks; released at the end."""
    release = threading.Event()

    def poll_logs(name: str, run_id: str) -> None:
        release.wait(30)

    runner = HookRunner(  # its timeouts on a virtual clock that is never advanced: none fires
        {hook: [poll_logs] for hook in HOOKS},
        retries=1,
        slots=6,  # one per call: the six calls all hang at once, none is refused as busy
        scheduler=VirtualClock(),
    )
    try:
        faulty = play(0, hooks=runner, dispose=False)
        reference = clean(0)
        assert faulty.snapshot == reference.snapshot
        assert faulty.effects == reference.effects
        assert faulty.snapshot["lifecycle"]["editor_locked"] is False
        assert runner.stats.succeeded == 0  # every hook is still hanging
        assert errors == []
    finally:
        release.set()
        assert runner.wait(10)
    faulty.subscription.dispose()
    assert runner.stats.succeeded == runner.stats.calls == 6
    assert errors == []
