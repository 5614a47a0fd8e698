"""Interaction concern (behaviour §6): pauses, OAuth prompts, resolution and scoping per run.

Frames are written inline as the platform sends them (``wire-protocol.md``): execution frames,
Agno ``RunPaused``/``RunContinued`` relayed with every field, the platform's ``AgentPaused``
and ``interaction_event``. The pure reducer is tested on parsed frames; a few tests run the
whole pipeline in virtual time.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from flowrx.concerns.effects import Change
from flowrx.concerns.interaction import (
    InteractionState,
    interaction_concern,
    interaction_section,
    reduce_interaction,
)
from flowrx.config import Config
from flowrx.graph import graph_from_mapping
from flowrx.messages import ClearRun, Evict, ResolveInteraction, parse
from flowrx.pipeline import default_concerns
from flowrx.testing import Driver, fold

FLOW = "11111111-0000-4000-8000-000000000000"
OTHER_FLOW = "22222222-0000-4000-8000-000000000000"
RUN = "0e000000-0000-4000-8000-000000000001"
RUN2 = "0e000000-0000-4000-8000-000000000002"
AGENT = "b0000000-0000-4000-8000-000000000002"
AGENT2 = "b0000000-0000-4000-8000-000000000003"
GRAPH = graph_from_mapping(
    {
        "flowrx": "flow/1",
        "flow_id": FLOW,
        "nodes": [
            {"id": AGENT, "handle": "agent", "path": "nodes.agent.Agent"},
            {"id": AGENT2, "handle": "agent2", "path": "nodes.agent.Agent"},
        ],
    }
)

# --- frames, as the platform sends them --------------------------------------------------------


def execution(
    event: str,
    run: str = RUN,
    node: str | None = None,
    order: int = -1,
    status: str = "running",
    flow: str = FLOW,
) -> dict[str, Any]:
    """A node-runner frame."""
    return {
        "flow_id": flow,
        "run_id": run,
        "node_id": node,
        "event": event,
        "order": order,
        "status": status,
    }


def tool_execution(name: str, args: dict[str, Any], **flags: Any) -> dict[str, Any]:
    """An Agno ``ToolExecution`` serialised with all its fields (flags overridden)."""
    tool: dict[str, Any] = {
        "tool_call_id": f"call_{name}",
        "tool_name": name,
        "tool_args": args,
        "tool_call_error": None,
        "result": None,
        "metrics": None,
        "child_run_id": None,
        "stop_after_tool_call": False,
        "created_at": 1795818775,
        "requires_confirmation": None,
        "confirmed": None,
        "confirmation_note": None,
        "requires_user_input": None,
        "user_input_schema": None,
        "answered": None,
        "external_execution_required": None,
    }
    tool.update(flags)
    return tool


def agno(event: str, seq: int, run: str = RUN, **fields: Any) -> dict[str, Any]:
    """An Agno run event as the relay forwards it (no node: the relay sends pauses so)."""
    frame: dict[str, Any] = {
        "created_at": 1795818775,
        "event": event,
        "agent_id": AGENT,
        "agent_name": "harness agent",
        "run_id": run,
        "parent_run_id": None,
        "session_id": "849d",
        "content": None,
        "tools": None,
        "node_id": None,
        "sequence_id": seq,
        "microtime": 1795818775.0 + seq / 100,
        "message_id": f"msg_{run}_{seq}",
        "agent_role": "single",
        "is_member_agent": False,
    }
    frame.update(fields)
    return frame


def run_paused(tools: list[dict[str, Any]], seq: int = 5, run: str = RUN) -> dict[str, Any]:
    """Agno's ``RunPaused`` with its tools."""
    return agno("RunPaused", seq, run, tools=tools, requirements=None)


def agent_paused(
    pause_type: str,
    message: str | None,
    tools: list[dict[str, Any]],
    run: str = RUN,
    node: str | None = AGENT,
    **pause_data: Any,
) -> dict[str, Any]:
    """The platform's ``AgentPaused``."""
    return {
        "event": "AgentPaused",
        "run_id": run,
        "node_id": node,
        "pause_type": pause_type,
        "pause_message": message,
        "pause_data": {"tools": tools, **pause_data},
    }


def interaction(
    interaction_type: str,
    data: dict[str, Any],
    run: str = RUN,
    node: str | None = AGENT,
    flow: str | None = FLOW,
) -> dict[str, Any]:
    """The platform's ``interaction_event`` (no ``event`` key)."""
    return {
        "type": "interaction_event",
        "flow_id": flow,
        "run_id": run,
        "node_id": node,
        "interaction_type": interaction_type,
        "data": data,
        "tenant_id": "t1",
        "user_id": "u1",
    }


OAUTH = {
    "service_name": "Google",
    "auth_url": "https://accounts.example/o/oauth2/auth?x=1",
    "redirect_uri": "https://app.example/oauth/callback",
    "state": "st-1",
}
DELETE = tool_execution("delete_file", {"path": "/tmp/x"}, requires_confirmation=True)
DELETE_SHORT = {"tool_name": "delete_file", "tool_args": {"path": "/tmp/x"}}


# --- the pure reducer --------------------------------------------------------------------------


def feed(
    items: list[Any], state: InteractionState | None = None, flow_id: str | None = FLOW
) -> tuple[InteractionState, list[Change]]:
    """Run the reducer over frames (parsed here) and control messages; return state and changes."""
    state, effects = fold(
        lambda s, m, n: reduce_interaction(s, m, n, flow_id),
        (
            (float(i), parse(json.dumps(item)) if isinstance(item, dict) else item)
            for i, item in enumerate(items)
        ),
        state or InteractionState(),
    )
    return state, [e for e in effects if isinstance(e, Change)]


def pending(state: InteractionState) -> list[dict[str, Any]]:
    """The section's pending items."""
    return list(interaction_section(state)["pending"])


def test_run_paused_then_agent_paused_is_one_pause_with_the_platforms_details() -> None:
    """RunPaused (no node) then AgentPaused: one pending pause, AgentPaused's node and details."""
    state, changes = feed(
        [
            execution("run_start"),
            run_paused([tool_execution("say_hello", {}, result="hello"), DELETE]),
            agent_paused("confirmation", "Confirm deleting /tmp/x?", [DELETE_SHORT]),
        ]
    )
    assert pending(state) == [
        {
            "id": f"pause:{RUN}:-:1",
            "run_id": RUN,
            "node_id": AGENT,
            "kind": "pause",
            "detail": {
                "pause_type": "confirmation",
                "message": "Confirm deleting /tmp/x?",
                "tools": [DELETE_SHORT],
            },
        }
    ]
    assert [(c.what, c.value) for c in changes] == [("pending", f"pause:{RUN}:-:1")] * 2


def test_agent_paused_details_win_when_run_paused_comes_second() -> None:
    """AgentPaused first, then RunPaused: still one pause, the platform's details unchanged."""
    state, changes = feed(
        [
            agent_paused("confirmation", "Confirm deleting /tmp/x?", [DELETE_SHORT]),
            run_paused([DELETE]),
        ]
    )
    [item] = pending(state)
    assert item["id"] == f"pause:{RUN}:{AGENT}:1"
    assert item["node_id"] == AGENT
    assert item["detail"]["message"] == "Confirm deleting /tmp/x?"
    assert len(changes) == 1  # the merge changed nothing visible


def test_resume_start_resolves_the_confirmation_pause() -> None:
    """resume_start of the run resolves its pause: nothing pending, resolved 1."""
    state, changes = feed(
        [
            execution("run_start"),
            run_paused([DELETE]),
            agent_paused("confirmation", "Confirm deleting /tmp/x?", [DELETE_SHORT]),
            execution("resume_start"),
        ]
    )
    assert interaction_section(state) == {"pending": [], "resolved": 1}
    assert changes[-1] == Change("interaction", "resolved", RUN, AGENT, f"pause:{RUN}:-:1")


def test_run_paused_alone_derives_a_confirmation_from_the_tool_flags() -> None:
    """A lone RunPaused: confirmation from requires_confirmation, only the waiting tool listed."""
    done = tool_execution("say_hello", {"name": "x"}, result="hello")
    state, _ = feed([run_paused([done, DELETE])])
    [item] = pending(state)
    assert item["node_id"] is None
    assert item["detail"] == {
        "pause_type": "confirmation",
        "message": None,
        "tools": [DELETE_SHORT],
    }


def test_user_input_pause_carries_the_field_schema() -> None:
    """AgentPaused user_input: the schema from pause_data, beside the tools."""
    schema = [{"name": "city", "description": "Which city?", "type": "str", "required": True}]
    tool = {"tool_name": "get_weather", "tool_args": {}}
    state, _ = feed([agent_paused("user_input", "Need a city", [tool], schema=schema)])
    [item] = pending(state)
    assert item["detail"] == {
        "pause_type": "user_input",
        "message": "Need a city",
        "tools": [tool],
        "schema": schema,
    }


def test_run_paused_user_input_takes_the_schema_from_its_tools() -> None:
    """RunPaused with requires_user_input: pause_type user_input, schema from user_input_schema."""
    fields = [{"name": "city", "field_type": "str", "description": "Which city?", "value": None}]
    tool = tool_execution("get_weather", {}, requires_user_input=True, user_input_schema=fields)
    state, _ = feed([run_paused([tool])])
    detail = pending(state)[0]["detail"]
    assert detail["pause_type"] == "user_input"
    assert detail["schema"] == fields
    assert detail["tools"] == [{"tool_name": "get_weather", "tool_args": {}}]


def test_external_tool_pause_from_either_frame() -> None:
    """external_execution_required gives an external_tool pause; AgentPaused says the same."""
    tool = tool_execution("run_query", {"sql": "select 1"}, external_execution_required=True)
    state, _ = feed([run_paused([tool])])
    assert pending(state)[0]["detail"]["pause_type"] == "external_tool"
    assert "schema" not in pending(state)[0]["detail"]
    state, _ = feed([agent_paused("external_tool", None, [])])
    assert pending(state)[0]["detail"]["pause_type"] == "external_tool"


def test_pause_without_flags_or_with_an_unknown_type_is_unknown() -> None:
    """No flag on any tool, or a pause_type outside the four: the pause is ``unknown``."""
    state, _ = feed([run_paused([tool_execution("noop", {})])])
    assert pending(state)[0]["detail"]["pause_type"] == "unknown"
    state, _ = feed([agent_paused("approval", "?", [])])
    assert pending(state)[0]["detail"]["pause_type"] == "unknown"


def test_team_run_paused_is_a_pause_too() -> None:
    """A team leader's TeamRunPaused is a pending pause like RunPaused."""
    state, _ = feed([agno("TeamRunPaused", 3, tools=[DELETE])])
    assert pending(state)[0]["kind"] == "pause"


def test_two_nodes_paused_in_one_run_stay_two_pauses() -> None:
    """Two agents of one run paused at once, each frame pair merges into its own pause."""
    other = {"tool_name": "send_mail", "tool_args": {"to": "a@b"}}
    state, _ = feed(
        [
            run_paused([DELETE], seq=5),
            agent_paused("confirmation", "Delete?", [DELETE_SHORT], node=AGENT),
            run_paused([DELETE], seq=6),
            agent_paused("confirmation", "Send?", [other], node=AGENT2),
        ]
    )
    items = pending(state)
    assert [(i["node_id"], i["detail"]["message"]) for i in items] == [
        (AGENT, "Delete?"),
        (AGENT2, "Send?"),
    ]
    assert len({i["id"] for i in items}) == 2


def test_oauth_prompt_is_pending_with_its_four_fields() -> None:
    """An oauth_authorization_required interaction: a pending oauth item, missing keys None."""
    state, changes = feed([interaction("oauth_authorization_required", OAUTH)])
    assert pending(state) == [
        {
            "id": f"oauth:{RUN}:st-1",
            "run_id": RUN,
            "node_id": AGENT,
            "kind": "oauth",
            "detail": OAUTH,
        }
    ]
    assert changes == [Change("interaction", "pending", RUN, AGENT, f"oauth:{RUN}:st-1")]
    state, _ = feed([interaction("oauth_authorization_required", {"service_name": "Slack"})])
    [item] = pending(state)
    assert item["id"] == f"oauth:{RUN}:1"
    assert item["detail"] == {
        "service_name": "Slack",
        "auth_url": None,
        "redirect_uri": None,
        "state": None,
    }


def test_the_same_oauth_prompt_twice_is_one_item() -> None:
    """A repeated prompt (same run and state) updates the item instead of adding one."""
    again = {**OAUTH, "auth_url": "https://accounts.example/o/oauth2/auth?x=2"}
    state, changes = feed(
        [
            interaction("oauth_authorization_required", OAUTH),
            interaction("oauth_authorization_required", again),
        ]
    )
    [item] = pending(state)
    assert item["detail"]["auth_url"].endswith("x=2")
    assert [c.what for c in changes] == ["pending", "pending"]


def test_other_interaction_types_are_kept_generic() -> None:
    """An interaction type other than OAuth: kind other, its type and data as the detail."""
    state, _ = feed([interaction("approval_required", {"question": "Ship it?", "level": 2})])
    assert pending(state) == [
        {
            "id": f"other:{RUN}:{AGENT}:1",
            "run_id": RUN,
            "node_id": AGENT,
            "kind": "other",
            "detail": {"interaction_type": "approval_required", "question": "Ship it?", "level": 2},
        }
    ]


def test_run_end_drops_the_pending_items_without_resolving_them() -> None:
    """run_end of the run drops its pause and prompt: resolved stays 0, two dropped changes."""
    state, changes = feed(
        [
            execution("run_start"),
            agent_paused("confirmation", "Delete?", [DELETE_SHORT]),
            interaction("oauth_authorization_required", OAUTH),
            execution("run_end"),
        ]
    )
    assert interaction_section(state) == {"pending": [], "resolved": 0}
    assert [c.what for c in changes] == ["pending", "pending", "dropped", "dropped"]


def test_resume_end_drops_a_pause_of_the_resumed_run() -> None:
    """A pause raised after a resume and still pending at resume_end is dropped."""
    state, changes = feed(
        [
            agent_paused("confirmation", "Delete?", [DELETE_SHORT]),
            execution("resume_start"),
            agent_paused("confirmation", "Delete again?", [DELETE_SHORT]),
            execution("resume_end"),
        ]
    )
    assert interaction_section(state) == {"pending": [], "resolved": 1}
    assert [c.what for c in changes] == ["pending", "resolved", "pending", "dropped"]
    assert changes[2].value == f"pause:{RUN}:{AGENT}:2"  # a fresh id for the second pause


def test_a_pause_after_run_end_is_late_and_ignored() -> None:
    """A pause frame of an ended, not resumed, run is ignored (it would never be dropped)."""
    state, changes = feed(
        [execution("run_end"), agent_paused("confirmation", "Delete?", [DELETE_SHORT])]
    )
    assert pending(state) == []
    assert state.late == 1
    assert changes == []


def test_run_continued_resolves_every_pending_item_of_its_run() -> None:
    """Agno's RunContinued resolves the run's pause and prompt together."""
    state, changes = feed(
        [
            run_paused([DELETE]),
            interaction("oauth_authorization_required", OAUTH),
            agno("RunContinued", 9),
        ]
    )
    assert interaction_section(state) == {"pending": [], "resolved": 2}
    assert [c.what for c in changes[-2:]] == ["resolved", "resolved"]


def test_resuming_one_run_leaves_another_runs_pause_pending() -> None:
    """Defect 23: two runs paused at once; resume_start of one resolves only its own items."""
    state, _ = feed(
        [
            execution("run_start", RUN),
            execution("run_start", RUN2),
            run_paused([DELETE], run=RUN),
            agent_paused("confirmation", "Delete?", [DELETE_SHORT], run=RUN),
            run_paused([DELETE], run=RUN2),
            agent_paused("confirmation", "Delete too?", [DELETE_SHORT], run=RUN2),
            execution("resume_start", RUN),
            agno("RunContinued", 9, run=RUN),
        ]
    )
    section = interaction_section(state)
    assert section["resolved"] == 1
    assert [(i["run_id"], i["detail"]["message"]) for i in section["pending"]] == [
        (RUN2, "Delete too?")
    ]


def test_host_resolves_one_item_by_id_and_unknown_ids_are_ignored() -> None:
    """ResolveInteraction resolves just its item; an unknown id or another run changes nothing."""
    state, _ = feed(
        [
            agent_paused("confirmation", "Delete?", [DELETE_SHORT]),
            interaction("oauth_authorization_required", OAUTH),
        ]
    )
    oauth_id = f"oauth:{RUN}:st-1"
    same, changes = feed([ResolveInteraction("nope"), ResolveInteraction(oauth_id, RUN2)], state)
    assert same == state
    assert changes == []
    state, changes = feed([ResolveInteraction(oauth_id)], state)
    assert [i["kind"] for i in pending(state)] == ["pause"]
    assert state.resolved == 1
    assert changes == [Change("interaction", "resolved", RUN, AGENT, oauth_id)]


def test_interaction_event_of_another_flow_is_ignored() -> None:
    """An interaction_event whose flow_id is not the graph's flow is ignored and counted."""
    state, changes = feed(
        [interaction("oauth_authorization_required", OAUTH, flow=OTHER_FLOW)], flow_id=FLOW
    )
    assert pending(state) == []
    assert state.foreign == 1
    assert changes == []


def test_without_a_graph_flow_the_runs_execution_frames_give_the_flow() -> None:
    """No graph flow id: the run's own execution frames name its flow; a stranger is ignored."""
    frames = [
        execution("run_start", flow=FLOW),
        interaction("oauth_authorization_required", OAUTH, flow=OTHER_FLOW),
        interaction("oauth_authorization_required", {**OAUTH, "state": "st-2"}, flow=FLOW),
        interaction("oauth_authorization_required", {**OAUTH, "state": "st-3"}, flow=None),
    ]
    state, _ = feed(frames, flow_id=None)
    assert [i["detail"]["state"] for i in pending(state)] == ["st-2", "st-3"]
    assert state.foreign == 1


def test_evict_drops_the_run_and_everything_kept_about_it() -> None:
    """Evict drops the run's pending items (not resolved) and its per-run bookkeeping."""
    state, changes = feed(
        [
            execution("run_start", RUN),
            agent_paused("confirmation", "Delete?", [DELETE_SHORT], run=RUN),
            agent_paused("confirmation", "Other run", [DELETE_SHORT], run=RUN2),
            Evict(RUN),
        ],
        flow_id=None,
    )
    assert [i["run_id"] for i in pending(state)] == [RUN2]
    assert state.resolved == 0
    assert changes[-1] == Change("interaction", "dropped", RUN, AGENT, f"pause:{RUN}:{AGENT}:1")
    assert RUN not in state.flows
    assert RUN not in state.issued


def test_ids_with_quotes_backslashes_and_markup_are_data() -> None:
    """Run and node ids with quotes, backslashes and markup are kept as is and resolve by id."""
    run = 'r"1\\<b>x</b>'
    node = "n'2\"\\"
    state, _ = feed(
        [
            agent_paused("confirmation", "Delete?", [DELETE_SHORT], run=run, node=node),
            interaction("approval_required", {}, run=run, node=node),
        ]
    )
    ids = [i["id"] for i in pending(state)]
    assert ids == [f"pause:{run}:{node}:1", f"other:{run}:{node}:2"]
    assert pending(state)[0]["run_id"] == run
    state, _ = feed([ResolveInteraction(ids[0])], state)
    assert [i["id"] for i in pending(state)] == [ids[1]]
    assert json.loads(json.dumps(interaction_section(state)))["pending"][0]["node_id"] == node


def test_the_section_has_exactly_the_snapshot_keys_and_is_a_copy() -> None:
    """Section keys are those of snapshot/1; mutating the section never touches the state."""
    state, _ = feed([agent_paused("confirmation", "Delete?", [DELETE_SHORT])])
    section = interaction_section(state)
    assert set(section) == {"pending", "resolved"}
    assert set(section["pending"][0]) == {"id", "run_id", "node_id", "kind", "detail"}
    section["pending"][0]["detail"]["tools"][0]["tool_args"]["path"] = "/etc"
    assert pending(state)[0]["detail"]["tools"][0]["tool_args"] == {"path": "/tmp/x"}


def test_the_card_routes_only_what_the_concern_uses() -> None:
    """accepts: pauses, continues, prompts, run events, host resolves and evictions."""
    card = interaction_concern(GRAPH)
    assert card.name == "interaction"
    takes = [
        parse(json.dumps(f))
        for f in (
            run_paused([DELETE]),
            agno("RunContinued", 9),
            agno("TeamRunContinued", 10),
            agent_paused("confirmation", None, []),
            interaction("x", {}),
            execution("resume_start"),
            execution("run_end"),
            execution("resume_end"),
        )
    ]
    assert all(card.accepts(m) for m in takes)  # type: ignore[arg-type]
    assert card.accepts(ResolveInteraction("x"))
    assert card.accepts(Evict(RUN))
    skips = [
        parse(json.dumps(f))
        for f in (agno("RunContent", 4, content="hi"), execution("start_node", node=AGENT))
    ]
    assert not any(card.accepts(m) for m in skips)  # type: ignore[arg-type]
    # without a graph flow id, execution frames teach the run's flow
    learner = interaction_concern()
    assert learner.accepts(parse(json.dumps(execution("start_node", node=AGENT))))  # type: ignore[arg-type]


# --- through the pipeline ----------------------------------------------------------------------


class Live(Driver):
    """The pipeline with the interaction concern, on a virtual clock, fed through a subject."""

    def __init__(self, **kwargs: Any) -> None:
        cards = default_concerns(GRAPH, Config())  # interaction is one of them
        super().__init__(graph=GRAPH, concerns=cards, **kwargs)

    def section(self) -> dict[str, Any]:
        """The interaction section of the snapshot."""
        return dict(self.state.snapshot()["interaction"])


PAUSE_STREAM: list[tuple[float, dict[str, Any]]] = [
    (0.0, execution("run_start")),
    (0.1, execution("start_node", node=AGENT, order=0)),
    (0.2, agno("RunStarted", 1)),
    (0.3, run_paused([DELETE], seq=2)),
    (0.3, agent_paused("confirmation", "Confirm deleting /tmp/x?", [DELETE_SHORT])),
    (0.4, execution("end_node", node=AGENT, order=0, status="success")),
    (2.0, execution("resume_start")),
    (2.1, execution("start_node", node=AGENT, order=0)),
    (2.2, agno("RunContinued", 1)),
    (2.3, execution("end_node", node=AGENT, order=0, status="success")),
    (2.4, execution("resume_end")),
]


def play(live: Live, until: float | None = None) -> None:
    """Push PAUSE_STREAM up to ``until`` (all of it by default), then run the clock there."""
    for t, frame in PAUSE_STREAM:
        if until is not None and t > until:
            break
        live.at(t, frame)
    live.clock.run(until=until)


def test_pipeline_shows_one_confirmation_pause_until_resume_start() -> None:
    """Through the pipeline: one pending pause while paused, resolved by resume_start."""
    live = Live()
    play(live, until=1.0)
    section = live.section()
    assert [(i["kind"], i["node_id"], i["detail"]["pause_type"]) for i in section["pending"]] == [
        ("pause", AGENT, "confirmation")
    ]
    assert live.state.snapshot()["lifecycle"]["runs"][RUN]["status"] == "paused"
    live = Live()
    play(live)
    assert live.section() == {"pending": [], "resolved": 1}


def test_host_resolves_an_oauth_prompt_through_the_state_handle() -> None:
    """FlowState.resolve(id) sends ResolveInteraction through the stream: the prompt resolves."""
    live = Live()
    seen: list[Change] = []
    live.state.add_sink(seen.append)
    live.at(0.0, execution("run_start"), execution("start_node", node=AGENT, order=0))
    live.at(0.5, interaction("oauth_authorization_required", OAUTH))
    [item] = live.section()["pending"]
    assert item["kind"] == "oauth"
    assert item["detail"]["service_name"] == "Google"
    live.state.resolve(item["id"])
    live.clock.run(until=1.0)
    assert live.section() == {"pending": [], "resolved": 1}
    assert [c.what for c in seen if c.concern == "interaction"] == ["pending", "resolved"]


def test_host_resolves_an_id_full_of_quotes_through_the_pipeline() -> None:
    """A run id with quotes and markup survives intake, the section and the host's resolve."""
    run = 'r"<script>\\'
    live = Live()
    live.at(0.0, execution("run_start", run))
    live.at(0.1, agent_paused("confirmation", "Delete?", [DELETE_SHORT], run=run))
    [item] = live.section()["pending"]
    assert item["run_id"] == run
    live.state.resolve(item["id"])
    live.clock.run(until=1.0)
    assert live.section() == {"pending": [], "resolved": 1}


def test_pipeline_ignores_an_interaction_of_another_flow() -> None:
    """An interaction_event for another flow version on the socket is ignored."""
    live = Live()
    live.at(0.0, execution("run_start"))
    live.at(0.1, interaction("oauth_authorization_required", OAUTH, flow=OTHER_FLOW))
    assert live.section() == {"pending": [], "resolved": 0}


def test_clearing_a_run_drops_its_pending_interactions() -> None:
    """The host's clear evicts the run from every concern, its pending pause included."""
    live = Live()
    live.at(0.0, execution("run_start"))
    live.at(0.1, agent_paused("confirmation", "Delete?", [DELETE_SHORT]))
    live.state.send(ClearRun(RUN))
    live.clock.run(until=1.0)
    assert live.section() == {"pending": [], "resolved": 0}


@pytest.mark.parametrize("until", [1.0, None])
def test_a_failing_interaction_concern_leaves_the_other_sections_identical(
    until: float | None,
) -> None:
    """Isolation: faults on every interaction event leave every other section as a clean run."""
    clean, faulty = Live(), Live(faults={"interaction": 1.0})
    play(clean, until)
    play(faulty, until)
    a, b = clean.state.snapshot(), faulty.state.snapshot()
    assert a["interaction"]["pending"] or a["interaction"]["resolved"]
    assert b["interaction"] == {"pending": [], "resolved": 0}
    for section in ("visual", "store", "lifecycle", "tool", "chat", "group", "surface"):
        assert a[section] == b[section], section
    failed = b["diagnostics"]["failed"]
    assert failed["interaction"] > 0
    assert all(n == 0 for name, n in failed.items() if name != "interaction")
