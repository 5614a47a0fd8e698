"""Fuzz (behaviour §0, §8): arbitrary frames never break the pipeline, and random runs keep the
invariants after every step.

The first tests push arbitrary input through :func:`flowrx.connect` (random bytes, random JSON,
real frames of the simulator with fields deleted, retyped, nulled, their ids replaced by quotes,
backslashes and markup, strings of a megabyte) and check that nothing raises out of the
pipeline, that every frame is accounted for once, and that no concern failed on it (a concern
failing on fuzz input is a bug, not an isolated fault).

The state machine drives interleaved runs with random node, tool, chat, pause, resume and end
frames, duplicates and virtual time, keeping a model of what intake must accept, and checks after
every step: no glow for a run ended more than its windows ago, no badge lost, the editor locked
iff the active run is running or paused, at most ``max_runs`` runs held in every concern, and no
timer for a run that is gone or long ended.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

import hypothesis.strategies as st
from hypothesis import HealthCheck, given, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from reactivex.subject import Subject

from flowrx import Config, VirtualClock, connect, dump_snapshot
from flowrx.graph import FlowGraph, graph_from_mapping
from flowrx.messages import AGNO_EVENTS, EXECUTION_EVENTS, Heartbeat, Rejected, parse
from flowrx.pipeline import default_concerns
from flowrx.sinks.state import FlowState
from flowrx.streams.simulate import demo_flow, demo_graph, simulate

CONCERNS = tuple(card.name for card in default_concerns(FlowGraph.empty(), Config()))


@functools.cache
def real_frames() -> tuple[dict[str, Any], ...]:
    """One simulated run of the demo flow, decoded (every kind of frame the platform sends)."""
    return tuple(json.loads(f.data) for f in simulate(1, seed=4))


NASTY = (
    '"',
    "\\",
    "'",
    '"; alert(1); "',
    "<script>alert(1)</script>",
    '</div><img src=x onerror="alert(1)">',
    "a\\\"b'c",
    "\\u0000",
    "\x00",
    "\u2028\u2029",
    "${run_id}",
    "%s%d",
    "[object Object]",
    "🙂",
    " ",
    "",
)
HUGE = ("x" * 2**20, '"\\<>' * 2**18, "é" * 2**19)
EVENTS = sorted({*EXECUTION_EVENTS, *AGNO_EVENTS, "ChatHTML", "AgentPaused", "pong"})

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(NASTY),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
ids = st.sampled_from(NASTY) | st.text(max_size=20)


@st.composite
def mutated_real_frame(draw: st.DrawFn) -> dict[str, Any]:
    """A real frame with one to three fields deleted, nulled, retyped, given a nasty id or a
    huge string, or its event swapped for another."""
    frame = dict(draw(st.sampled_from(real_frames())))
    for _ in range(draw(st.integers(1, 3))):
        keys = sorted(frame)
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        how = draw(st.sampled_from(("delete", "null", "retype", "id", "huge", "event")))
        if how == "delete":
            del frame[key]
        elif how == "null":
            frame[key] = None
        elif how == "retype":
            frame[key] = draw(
                json_values.filter(lambda v, old=frame[key]: type(v) is not type(old))
            )
        elif how == "id":
            field = draw(st.sampled_from(("run_id", "node_id", "agent_id", "team_id", "flow_id")))
            frame[field] = draw(ids)
        elif how == "huge":
            field = draw(st.sampled_from((key, "content", "html_content", "node_id", "run_id")))
            frame[field] = draw(st.sampled_from(HUGE))
        else:
            frame["event"] = draw(st.sampled_from(EVENTS))
    return frame


@st.composite
def event_shaped(draw: st.DrawFn) -> dict[str, Any]:
    """A mapping with a known event name and random values for the fields parse reads."""
    body: dict[str, Any] = {"event": draw(st.sampled_from(EVENTS))}
    for field in (
        "run_id",
        "node_id",
        "order",
        "status",
        "flow_id",
        "sequence_id",
        "microtime",
        "agent_id",
        "team_id",
        "content",
        "tool",
        "html_content",
        "pause_data",
        "member_index",
        "is_member_agent",
        "reasoning_content",
        "agent_role",
    ):
        if draw(st.booleans()):
            body[field] = draw(json_values | ids)
    if draw(st.booleans()):
        body["run_id"] = draw(ids)
    return body


def as_wire(frame: dict[str, Any], form: str) -> object:
    """The frame as text, as UTF-8 bytes, or as the decoded mapping a library user may pass."""
    if form == "mapping":
        return frame
    text = json.dumps(frame)
    return text.encode() if form == "bytes" else text


structured = st.builds(
    as_wire,
    mutated_real_frame() | event_shaped() | st.sampled_from(real_frames()),
    st.sampled_from(("text", "bytes", "mapping")),
)
raw_frames = (
    st.binary(max_size=64)
    | st.text(max_size=64)
    | st.builds(json.dumps, json_values)
    | st.sampled_from(("pong", " pong\n", "null", "[]", "{}", '{"event": null}', "\ud800"))
)
any_frame = st.integers(0, 3).flatmap(lambda i: raw_frames if i == 0 else structured)
frames_strategy = st.lists(
    st.tuples(any_frame, st.sampled_from((0.0, 0.0, 0.001, 0.05, 0.3, 0.6, 2.5))),
    min_size=1,
    max_size=40,
)


def push(frames: list[tuple[object, float]], graph: FlowGraph | None) -> FlowState:
    """Push timed frames through the full pipeline in virtual time, then let every timer fire."""
    clock = VirtualClock()
    source: Subject[object] = Subject()
    state, subscription = connect(source, scheduler=clock, graph=graph)
    for frame, pause in frames:
        source.on_next(frame)
        clock.run(until=clock.seconds + pause)
    clock.run()
    subscription.dispose()
    return state


def assert_accounted(state: FlowState, frames: list[object]) -> None:
    """Every frame counted once; rejections and heartbeats are exactly what parse says; no
    concern failed, none restarted, the snapshot is still a JSON document."""
    snap = state.snapshot()
    diag = snap["diagnostics"]
    assert diag["frames"] == len(frames)
    assert (
        diag["frames"]
        == diag["messages"] + diag["heartbeats"] + diag["rejected"] + diag["duplicates"]
    )
    parsed = [parse(f) for f in frames]
    # an intake bug would be counted as a rejection: the count must be parse's own
    assert diag["rejected"] == sum(isinstance(p, Rejected) for p in parsed)
    assert diag["heartbeats"] == sum(isinstance(p, Heartbeat) for p in parsed)
    assert state.failed == dict.fromkeys(CONCERNS, 0)
    assert state.health == dict.fromkeys(CONCERNS, "ok")
    assert all(state.step(name).restarts == 0 for name in CONCERNS)
    json.loads(dump_snapshot(snap))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)
@given(frames_strategy, st.booleans())
def test_arbitrary_frames_never_raise_and_are_all_accounted_for(
    frames: list[tuple[object, float]], with_graph: bool
) -> None:
    """Random bytes, JSON, mangled real frames, nasty ids, 1 MB strings: counted, never raised."""
    state = push(frames, demo_flow() if with_graph else None)
    assert_accounted(state, [f for f, _ in frames])


@settings(max_examples=15, deadline=None, database=None)
@given(st.permutations(range(len(simulate(1, seed=4)))), st.integers(0, 5))
def test_a_real_run_reordered_and_mangled_never_fails_a_concern(
    order: list[int], mangle_every: int
) -> None:
    """A whole run's frames out of order, some mangled as text: no failure, all accounted for."""
    texts = [json.dumps(real_frames()[i]) for i in order]
    if mangle_every:
        texts = [
            t[: len(t) // 2] if i % (mangle_every + 1) == 0 else t for i, t in enumerate(texts)
        ]
    state = push([(t, 0.01) for t in texts], demo_flow())
    assert_accounted(state, texts)


def test_a_megabyte_string_in_any_field_of_any_kind_of_real_frame_is_accounted_for() -> None:
    """One frame of each kind, each string field in turn replaced by 1 MB: nothing breaks."""
    kinds = {f.get("event") or f.get("type"): f for f in real_frames()}
    frames: list[object] = []
    for frame in kinds.values():
        for field, value in frame.items():
            if isinstance(value, str):
                frames.append(json.dumps({**frame, field: HUGE[len(frames) % len(HUGE)]}))
    state = push([(f, 0.05) for f in frames], demo_flow())
    assert_accounted(state, frames)
    assert len(frames) > 100


# --- ids are data: a run whose ids are all nasty gives the same snapshot, ids aside ------------


def _substitute(value: Any, swap: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return swap(value)
    if isinstance(value, Mapping):
        return {
            swap(k) if isinstance(k, str) else k: _substitute(v, swap) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_substitute(v, swap) for v in value]
    return value


@settings(max_examples=20, deadline=None, database=None)
@given(st.lists(ids, min_size=1, max_size=4))
def test_ids_with_quotes_backslashes_and_markup_change_nothing_but_the_ids(
    pieces: list[str],
) -> None:
    """Every run and node id replaced by a nasty one: the snapshot is the same, ids swapped."""
    graph = demo_graph()
    originals = [n["id"] for n in graph["nodes"]] + [real_frames()[0]["run_id"]]
    nasty = {
        old: f"\x1f{i}\x1f{pieces[i % len(pieces)]}{''.join(reversed(pieces))}"
        for i, old in enumerate(originals)
    }
    back = {new: old for old, new in nasty.items()}

    def forward(s: str) -> str:
        return nasty.get(s, s)

    def backward(s: str) -> str:
        for new in sorted(back, key=len, reverse=True):
            if new in s:
                s = s.replace(new, back[new])
        return s

    clean_frames = [json.dumps(f) for f in real_frames()]
    nasty_frames = [json.dumps(_substitute(f, forward)) for f in real_frames()]
    clean = push([(t, 0.01) for t in clean_frames], demo_flow()).snapshot()
    odd = push([(t, 0.01) for t in nasty_frames], graph_from_mapping(_substitute(graph, forward)))
    snap = odd.snapshot()
    assert_accounted(odd, nasty_frames)
    for section in (*CONCERNS, "surface"):
        assert _substitute(snap[section], backward) == json.loads(json.dumps(clean[section]))


# --- the state machine --------------------------------------------------------------------------

MAX_RUNS = 5
RUNS = 8  # more runs than max_runs: eviction happens
WINDOWS = 2.7  # a run's glow is gone this long after its end (tool window 2 s, plus margin)
FLOW = 'flow "fuzz" <1>'
SHAPE = {  # per run: handle -> (enclosing group's handle, is a group)
    "a": ("g", False),
    "b": ("g", False),
    "c": ("h", False),
    "t": (None, False),
    "g": (None, True),
    "h": ("g", True),
}
MEMBERS = sum(1 for parent, _ in SHAPE.values() if parent)
STATUSES = ("success", "error", "killed", "provided", "custom_status")


def node_id(run: int, handle: str) -> str:
    """A node id of run ``run``'s own copy of the flow (quotes, backslashes and markup)."""
    return f'r{run} "{handle}" <i>\\{handle}</i>'


def run_id(run: int) -> str:
    """The id of the ``run``-th run."""
    return f"run-{run} 'x' <b>\\"


def machine_graph() -> FlowGraph:
    """Every run's nodes (own ids, so glow tells its run), groups ``g`` ⊃ ``h`` nested."""
    nodes = []
    for run in range(RUNS):
        for handle, (parent, is_group) in SHAPE.items():
            node: dict[str, Any] = {"id": node_id(run, handle), "handle": handle}
            if is_group:
                node["category"] = "group"
            else:
                node["path"] = f"fuzz.nodes.{handle.upper()}"
            if parent is not None:
                node["group"] = node_id(run, parent)
            nodes.append(node)
    return graph_from_mapping({"flowrx": "flow/1", "flow_id": FLOW, "nodes": nodes})


GRAPH = machine_graph()
PER_RUN_TIMERS = (len(SHAPE) + 1) + len(SHAPE) + 1 + (MEMBERS + 1)
"""visual: an end window per node and the clear; tool: one per node; lifecycle: the watchdog;
group: a window per member and the clear."""
_KEYED = {"start_node", "end_node", "run_start", "run_end"}
_NODE_OR_TOOL = {
    "start_node",
    "end_node",
    "start_tool",
    "end_tool",
    "start_tool_or_member",
    "end_tool_or_member",
}


class RunsMachine(RuleBasedStateMachine):
    """Interleaved runs against the full pipeline, with a model of what intake must accept."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = VirtualClock()
        self.source: Subject[str] = Subject()
        self.state, self.subscription = connect(
            self.source, scheduler=self.clock, graph=GRAPH, config=Config(max_runs=MAX_RUNS)
        )
        self.created = 0
        self.held: list[str] = []  # intake's runs, oldest first
        self.gone: set[str] = set()  # evicted
        self.keys: dict[str, set[Any]] = {}
        self.recent: dict[str, list[tuple[float, str]]] = {}
        self.ended: dict[str, bool] = {}
        self.ended_at: dict[str, float | None] = {}
        self.badges: dict[str, set[tuple[str, int]]] = {}
        self.nodes_of = {run_id(r): {node_id(r, h) for h in SHAPE} for r in range(RUNS)}
        self.last: dict[str, Any] | None = None
        self.sequence = 0

    # --- the model of intake -------------------------------------------------------------

    def verdict(self, frame: dict[str, Any], text: str, now: float) -> str:
        """What intake must do with ``frame``: ``message``, ``duplicate`` or ``late``."""
        run, event = frame["run_id"], frame["event"]
        if run in self.gone:
            return "late"
        if run not in self.held:
            if len(self.held) >= MAX_RUNS:
                self.evict(self.held[0])
            self.held.append(run)
            self.keys[run], self.recent[run], self.ended[run] = set(), [], False
            self.ended_at[run], self.badges[run] = None, set()
        keys, recent = set(self.keys[run]), list(self.recent[run])
        if event in _KEYED:
            node = frame["node_id"] if event.endswith("_node") else None
            order = frame["order"] if event.endswith("_node") else None
            key: Any = (event, node, order, frame["status"])
        elif event in ("RunContent", "RunPaused"):
            key = ("chat", frame["sequence_id"], frame["microtime"])
            key = None if frame["sequence_id"] is None else key
            if key is None:
                key = "unkeyed"
        else:
            key = None
        if key is None:
            recent = [r for r in recent if now - r[0] < 0.1]
            if any(r[1] == text for r in recent):
                return "duplicate"
            recent.append((now, text))
        elif key != "unkeyed":
            if key in keys:
                return "duplicate"
            keys.add(key)
        if self.ended[run] and event in _NODE_OR_TOOL:
            return "late"
        if event in ("run_end", "resume_end"):
            self.ended[run] = True
            if self.ended_at[run] is None:
                self.ended_at[run] = now
        elif event == "resume_start":
            self.ended[run] = False
            self.ended_at[run] = None
            keys = set()
        elif event == "start_node":
            self.badges[run].add((frame["node_id"], frame["order"]))
        self.keys[run], self.recent[run] = keys, recent
        return "message"

    def evict(self, run: str) -> None:
        self.held.remove(run)
        self.gone.add(run)
        for table in (self.keys, self.recent, self.ended, self.ended_at, self.badges):
            del table[run]

    def send(self, frame: dict[str, Any]) -> None:
        text = json.dumps(frame)
        before = self.state.intake.counters
        expected = self.verdict(frame, text, self.state.now)
        self.source.on_next(text)
        after = self.state.intake.counters
        got = (
            "duplicate"
            if after.duplicates > before.duplicates
            else "late"
            if after.late > before.late
            else "message"
        )
        assert got == expected, (frame, got, expected)
        self.last = frame

    def run(self, index: int) -> tuple[int, str]:
        r = index % self.created
        return r, run_id(r)

    # --- rules -------------------------------------------------------------------------------

    @precondition(lambda self: self.created < RUNS)
    @rule()
    def start_run(self) -> None:
        self.created += 1
        self.send(self.exec(run_id(self.created - 1), "run_start"))

    def exec(
        self,
        run: str,
        event: str,
        node: str | None = None,
        order: int = -1,
        status: str = "running",
    ) -> dict[str, Any]:
        return {
            "flow_id": FLOW,
            "run_id": run,
            "node_id": node,
            "event": event,
            "order": order,
            "status": status,
        }

    @precondition(lambda self: self.created > 0)
    @rule(
        index=st.integers(0, RUNS - 1),
        handle=st.sampled_from(sorted(SHAPE)),
        order=st.integers(0, 3),
    )
    def start_node(self, index: int, handle: str, order: int) -> None:
        r, run = self.run(index)
        self.send(self.exec(run, "start_node", node_id(r, handle), order))

    @precondition(lambda self: self.created > 0)
    @rule(
        index=st.integers(0, RUNS - 1),
        handle=st.sampled_from(sorted(SHAPE)),
        order=st.integers(0, 3),
        status=st.sampled_from(STATUSES),
    )
    def end_node(self, index: int, handle: str, order: int, status: str) -> None:
        """An end, possibly before its start (out of order) or of a node never started."""
        r, run = self.run(index)
        self.send(self.exec(run, "end_node", node_id(r, handle), order, status))

    @precondition(lambda self: self.created > 0)
    @rule(
        index=st.integers(0, RUNS - 1),
        handle=st.sampled_from(("t", "a", "c")),
        event=st.sampled_from(("start_tool", "start_tool_or_member")),
    )
    def start_tool(self, index: int, handle: str, event: str) -> None:
        r, run = self.run(index)
        self.send(self.exec(run, event, node_id(r, handle)))

    @precondition(lambda self: self.created > 0)
    @rule(
        index=st.integers(0, RUNS - 1),
        handle=st.sampled_from(("t", "a", "c")),
        event=st.sampled_from(("end_tool", "end_tool_or_member")),
    )
    def end_tool(self, index: int, handle: str, event: str) -> None:
        r, run = self.run(index)
        self.send(self.exec(run, event, node_id(r, handle)))

    @precondition(lambda self: self.created > 0)
    @rule(
        index=st.integers(0, RUNS - 1),
        text=st.sampled_from(("Hel", "lo ", '"<b>"', "\\")),
        keyed=st.booleans(),
    )
    def chat_chunk(self, index: int, text: str, keyed: bool) -> None:
        r, run = self.run(index)
        self.sequence += 1
        agent = node_id(r, "a")
        self.send(
            {
                "event": "RunContent",
                "run_id": run,
                "node_id": agent,
                "agent_id": agent,
                "agent_role": "single",
                "is_member_agent": False,
                "content": text,
                "sequence_id": self.sequence if keyed else None,
                "microtime": 1_767_225_600.0 + self.sequence if keyed else None,
            }
        )

    @precondition(lambda self: self.created > 0)
    @rule(index=st.integers(0, RUNS - 1), agno=st.booleans())
    def pause(self, index: int, agno: bool) -> None:
        """Agno's RunPaused (no node) or the platform's AgentPaused."""
        r, run = self.run(index)
        agent = node_id(r, "a")
        if agno:
            self.sequence += 1
            self.send(
                {
                    "event": "RunPaused",
                    "run_id": run,
                    "node_id": None,
                    "agent_id": agent,
                    "agent_role": "single",
                    "is_member_agent": False,
                    "sequence_id": self.sequence,
                    "microtime": 1_767_225_600.0 + self.sequence,
                    "tools": [{"tool_name": "save_file", "tool_args": {"f": "x"}}],
                }
            )
        else:
            self.send(
                {
                    "event": "AgentPaused",
                    "run_id": run,
                    "node_id": agent,
                    "pause_type": "confirmation",
                    "pause_message": "Confirm?",
                    "pause_data": {"tools": [{"tool_name": "save_file", "tool_args": {}}]},
                }
            )

    @precondition(lambda self: self.created > 0)
    @rule(index=st.integers(0, RUNS - 1))
    def resume(self, index: int) -> None:
        _, run = self.run(index)
        self.send(self.exec(run, "resume_start"))

    @precondition(lambda self: self.created > 0)
    @rule(index=st.integers(0, RUNS - 1), event=st.sampled_from(("run_end", "resume_end")))
    def run_end(self, index: int, event: str) -> None:
        _, run = self.run(index)
        self.send(self.exec(run, event))

    @precondition(lambda self: self.last is not None)
    @rule()
    def duplicate_last(self) -> None:
        assert self.last is not None
        self.send(self.last)

    @rule(
        seconds=st.sampled_from((0.0, 0.05, 0.1, 0.5, 0.6, 1.0, 2.0, 2.7, 3.0))
        | st.floats(0.0, 3.0)
    )
    def advance(self, seconds: float) -> None:
        self.clock.run(until=self.clock.seconds + seconds)

    # --- invariants --------------------------------------------------------------------------

    def long_ended(self, run: str) -> bool:
        at = self.ended_at.get(run)
        return at is not None and self.state.now - at > WINDOWS

    @invariant()
    def no_glow_for_a_run_ended_past_its_windows_or_gone(self) -> None:
        snap = self.state.snapshot()
        lit = set(snap["surface"]) | set(snap["visual"]) | set(snap["tool"])
        for run in [*self.held, *self.gone]:
            if run in self.gone or self.long_ended(run):
                assert not lit & self.nodes_of[run], (run, sorted(lit & self.nodes_of[run]))

    @invariant()
    def badges_are_never_lost(self) -> None:
        store = self.state.snapshot()["store"]
        for run in self.held:
            ids = {record["id"] for record in store.get(run, [])}
            for node, order in self.badges[run]:
                assert f"{node}-{order}" in ids, (run, node, order)

    @invariant()
    def editor_locked_iff_the_active_run_is_running_or_paused(self) -> None:
        life = self.state.snapshot()["lifecycle"]
        active = life["active_run_id"]
        status = life["runs"][active]["status"] if active is not None else None
        assert life["editor_locked"] is (status in ("running", "paused")), life

    @invariant()
    def at_most_max_runs_held_in_every_concern(self) -> None:
        assert list(self.state.intake.runs) == self.held
        held = set(self.held)
        for name in CONCERNS:
            value = self.state.state(name)
            if name == "interaction":
                runs = {*value.flows, *value.issued, *value.ended}
                runs |= {item.run_id for item in value.pending.values()}
            else:
                runs = set(value.runs)
            assert len(runs) <= MAX_RUNS, name
            assert runs <= held, (name, runs - held)

    @invariant()
    def no_timers_for_runs_gone_or_long_ended(self) -> None:
        timers = self.state.pending_timers
        live = [run for run in self.held if not self.long_ended(run)]
        assert sum(timers.values()) <= len(live) * PER_RUN_TIMERS, timers
        open_runs = [run for run in self.held if self.ended_at[run] is None]
        assert timers["lifecycle"] <= len(open_runs)  # one watchdog per open run
        assert timers["chat"] == timers["interaction"] == 0

    def teardown(self) -> None:
        """Clearing every held run leaves no timer and no run behind."""
        for run in list(self.held):
            self.state.clear(run)
        assert sum(self.state.pending_timers.values()) == 0, self.state.pending_timers
        for name in CONCERNS:
            if name != "interaction":
                assert not self.state.state(name).runs, name
        self.clock.run()
        assert self.state.snapshot()["surface"] == {}
        self.subscription.dispose()


def test_random_interleaved_runs_keep_every_invariant_after_every_step() -> None:
    """Runs started, paused, resumed, ended, duplicated, reordered, evicted: invariants hold."""
    run_state_machine_as_test(
        RunsMachine,
        settings=settings(
            max_examples=150,
            stateful_step_count=60,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
