"""State concern: each run's shared agent state document, from snapshots and RFC 6902 deltas.

The pure reducer is tested on :class:`~flowrx.messages.StateSnapshot` and
:class:`~flowrx.messages.StateDelta` messages as a protocol's decoder emits them; the whole
pipeline is run in virtual time through ``connect`` with a toy wire format (the platform's
frames, plus JSON lines carrying state snapshots and deltas), since the platform itself sends
no shared state. A hypothesis suite checks that no sequence of updates raises out of the
reducer, and that every patch does exactly what ``jsonpatch`` on a copy of the document does.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import attrs
import jsonpatch
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowrx import FlowGraph, dump_snapshot
from flowrx.concerns.effects import Change
from flowrx.concerns.state import SharedState, reduce_state, state_concern, state_section
from flowrx.config import Config
from flowrx.messages import (
    MAX_DEPTH,
    ClearRun,
    Evict,
    ExecutionEvent,
    Message,
    StateDelta,
    StateSnapshot,
    Unknown,
)
from flowrx.pipeline import default_concerns
from flowrx.protocols.card import Notice, Protocol
from flowrx.protocols.platform import PLATFORM, IntakeState
from flowrx.testing import Driver, exec_frame, fold

R1 = "run-1"
R2 = "run-2"


def feed(
    *messages: Message, state: SharedState | None = None, config: Config = Config()
) -> tuple[SharedState, list[Any]]:
    """The reducer over ``messages`` (one per second) from ``state`` (empty when not given)."""
    return fold(
        lambda s, m, now: reduce_state(s, m, now, config),
        [(float(i), m) for i, m in enumerate(messages)],
        state if state is not None else SharedState(),
    )


def op(name: str, path: str, **fields: Any) -> dict[str, Any]:
    """One RFC 6902 operation (``from_`` for its ``from`` member)."""
    out = {"op": name, "path": path, **fields}
    if "from_" in out:
        out["from"] = out.pop("from_")
    return out


def documents(state: SharedState) -> dict[str, Any]:
    """Every run's document as the snapshot shows it."""
    return state_section(state)


# --- snapshots ----------------------------------------------------------------------------------


def test_a_snapshot_replaces_the_runs_document_whatever_was_there() -> None:
    """The second snapshot is the document: keys of the first one that it lacks are gone."""
    state, effects = feed(
        StateSnapshot(R1, {"plan": ["a", "b"], "step": 1}), StateSnapshot(R1, {"step": 2})
    )
    assert documents(state) == {R1: {"step": 2}}
    assert effects == [
        Change("state", "document", R1, None, {"plan": ["a", "b"], "step": 1}),
        Change("state", "document", R1, None, {"step": 2}),
    ]


def test_the_last_snapshot_wins_over_a_partial_one_sent_inside_a_step() -> None:
    """A partial snapshot inside a step, then the full one after it: the full one is kept."""
    state, _ = feed(
        StateSnapshot(R1, {"items": [1, 2], "done": False}),
        StateSnapshot(R1, {"items": [1, 2, 3]}),  # partial, mid-step
        StateSnapshot(R1, {"items": [1, 2, 3], "done": True}),  # full, after the step
    )
    assert documents(state) == {R1: {"items": [1, 2, 3], "done": True}}


def test_a_snapshot_may_be_any_json_value_not_only_an_object() -> None:
    """Lists, strings, numbers and null are documents too."""
    for value in ([1, "two"], "text", 3.5, None, True):
        state, _ = feed(StateSnapshot(R1, value))
        assert documents(state) == {R1: value}


def test_the_same_snapshot_again_emits_no_change() -> None:
    """A snapshot equal to the document held changes nothing, so nothing is redrawn."""
    state, effects = feed(StateSnapshot(R1, {"a": 1}), StateSnapshot(R1, {"a": 1}))
    assert len(effects) == 1
    assert state.patch_failed == 0


def test_a_snapshot_that_is_not_json_data_is_refused_and_counted() -> None:
    """A value no JSON text gives (only a broken protocol could send one) keeps the document."""
    start, _ = feed(StateSnapshot(R1, {"a": 1}))
    for bad in ({"a": {1, 2}}, {"a": object()}, {("t",): 1}):
        state, effects = feed(StateSnapshot(R1, bad), state=start)
        assert (documents(state), state.patch_failed, effects) == ({R1: {"a": 1}}, 1, [])


# --- deltas -------------------------------------------------------------------------------------


def test_a_delta_applies_add_replace_remove_move_copy_and_test_in_order() -> None:
    """Every RFC 6902 operation, in one patch, on the run's document."""
    state, effects = feed(
        StateSnapshot(R1, {"todo": ["write"], "owner": "ann", "draft": {"v": 1}}),
        StateDelta(
            R1,
            [
                op("test", "/owner", value="ann"),
                op("add", "/todo/-", value="review"),
                op("replace", "/owner", value="bob"),
                op("copy", "/backup", from_="/todo"),
                op("move", "/final", from_="/draft"),
                op("remove", "/todo/0"),
            ],
        ),
    )
    expected = {
        "todo": ["review"],
        "owner": "bob",
        "backup": ["write", "review"],
        "final": {"v": 1},
    }
    assert documents(state) == {R1: expected}
    assert effects[-1] == Change("state", "document", R1, None, expected)
    assert state.patch_failed == 0


def test_a_delta_may_replace_the_whole_document() -> None:
    """An operation on the empty path (the root) replaces the document."""
    state, _ = feed(StateSnapshot(R1, {"a": 1}), StateDelta(R1, [op("replace", "", value=[7])]))
    assert documents(state) == {R1: [7]}


def test_a_delta_before_any_snapshot_applies_to_an_empty_object() -> None:
    """A run without a document starts from ``{}``, as ``@ag-ui/client`` does."""
    state, effects = feed(StateDelta(R1, [op("add", "/count", value=1)]))
    assert documents(state) == {R1: {"count": 1}}
    assert effects == [Change("state", "document", R1, None, {"count": 1})]


def test_a_failed_test_operation_keeps_the_document_and_counts_patch_failed() -> None:
    """``test`` failing: the patch does not apply, nothing is emitted, ``patch_failed`` is 1."""
    start, _ = feed(StateSnapshot(R1, {"n": 1}))
    state, effects = feed(StateDelta(R1, [op("test", "/n", value=5)]), state=start)
    assert (documents(state), state.patch_failed, effects) == ({R1: {"n": 1}}, 1, [])


@pytest.mark.parametrize(
    "operation",
    [
        op("remove", "/missing"),
        op("replace", "/missing", value=1),
        op("add", "/missing/deeper", value=1),
        op("add", "/list/9", value=1),
        op("remove", "/list/x"),
        op("move", "/n", from_="/missing"),
        op("copy", "/n", from_="/list/5"),
        op("add", "no-slash", value=1),
        op("add", "/n/inside", value=1),  # into a number
        op("jump", "/n"),
        {"op": "add", "value": 1},  # no path
        {"op": "add", "path": "/z"},  # no value
        {"path": "/n"},  # no op
    ],
    ids=repr,
)
def test_an_operation_that_does_not_apply_keeps_the_document_and_counts(
    operation: dict[str, Any],
) -> None:
    """A bad path, a missing member or an unknown operation: the document stays as it was."""
    start, _ = feed(StateSnapshot(R1, {"n": 1, "list": [0]}))
    state, effects = feed(StateDelta(R1, [operation]), state=start)
    assert (documents(state), state.patch_failed, effects) == ({R1: {"n": 1, "list": [0]}}, 1, [])


@pytest.mark.parametrize(
    "delta",
    [
        {"op": "add", "path": "/a", "value": 1},  # one operation, not a list of them
        '[{"op": "add", "path": "/a", "value": 1}]',  # a patch as text is not parsed
        None,
        5,
        ["add /a 1"],
        [[{"op": "add", "path": "/a", "value": 1}]],
        [{"op": "add", "path": "/a", "value": 1}, "then this"],
    ],
    ids=repr,
)
def test_a_delta_that_is_not_a_list_of_operation_objects_is_counted(delta: Any) -> None:
    """Anything but a list of operation objects is no patch: the document stays."""
    start, _ = feed(StateSnapshot(R1, {"n": 1}))
    state, effects = feed(StateDelta(R1, delta), state=start)
    assert (documents(state), state.patch_failed, effects) == ({R1: {"n": 1}}, 1, [])


def test_a_patch_applies_whole_or_not_at_all() -> None:
    """Operations before the failing one are not kept either."""
    start, _ = feed(StateSnapshot(R1, {"n": 1}))
    delta = [op("replace", "/n", value=2), op("add", "/m", value=3), op("remove", "/nope")]
    state, _ = feed(StateDelta(R1, delta), state=start)
    assert documents(state) == {R1: {"n": 1}}


def test_an_empty_delta_changes_nothing_and_a_test_only_delta_emits_nothing() -> None:
    """A patch that applies without changing the document is no change (and no failure)."""
    start, _ = feed(StateSnapshot(R1, {"n": 1}))
    state, effects = feed(
        StateDelta(R1, []), StateDelta(R1, [op("test", "/n", value=1)]), state=start
    )
    assert (documents(state), state.patch_failed, effects) == ({R1: {"n": 1}}, 0, [])


def test_failures_are_counted_one_per_delta_and_later_deltas_still_apply() -> None:
    """Each refused delta counts once; the next good one applies to the kept document."""
    state, _ = feed(
        StateSnapshot(R1, {"n": 1}),
        StateDelta(R1, [op("remove", "/a"), op("remove", "/b")]),
        StateDelta(R1, "junk"),
        StateDelta(R1, [op("replace", "/n", value=2)]),
    )
    assert (documents(state), state.patch_failed) == ({R1: {"n": 2}}, 2)


# --- bounds -------------------------------------------------------------------------------------


def test_copies_that_would_double_the_document_past_its_bound_are_refused() -> None:
    """Sixty copies of a list into itself would need 2**60 items: the patch is refused."""
    config = Config(max_state_size=10_000)
    start, _ = feed(StateSnapshot(R1, {"a": ["x" * 10]}), config=config)
    bomb = [op("copy", "/a/-", from_="/a")] * 60
    state, effects = feed(StateDelta(R1, bomb), state=start, config=config)
    assert (documents(state), state.patch_failed, effects) == ({R1: {"a": ["x" * 10]}}, 1, [])
    state, _ = feed(StateDelta(R1, bomb[:3]), state=state, config=config)
    assert len(json.dumps(documents(state)[R1])) < 10_000  # a few copies are fine


def test_a_document_longer_than_its_bound_is_refused_from_a_snapshot_or_deltas() -> None:
    """``max_state_size`` bounds the JSON text of a document, however it would be reached."""
    config = Config(max_state_size=100)
    state, _ = feed(
        StateSnapshot(R1, {"text": "x" * 200}),
        StateSnapshot(R2, {"text": "x" * 50}),
        StateDelta(R2, [op("add", "/more", value="y" * 50)]),
        config=config,
    )
    assert (documents(state), state.patch_failed) == ({R2: {"text": "x" * 50}}, 2)


def test_a_document_nested_deeper_than_frames_may_be_is_refused() -> None:
    """Deltas that would nest the document beyond MAX_DEPTH levels do not apply."""

    def nested(levels: int) -> Any:
        value: Any = 0
        for _ in range(levels):
            value = [value]
        return value

    deep = nested(MAX_DEPTH - 10)  # in {"a": …}: MAX_DEPTH - 9 levels, it may be held
    path = "/a" + "/0" * (MAX_DEPTH - 20)  # a list of 10 levels, under 1 + MAX_DEPTH - 20
    state, _ = feed(
        StateSnapshot(R1, {"a": deep}),
        StateDelta(R1, [op("replace", path, value=nested(19))]),  # MAX_DEPTH levels: fine
        StateDelta(R1, [op("replace", path, value=nested(20))]),  # one more: refused
    )
    assert state.patch_failed == 1
    assert documents(state) == {R1: {"a": nested(MAX_DEPTH - 1)}}


# --- documents are never shared -----------------------------------------------------------------


def test_changing_the_senders_snapshot_afterwards_does_not_change_the_document() -> None:
    """The document is the snapshot's value when it arrived, not the sender's object."""
    sent = {"items": [1]}
    state, _ = feed(StateSnapshot(R1, sent))
    sent["items"].append(2)
    sent["extra"] = True
    assert documents(state) == {R1: {"items": [1]}}


def test_changing_a_deltas_values_afterwards_does_not_change_the_document() -> None:
    """A value an ``add`` put in is a copy, not the delta's object."""
    value = {"tags": ["a"]}
    state, _ = feed(StateDelta(R1, [op("add", "/v", value=value)]))
    value["tags"].append("b")
    assert documents(state) == {R1: {"v": {"tags": ["a"]}}}


def test_changing_the_section_or_a_changes_value_does_not_change_the_document() -> None:
    """Every reader gets a copy of its own: the snapshot section and each change's value."""
    state, effects = feed(StateSnapshot(R1, {"items": [1]}))
    effects[0].value["items"].append("from a sink")
    state_section(state)[R1]["items"].append("from a host")
    state.document(R1)["items"].append("from a reader")
    assert documents(state) == {R1: {"items": [1]}}


def test_a_delta_never_changes_the_previous_state() -> None:
    """The state before a delta still holds the document before it (no shared object)."""
    before, _ = feed(StateSnapshot(R1, {"list": [1, 2], "n": {"deep": 1}}))
    after, _ = feed(
        StateDelta(R1, [op("remove", "/list/0"), op("replace", "/n/deep", value=2)]),
        state=before,
    )
    assert documents(before) == {R1: {"list": [1, 2], "n": {"deep": 1}}}
    assert documents(after) == {R1: {"list": [2], "n": {"deep": 2}}}


def test_documents_are_held_as_text_that_nobody_can_change() -> None:
    """What the state holds per run is a ``str``: immutable, whoever reads the state."""
    state, _ = feed(StateSnapshot(R1, {"a": [1]}), StateDelta(R2, [op("add", "/b", value=2)]))
    assert all(isinstance(text, str) for text in state.runs.values())
    assert state.document(R1) == {"a": [1]}
    assert state.document("no such run") is None


# --- runs ---------------------------------------------------------------------------------------


def test_two_runs_keep_documents_of_their_own() -> None:
    """A delta of one run, and its failure, leave the other run's document alone."""
    state, _ = feed(
        StateSnapshot(R1, {"n": 1}),
        StateSnapshot(R2, {"n": 1}),
        StateDelta(R1, [op("replace", "/n", value=2)]),
        StateDelta(R2, [op("remove", "/gone")]),
    )
    assert documents(state) == {R1: {"n": 2}, R2: {"n": 1}}
    assert state.patch_failed == 1


def test_evict_drops_the_run_and_says_so_once() -> None:
    """``Evict`` drops the run's document (a ``cleared`` change); other runs stay."""
    state, effects = feed(
        StateSnapshot(R1, {"n": 1}), StateSnapshot(R2, {"n": 2}), Evict(R1), Evict(R1)
    )
    assert documents(state) == {R2: {"n": 2}}
    assert effects[2:] == [Change("state", "cleared", R1)]


def test_the_section_lists_runs_by_id_and_is_empty_without_runs() -> None:
    """Sorted by run id, whatever the arrival order; ``{}`` when no run has a document."""
    assert state_section(SharedState()) == {}
    state, _ = feed(StateSnapshot("b", 2), StateSnapshot("a", 1), StateSnapshot("c", 3))
    assert list(state_section(state)) == ["a", "b", "c"]


def test_other_messages_change_nothing() -> None:
    """The concern reads only state messages and evictions."""
    start, _ = feed(StateSnapshot(R1, {"n": 1}))
    others = (ExecutionEvent("run_end", R1, None, None, None), Unknown("X", R1), ClearRun(R1))
    for msg in others:
        assert reduce_state(start, msg, 9.0) == (start, ())


# --- the card -----------------------------------------------------------------------------------


def test_the_card_routes_state_messages_and_evictions_and_counts_patch_failed() -> None:
    """Name ``state``, its routing, its ``patch_failed`` counter from the start."""
    card = state_concern()
    assert card.name == "state"
    assert card.counters(card.initial) == {"patch_failed": 0}
    assert card.section(card.initial) == {}
    assert card.accepts(StateSnapshot(R1, {}))
    assert card.accepts(StateDelta(R1, []))
    assert card.accepts(Evict(R1))
    assert not card.accepts(ExecutionEvent("run_start", R1, None, None, None))
    assert not card.accepts(Unknown("X", R1))


def test_the_default_pipeline_runs_the_state_concern_after_group() -> None:
    """``state`` is the eighth concern, after ``group``."""
    names = [card.name for card in default_concerns(FlowGraph.empty(), Config())]
    assert names[-2:] == ["group", "state"]
    assert len(names) == 8


# --- the whole pipeline, with a toy wire format -------------------------------------------------


@attrs.frozen
class Toy:
    """The platform's intake state and the state lines read besides."""

    platform: IntakeState = attrs.field(factory=IntakeState)
    state_lines: int = 0


def reduce_toy(
    toy: Toy, item: object, now: float, config: Config
) -> tuple[Toy, tuple[Message | Notice, ...]]:
    """``{"state": run, "snapshot"|"delta": …}`` lines as state messages; the rest as the
    platform reads it."""
    if isinstance(item, str) and item.startswith('{"state"'):
        line = json.loads(item)
        run = line["state"]
        if "snapshot" in line:
            msg: Message = StateSnapshot(run, line["snapshot"])
        else:
            msg = StateDelta(run, line["delta"])
        return attrs.evolve(toy, state_lines=toy.state_lines + 1), (msg,)
    platform, out = PLATFORM.reduce(toy.platform, item, now, config)
    return attrs.evolve(toy, platform=platform), out


TOY = Protocol(
    name="toy",
    initial=Toy(),
    reduce=reduce_toy,
    counters=lambda toy: {**PLATFORM.counters(toy.platform), "state_lines": toy.state_lines},
    rejected=lambda toy: attrs.evolve(toy, platform=PLATFORM.rejected(toy.platform)),
)


def snapshot_line(run: str, value: Any) -> str:
    """A toy line carrying a state snapshot."""
    return json.dumps({"state": run, "snapshot": value})


def delta_line(run: str, *operations: Any) -> str:
    """A toy line carrying a state delta."""
    return json.dumps({"state": run, "delta": list(operations)})


def play(driver: Driver) -> None:
    """One run with nodes, state snapshots and deltas (one that fails), over 1.5 s."""
    driver.at(0.0, exec_frame("run_start", run=R1), snapshot_line(R1, {"step": "plan"}))
    driver.at(0.1, exec_frame("start_node", "n1", 0, run=R1))
    driver.at(0.2, delta_line(R1, op("replace", "/step", value="act")))
    driver.at(0.3, delta_line(R1, op("test", "/step", value="plan")))  # fails
    driver.at(0.4, exec_frame("end_node", "n1", 0, "success", run=R1))
    driver.at(0.5, delta_line(R1, op("add", "/done", value=True)))
    driver.at(0.6, snapshot_line(R2, [1]), exec_frame("run_end", run=R1))
    driver.at(1.5)


def test_state_messages_from_a_protocol_reach_the_snapshot_through_connect() -> None:
    """The toy protocol's state lines become the ``state`` section, changes and counters."""
    changes: list[Change] = []
    driver = Driver(protocol=TOY, sinks=[changes.append])
    play(driver)
    snap = driver.snapshot()
    assert snap["protocol"] == "toy"
    assert snap["state"] == {R1: {"step": "act", "done": True}, R2: [1]}
    diagnostics = snap["diagnostics"]
    assert (diagnostics["patch_failed"], diagnostics["state_lines"]) == (1, 5)
    assert diagnostics["violations"] == 0
    assert (diagnostics["failed"]["state"], diagnostics["health"]["state"]) == (0, "ok")
    assert [(c.what, c.run_id, c.value) for c in changes if c.concern == "state"] == [
        ("document", R1, {"step": "plan"}),
        ("document", R1, {"step": "act"}),
        ("document", R1, {"step": "act", "done": True}),
        ("document", R2, [1]),
    ]
    assert '"state": {' in dump_snapshot(snap)


def test_a_host_changing_a_snapshot_does_not_change_the_next_one() -> None:
    """The snapshot's ``state`` section is a copy: editing it leaves the pipeline's state."""
    driver = Driver(protocol=TOY)
    play(driver)
    first = driver.snapshot()
    first["state"][R1]["step"] = "edited"
    assert driver.snapshot()["state"][R1]["step"] == "act"


def test_a_cleared_run_leaves_the_state_section() -> None:
    """The host's ``clear`` evicts the run from every concern, the state concern too."""
    changes: list[Change] = []
    driver = Driver(protocol=TOY, sinks=[changes.append])
    play(driver)
    driver.state.clear(R1)
    assert driver.snapshot()["state"] == {R2: [1]}
    assert Change("state", "cleared", R1) in changes


def test_a_fault_in_the_state_concern_costs_nothing_elsewhere() -> None:
    """Every event of ``state`` failing: the other sections equal a clean run; failures counted."""
    clean = Driver(protocol=TOY)
    play(clean)
    faulty = Driver(protocol=TOY, faults={"state": 1.0})
    play(faulty)
    a, b = clean.snapshot(), faulty.snapshot()
    for name in clean.state.concerns:
        if name != "state":
            assert a[name] == b[name], name
            assert b["diagnostics"]["failed"][name] == 0, name
    assert b["state"] == {}
    assert b["diagnostics"]["failed"]["state"] == 5  # every state line
    assert b["diagnostics"]["health"]["state"] == "degraded"


def test_a_fault_in_another_concern_leaves_the_state_section_whole() -> None:
    """The visual concern failing on every event changes nothing of the state concern."""
    clean = Driver(protocol=TOY)
    play(clean)
    faulty = Driver(protocol=TOY, faults={"visual": 1.0})
    play(faulty)
    a, b = clean.snapshot(), faulty.snapshot()
    assert b["state"] == a["state"]
    assert b["diagnostics"]["patch_failed"] == a["diagnostics"]["patch_failed"] == 1
    assert b["diagnostics"]["failed"]["state"] == 0


# --- any sequence of updates --------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "0", "~", "/"])
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(allow_nan=False)
    | st.text(max_size=3)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=10,
)
DOCUMENTS = st.dictionaries(KEYS, JSON, min_size=1, max_size=3) | JSON
RUNS = st.sampled_from([R1, R2])


def pointers(document: Any, at: str = "") -> list[str]:
    """The JSON pointer of every value in ``document`` (RFC 6901: ``~`` and ``/`` escaped)."""
    out = [at]
    if isinstance(document, dict):
        for key, value in document.items():
            out += pointers(value, f"{at}/{key.replace('~', '~0').replace('/', '~1')}")
    elif isinstance(document, list):
        for index, value in enumerate(document):
            out += pointers(value, f"{at}/{index}")
    return out


def operations(document: Any) -> st.SearchStrategy[dict[str, Any]]:
    """Operations on ``document``: four in five on its own paths, or where a member may be
    added (they tend to apply: a ``test`` of a value it holds does); the rest malformed, or on
    paths it lacks (they fail)."""
    inside = pointers(document)[1:] or ["/a"]
    there = st.sampled_from(inside)
    new = st.sampled_from([f"{p}/-" for p in inside] + [f"{p}/n" for p in inside] + ["/n"])
    bad = st.sampled_from(["", "/9", "/01", "/~", "a", "/~2", "/0/-/0"]) | new.map(
        lambda p: p + "/x"
    )
    anywhere = there | new | bad
    likely = (
        st.fixed_dictionaries({"op": st.just("add"), "path": there | new, "value": JSON})
        | st.fixed_dictionaries(
            {"op": st.sampled_from(["replace", "test"]), "path": there, "value": JSON}
        )
        | st.fixed_dictionaries({"op": st.just("remove"), "path": there})
        | st.fixed_dictionaries(
            {"op": st.sampled_from(["move", "copy"]), "from": there, "path": there | new}
        )
    )
    values = {p: jsonpatch.JsonPointer(p).resolve(document, None) for p in inside}
    passing = there.map(lambda p: {"op": "test", "path": p, "value": copy.deepcopy(values[p])})
    unlikely = st.fixed_dictionaries(
        {"op": st.sampled_from(["add", "replace", "test", "remove", "move", "copy", "nope"])},
        optional={"path": anywhere, "from": anywhere, "value": JSON},
    )
    return likely | likely | likely | passing | unlikely


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_every_delta_does_what_jsonpatch_does_on_a_copy_of_the_document(
    data: st.DataObject,
) -> None:
    """A model: the document jsonpatch gives, or the same document and one more patch_failed."""
    state = SharedState()
    model: dict[str, Any] = {}
    failed = 0
    for _ in range(data.draw(st.integers(1, 12))):
        run = data.draw(RUNS)
        msg: StateSnapshot | StateDelta
        if data.draw(st.integers(0, 3)) == 0 or (run not in model and data.draw(st.booleans())):
            msg = StateSnapshot(run, data.draw(DOCUMENTS))
        else:
            delta = data.draw(st.lists(operations(model.get(run, {})), max_size=3))
            msg = StateDelta(run, delta)
        state, effects = reduce_state(state, msg, 0.0)
        if isinstance(msg, StateSnapshot):
            model[run] = copy.deepcopy(msg.snapshot)
        else:
            try:
                model[run] = jsonpatch.apply_patch(model.get(run, {}), msg.delta, in_place=False)
            except Exception:
                failed += 1
        assert documents(state) == dict(sorted(model.items()))
        assert state.patch_failed == failed
        for effect in effects:
            assert effect == Change("state", "document", run, None, model[run])


WILD = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=5)
    | st.binary(max_size=3)
    | st.sampled_from([object(), {1, 2}, float("nan")]),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(KEYS | st.integers(0, 3) | st.just(("t",)), inner, max_size=3)
    ),
    max_leaves=12,
)
WILD_UPDATES = st.lists(
    st.builds(StateSnapshot, RUNS, WILD)
    | st.builds(StateDelta, RUNS, WILD | st.lists(operations({"a": [1]}) | WILD, max_size=4))
    | st.builds(Evict, RUNS),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(WILD_UPDATES)
def test_no_sequence_of_updates_raises_out_of_the_reducer(
    updates: list[StateSnapshot | StateDelta | Evict],
) -> None:
    """Whatever the snapshots and deltas hold, each is applied or counted; never an exception."""
    state = SharedState()
    for msg in updates:
        before = state
        state, effects = reduce_state(state, msg, 0.0)
        assert state.patch_failed - before.patch_failed in (0, 1)
        if state.patch_failed != before.patch_failed:
            assert (state.runs, effects) == (before.runs, ())
        dump_snapshot({"state": state_section(state)})  # always a writable section


def test_a_state_changes_line_shows_the_documents_start_and_size_not_the_whole_document() -> None:
    """``--plain`` and log lines describe a state change as compact JSON, cut at 200
    characters with the document's size, so a megabyte of state is one short line."""
    from flowrx.concerns.effects import Change

    small = Change("state", "document", "run-1", None, {"b": [1, 2], "a": "x"})
    assert small.describe() == 'state       document run=run-1 {"a":"x","b":[1,2]}'
    big = Change("state", "document", "run-1", None, {"rows": ["y" * 100] * 10_000})
    line = big.describe()
    assert len(line) < 300
    assert line.endswith("… (1,030,010 characters)")
