"""Cards are the only registry: a ninth concern, or a second wire format, is one card."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from reactivex.subject import Subject

from flowrx import Config, FlowGraph, VirtualClock, connect, dump_snapshot
from flowrx.concerns.effects import Change, Concern, Effect, Input
from flowrx.messages import ExecutionEvent, Message
from flowrx.pipeline import default_concerns
from flowrx.protocols.card import Notice, Protocol
from flowrx.testing import exec_frame, run_marbles

FRAMES = {
    "r": exec_frame("run_start"),
    "a": exec_frame("start_node", "n1", 0),
    "b": exec_frame("start_node", "n2", 1),
    "e": exec_frame("end_node", "n1", 0, "success"),
}


# --- a ninth concern, in a few lines ---------------------------------------------------------
@attrs.frozen
class Seen:
    """Nodes started per run."""

    starts: tuple[tuple[str, str], ...] = ()


def reduce_seen(state: Seen, msg: Input, now: float) -> tuple[Seen, tuple[Effect, ...]]:
    """Remember every started node; say so as a change."""
    assert isinstance(msg, ExecutionEvent)
    assert msg.node_id is not None
    started = (*state.starts, (msg.run_id, msg.node_id))
    return Seen(started), (Change("seen", "started", msg.run_id, msg.node_id, len(started)),)


def starts_only(msg: Message) -> bool:
    """The messages the concern takes."""
    return isinstance(msg, ExecutionEvent) and msg.event == "start_node"


SEEN = Concern(
    name="seen",
    initial=Seen(),
    reduce=reduce_seen,
    accepts=starts_only,
    section=lambda s: [node for _, node in s.starts],
    counters=lambda s: {"nodes_seen": len(s.starts)},
    surface=lambda s: {node: ["seen"] for _, node in s.starts},
)
# ----------------------------------------------------------------------------------------------


def _cards() -> list[Concern[Any]]:
    return [*default_concerns(FlowGraph.empty(), Config()), SEEN]


def test_a_ninth_concern_finds_its_section_counters_surface_failures_and_health() -> None:
    """The snapshot holds the new card's section, counter, surface classes, failures, health."""
    t = run_marbles("rab-e", FRAMES, concerns=_cards())
    snap = t.at(1.0)
    assert snap["seen"] == ["n1", "n2"]
    assert snap["diagnostics"]["nodes_seen"] == 2
    assert "seen" in snap["surface"]["n2"]
    assert "executing" in snap["surface"]["n2"]
    assert snap["diagnostics"]["failed"]["seen"] == 0
    assert snap["diagnostics"]["health"]["seen"] == "ok"
    assert [c.value for _, c in t.effects("seen", "started")] == [1, 2]
    assert '"seen": [' in dump_snapshot(snap)


def test_a_ninth_concern_can_be_faulted_and_the_eight_are_untouched() -> None:
    """Fault injection finds the new card by name; every other section equals a clean run."""
    clean = run_marbles("rab-e", FRAMES, concerns=_cards()).finish()
    faulty = run_marbles("rab-e", FRAMES, concerns=_cards(), faults={"seen": 1.0}).finish()
    assert faulty["diagnostics"]["failed"]["seen"] == 2
    assert faulty["seen"] == []
    for card in default_concerns(FlowGraph.empty(), Config()):
        assert faulty[card.name] == clean[card.name], card.name
        assert faulty["diagnostics"]["failed"][card.name] == 0


def test_a_pipeline_of_chosen_concerns_shows_exactly_their_sections() -> None:
    """The snapshot iterates the pipeline's cards: no section, counter or health of another."""
    snap = run_marbles("rab", FRAMES, concerns=[SEEN]).finish()
    assert set(snap) == {"schema", "protocol", "clock", "seen", "surface", "diagnostics"}
    assert snap["surface"] == {"n1": ["seen"], "n2": ["seen"]}
    assert set(snap["diagnostics"]["failed"]) == {"seen"}
    assert "orphan_tool_end" not in snap["diagnostics"]


def test_a_surface_over_another_concern_replaces_its_classes_on_the_nodes_it_covers() -> None:
    """A card with ``surface_over`` hides the named concern's classes on its own nodes only."""
    over = attrs.evolve(
        SEEN, name="over", surface=lambda s: {"n1": ["covered"]}, surface_over=("seen",)
    )
    snap = run_marbles("rab", FRAMES, concerns=[SEEN, over]).finish()
    assert snap["surface"] == {"n1": ["covered"], "n2": ["seen"]}


# --- a second wire format, in a few lines ----------------------------------------------------
def reduce_lines(
    count: int, item: object, now: float, config: Config
) -> tuple[int, tuple[Message | Notice, ...]]:
    """``"<event> <node>"`` text lines as execution events of run ``r``; anything else rejected."""
    parts = item.split() if isinstance(item, str) else []
    if len(parts) != 2:
        return count + 1, (Notice("rejected", f"not a line: {item!r}"),)
    event, node = parts
    status = "success" if event == "end_node" else "running"
    return count + 1, (ExecutionEvent(event, "r", node, 0, status),)


LINES = Protocol(
    name="lines",
    initial=0,
    reduce=reduce_lines,
    counters=lambda count: {"frames": count},
    rejected=lambda count: count + 1,
)
# ----------------------------------------------------------------------------------------------


def test_a_new_protocol_is_one_card_and_every_concern_reads_it() -> None:
    """A toy wire format's messages glow, badge and count like the platform's."""
    clock = VirtualClock()
    frames: Subject[object] = Subject()
    state, _ = connect(frames, scheduler=clock, protocol=LINES)
    frames.on_next("start_node n1")
    frames.on_next(b"\xff")
    clock.run(until=0.1)
    frames.on_next("end_node n1")
    snap = state.snapshot()
    assert snap["visual"] == {"n1": ["executing"]}
    assert [e["status"] for e in snap["store"]["r"]] == ["success"]
    assert snap["diagnostics"]["frames"] == 3
    clock.run(until=1.0)
    assert state.snapshot()["visual"] == {"n1": ["executed-success"]}


def test_an_unknown_protocol_name_is_refused_with_the_known_ones() -> None:
    """``connect(..., protocol="nope")`` says which protocols exist."""
    with pytest.raises(
        ValueError, match=r"no such protocol: 'nope' \(known: agno, agui, platform\)"
    ):
        connect(Subject(), scheduler=VirtualClock(), protocol="nope")
