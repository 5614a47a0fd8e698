"""Store concern (behaviour §2): badge records per run, pure and through the real pipeline."""

from __future__ import annotations

import json
from typing import Any

import attrs
from reactivex.testing import ReactiveTest, TestScheduler

from flowrx.concerns.effects import Change
from flowrx.concerns.store import Badge, StoreState, reduce_store, store_section
from flowrx.config import Config
from flowrx.graph import FlowGraph, graph_from_mapping
from flowrx.messages import Evict, ExecutionEvent, NodeAnnounced
from flowrx.pipeline import connect
from flowrx.testing import Driver, fold

GRAPH = graph_from_mapping(
    {
        "nodes": [
            {"id": "n1", "handle": "fetch", "path": "polysynergy_nodes.http.HttpRequest"},
            {"id": "n2", "handle": "agent", "path": "Agent"},
            {"id": "nopath", "handle": "bare", "path": None},
            {"id": "g1", "handle": "group", "category": "group", "group": {"nodes": ["n2"]}},
            {"id": 'q"uote\\d', "handle": "odd", "path": "x.y.Odd"},
        ]
    }
)

# --- helpers ---------------------------------------------------------------------------------


def ev(
    event: str,
    node: str | None = None,
    order: int | None = None,
    status: str | None = "running",
    run: str = "r1",
) -> ExecutionEvent:
    """An execution message as parse would build it."""
    return ExecutionEvent(event, run, node, order, status)


def feed(
    msgs: list[Any], state: StoreState | None = None, graph: FlowGraph | None = GRAPH
) -> tuple[StoreState, list[Any]]:
    """Run the pure reducer over ``msgs`` (time is irrelevant to the store: message i at i s)."""
    return fold(
        lambda s, m, n: reduce_store(s, m, n, graph),
        ((float(i), msg) for i, msg in enumerate(msgs)),
        state or StoreState(),
    )


def record(state: StoreState, node: str, order: int, run: str = "r1") -> Badge:
    """The record of ``node`` at ``order`` in ``run``."""
    return state.runs[run].records[(node, order)]


def frame(
    event: str,
    node: str | None = None,
    order: int | None = -1,
    status: str = "running",
    run: str = "r1",
) -> str:
    """One execution frame; ``order=None`` leaves the key out (an older backend)."""
    data: dict[str, Any] = {"run_id": run, "node_id": node, "event": event, "status": status}
    if order is not None:
        data["order"] = order
    return json.dumps(data)


class Live(Driver):
    """The real pipeline on a virtual clock, fed through a subject."""

    def __init__(self, graph: FlowGraph | None = GRAPH, config: Config | None = None) -> None:
        super().__init__(graph=graph, config=config)

    def store(self) -> dict[str, list[dict[str, Any]]]:
        """The store section now."""
        return dict(self.state.section("store"))


# --- pure reducer ----------------------------------------------------------------------------


def test_start_node_creates_an_executing_record_from_the_graph():
    """start_node → record ``<node>-<order>``, executing, with the graph's handle and type."""
    state, effects = feed([ev("start_node", "n1", 3)])
    badge = record(state, "n1", 3)
    assert badge.as_json() == {
        "id": "n1-3",
        "node_id": "n1",
        "order": 3,
        "status": "executing",
        "handle": "fetch",
        "type": "HttpRequest",
    }
    assert badge.run_id == "r1"
    assert effects == [Change("store", "badge", "r1", "n1", badge)]


def test_type_is_the_last_dotted_part_of_the_path():
    """The type is the path's last dotted part; an undotted path is its own type."""
    state, _ = feed([ev("start_node", "n1", 0), ev("start_node", "n2", 1)])
    assert record(state, "n1", 0).type == "HttpRequest"
    assert record(state, "n2", 1).type == "Agent"


def test_unknown_node_has_no_handle_or_type_never_group_node():
    """A node the graph lacks gets handle and type None, never ``GroupNode``."""
    state, _ = feed([ev("start_node", "ghost", 0), ev("end_node", "ghost", 0, "success")])
    badge = record(state, "ghost", 0)
    assert (badge.handle, badge.type) == (None, None)
    assert badge.status == "success"


def test_group_node_without_path_has_type_none():
    """A group node with no path gets type None, not an invented ``GroupNode``."""
    state, _ = feed([ev("start_node", "g1", 0)])
    assert record(state, "g1", 0).type is None
    assert record(state, "g1", 0).handle == "group"


def test_defect_6_null_path_gives_type_none_without_crash():
    """Defect 6: a node with a null path gets type None; its badge still works."""
    state, _ = feed([ev("start_node", "nopath", 0), ev("end_node", "nopath", 0, "error")])
    badge = record(state, "nopath", 0)
    assert (badge.handle, badge.type, badge.status, badge.badge) == ("bare", None, "error", 1)


def test_no_graph_at_all_gives_handle_and_type_none():
    """Without a flow graph every record has handle and type None."""
    state, _ = feed([ev("start_node", "n1", 0)], graph=None)
    assert (record(state, "n1", 0).handle, record(state, "n1", 0).type) == (None, None)


def test_defect_22_end_node_only_changes_the_status():
    """Defect 22: end_node keeps handle, type and order; only the status changes."""
    state, _ = feed([ev("start_node", "n1", 4)])
    before = record(state, "n1", 4)
    state, effects = feed([ev("end_node", "n1", 4, "killed")], state)
    after = record(state, "n1", 4)
    assert after == attrs.evolve(before, status="killed")
    assert effects == [Change("store", "badge", "r1", "n1", after)]


def test_defect_22_end_node_keeps_the_record_even_without_a_graph_lookup():
    """An end_node reduced without the graph still keeps what the start recorded."""
    state, _ = feed([ev("start_node", "n1", 0)])
    state, _ = feed([ev("end_node", "n1", 0, "success")], state, graph=None)
    assert (record(state, "n1", 0).handle, record(state, "n1", 0).type) == ("fetch", "HttpRequest")


def test_defect_21_badge_is_server_order_plus_one_in_every_run():
    """Defect 21: two runs each starting at order 0 both show badge 1, not insertion indexes."""
    state, _ = feed(
        [
            ev("start_node", "n1", 0, run="A"),
            ev("start_node", "n2", 1, run="A"),
            ev("start_node", "n2", 0, run="B"),
            ev("start_node", "n1", 1, run="B"),
        ]
    )
    assert record(state, "n1", 0, "A").badge == 1
    assert record(state, "n2", 1, "A").badge == 2
    assert record(state, "n2", 0, "B").badge == 1
    assert record(state, "n1", 1, "B").badge == 2


def test_badge_follows_the_server_order_not_arrival():
    """A node arriving first with order 5 shows badge 6."""
    state, _ = feed([ev("start_node", "n2", 5), ev("start_node", "n1", 2)])
    assert record(state, "n2", 5).badge == 6
    assert record(state, "n1", 2).badge == 3


def test_run_end_turns_executing_records_unfinished():
    """run_end: executing records become unfinished; ended ones keep their status."""
    state, _ = feed(
        [ev("start_node", "n1", 0), ev("end_node", "n1", 0, "success"), ev("start_node", "n2", 1)]
    )
    state, effects = feed([ev("run_end")], state)
    assert record(state, "n1", 0).status == "success"
    assert record(state, "n2", 1).status == "unfinished"
    assert record(state, "n2", 1).badge == 2
    assert effects == [Change("store", "badge", "r1", "n2", record(state, "n2", 1))]


def test_resume_end_turns_executing_records_unfinished():
    """resume_end closes the run's executing records like run_end."""
    state, _ = feed([ev("start_node", "n1", 0), ev("resume_end")])
    assert record(state, "n1", 0).status == "unfinished"


def test_run_end_with_nothing_executing_changes_nothing():
    """run_end of a run whose nodes all ended emits nothing and keeps the state."""
    state, _ = feed([ev("start_node", "n1", 0), ev("end_node", "n1", 0, "success")])
    assert feed([ev("run_end")], state) == (state, [])


def test_records_persist_after_run_end():
    """The run's records stay in the store after run_end."""
    state, _ = feed([ev("start_node", "n1", 0), ev("end_node", "n1", 0, "success"), ev("run_end")])
    assert list(state.runs["r1"].records) == [("n1", 0)]


def test_evict_removes_the_run_whole():
    """Evict drops every record of that run and no other."""
    state, _ = feed(
        [ev("start_node", "n1", 0), ev("start_node", "n2", 1), ev("start_node", "n1", 0, run="B")]
    )
    state, effects = feed([Evict("r1")], state)
    assert set(state.runs) == {"B"}
    assert effects == []


def test_section_is_sorted_by_order_then_node_id():
    """The snapshot section lists each run's records by order, then node id."""
    state, _ = feed(
        [
            ev("start_node", "n2", 2),
            ev("start_node", "zeta", 1),
            ev("start_node", "alpha", 1),
            ev("start_node", "n1", 0),
        ]
    )
    ids = [r["id"] for r in store_section(state)["r1"]]
    assert ids == ["n1-0", "alpha-1", "zeta-1", "n2-2"]


def test_missing_order_falls_back_to_the_runs_own_position():
    """Without a server order a record takes its position within its own run, from 0."""
    state, _ = feed(
        [
            ev("start_node", "n1", None, run="A"),
            ev("start_node", "n2", None, run="A"),
            ev("start_node", "n2", None, run="B"),
        ]
    )
    assert record(state, "n1", 0, "A").badge == 1
    assert record(state, "n2", 1, "A").badge == 2
    assert record(state, "n2", 0, "B").badge == 1


def test_end_node_without_order_ends_the_nodes_executing_record():
    """An end_node without order finishes that node's latest executing record."""
    state, _ = feed(
        [
            ev("start_node", "n1", None),
            ev("start_node", "n2", None),
            ev("end_node", "n1", None, "error"),
        ]
    )
    assert record(state, "n1", 0).status == "error"
    assert record(state, "n2", 1).status == "executing"


def test_end_node_without_its_start_still_records_the_outcome():
    """An end_node whose start was lost makes a record with its status and graph data."""
    state, _ = feed([ev("end_node", "n1", 7, "provided")])
    assert record(state, "n1", 7).as_json() == {
        "id": "n1-7",
        "node_id": "n1",
        "order": 7,
        "status": "provided",
        "handle": "fetch",
        "type": "HttpRequest",
    }


def test_a_resumed_run_may_reuse_an_order_for_another_node():
    """Records are keyed by (node, order): two nodes with one order after a resume both stay."""
    state, _ = feed([ev("start_node", "n1", 2), ev("run_end"), ev("start_node", "n2", 2)])
    assert record(state, "n1", 2).status == "unfinished"
    assert record(state, "n2", 2).status == "executing"


def test_ids_with_quotes_are_data():
    """A node id with a quote and a backslash is stored and looked up as is."""
    odd = 'q"uote\\d'
    state, _ = feed([ev("start_node", odd, 0), ev("end_node", odd, 0, "success")])
    assert record(state, odd, 0).id == f"{odd}-0"
    assert (record(state, odd, 0).handle, record(state, odd, 0).status) == ("odd", "success")


# --- through the real pipeline ---------------------------------------------------------------


def test_pipeline_records_carry_graph_data_and_final_status():
    """Frames through the pipeline give records with handle, type and final status."""
    live = Live()
    live.at(0.0, frame("run_start"), frame("start_node", "n1", 0), frame("start_node", "ghost", 1))
    live.at(1.0, frame("end_node", "n1", 0, "success"))
    assert live.store() == {
        "r1": [
            {
                "id": "n1-0",
                "node_id": "n1",
                "order": 0,
                "status": "success",
                "handle": "fetch",
                "type": "HttpRequest",
            },
            {
                "id": "ghost-1",
                "node_id": "ghost",
                "order": 1,
                "status": "executing",
                "handle": None,
                "type": None,
            },
        ]
    }


def test_pipeline_null_path_node_does_not_break_the_store():
    """Defect 6 end to end: a null-path node gets type None; later events still apply."""
    live = Live()
    live.at(0.0, frame("run_start"), frame("start_node", "nopath", 0))
    live.at(0.5, frame("end_node", "nopath", 0, "success"), frame("start_node", "n1", 1))
    rows = live.store()["r1"]
    assert [(r["id"], r["status"], r["type"]) for r in rows] == [
        ("nopath-0", "success", None),
        ("n1-1", "executing", "HttpRequest"),
    ]
    assert live.state.failed["store"] == 0


def test_pipeline_badges_of_two_runs_each_start_at_one():
    """Defect 21 end to end, in marbles: runs A and B both number their first node 1."""
    scheduler = TestScheduler()
    on = ReactiveTest.on_next
    frames = scheduler.create_hot_observable(
        on(0.1, frame("run_start", run="A")),
        on(0.2, frame("start_node", "n1", 0, run="A")),
        on(0.3, frame("start_node", "n2", 1, run="A")),
        on(0.4, frame("run_end", run="A")),
        on(0.5, frame("run_start", run="B")),
        on(0.6, frame("start_node", "n2", 0, run="B")),
    )
    state, _ = connect(frames, scheduler=scheduler, graph=GRAPH)
    scheduler.advance_to(1.0)
    badges = {
        run: sorted((b.node_id, b.badge) for b in store_run.records.values())
        for run, store_run in state.state("store").runs.items()
    }
    assert badges == {"A": [("n1", 1), ("n2", 2)], "B": [("n2", 1)]}


def test_pipeline_run_end_marks_unfinished_and_records_persist():
    """After run_end the executing record is unfinished and every record is still there."""
    live = Live()
    live.at(0.0, frame("run_start"), frame("start_node", "n1", 0), frame("start_node", "n2", 1))
    live.at(1.0, frame("end_node", "n1", 0, "success"))
    live.at(2.0, frame("run_end"))
    live.at(100.0)
    assert [(r["id"], r["status"]) for r in live.store()["r1"]] == [
        ("n1-0", "success"),
        ("n2-1", "unfinished"),
    ]


def test_pipeline_clear_removes_the_run_whole():
    """Clearing a run removes all its records and leaves other runs."""
    live = Live()
    live.at(0.0, frame("start_node", "n1", 0, run="A"), frame("start_node", "n1", 0, run="B"))
    live.state.clear("A")
    assert list(live.store()) == ["B"]


def test_pipeline_eviction_beyond_max_runs_drops_the_oldest_runs_records():
    """With max_runs 2 a third run evicts the first run's records whole."""
    live = Live(config=Config(max_runs=2))
    for i, run in enumerate(("A", "B", "C")):
        live.at(float(i), frame("start_node", "n1", 0, run=run))
    assert list(live.store()) == ["B", "C"]


def test_pipeline_missing_order_falls_back_per_run():
    """Frames without ``order`` get their position within their own run."""
    live = Live()
    live.at(0.0, frame("start_node", "n1", None, run="A"), frame("start_node", "n2", None, run="A"))
    live.at(0.1, frame("start_node", "n1", None, run="B"))
    store = live.store()
    assert [(r["id"], r["order"]) for r in store["A"]] == [("n1-0", 0), ("n2-1", 1)]
    assert [(r["id"], r["order"]) for r in store["B"]] == [("n1-0", 0)]


def test_a_node_the_graph_lacks_takes_the_handle_and_type_its_protocol_announced():
    """NodeAnnounced names a node for its run (Agno learns its steps from the stream): the
    badge takes that handle and type; a node the graph knows keeps the graph's; another run
    learns nothing from it; the run keeps the names through its end."""
    state, _ = feed(
        [
            NodeAnnounced("r1", "wf:step", None, "step", "Step"),
            NodeAnnounced("r1", "n1", None, "other", "Other"),
            ev("start_node", "wf:step", 0),
            ev("start_node", "n1", 1),
            ev("start_node", "wf:step", 0, run="r2"),
            ev("run_end"),
            ev("end_node", "wf:step", 0, "success"),
        ]
    )
    assert (record(state, "wf:step", 0).handle, record(state, "wf:step", 0).type) == (
        "step",
        "Step",
    )
    assert record(state, "wf:step", 0).status == "success"
    assert (record(state, "n1", 1).handle, record(state, "n1", 1).type) == ("fetch", "HttpRequest")
    assert record(state, "wf:step", 0, run="r2").handle is None


def test_a_badge_with_notes_is_still_a_hashable_record() -> None:
    """Badges (and node events) carry a dict of notes, yet stay hashable values that hosts
    may put in sets or count, as before the notes came."""
    from collections import Counter

    from flowrx.concerns.store import Badge
    from flowrx.messages import ExecutionEvent

    noted = Badge("n", "r", 0, "success", notes={"step_index": [1, 0]})
    assert Counter([noted, Badge("n", "r", 0, "success", notes={"step_index": [1, 0]})]) == {
        noted: 2
    }
    event = ExecutionEvent("end_node", "r", "n", 0, "error", inferred="why", notes={"x": [1]})
    assert event in {event}
